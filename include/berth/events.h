/* The in-process event bus behind GET /events.
 *
 * Modules publish events; the bus keeps the most recent ones in a ring (for
 * `since`) and hands each to every subscriber's bounded queue. A subscriber
 * that falls too far behind is told (overflow callback) and must unsubscribe:
 * events are never skipped silently. Loop thread only. */
#ifndef BERTH_EVENTS_H
#define BERTH_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/kv.h"

struct bt_filters;

#define BT_EVENTS_RING_DEFAULT 1024  /* dockerd keeps 256 */
#define BT_EVENTS_QUEUE_DEFAULT 4096 /* per subscriber, >= the ring so a replay fits */

/* Immutable once published; shared by the ring and the queues (refcounted). */
struct bt_event {
    unsigned refs;
    char *type;     /* container, image, network, volume, daemon, plugin */
    char *action;   /* "start", "die", "exec_start: sh -c ls", "reload" ... */
    char *actor_id; /* container id, image ref, network id, volume name, daemon id */
    struct bt_kv *attrs;
    size_t n_attrs;
    char *scope;       /* "local" */
    int64_t time_nano; /* wall clock, ns since the epoch */
};

struct bt_event *bt_event_ref(struct bt_event *e);
/* Drops one reference, frees on the last; accepts NULL. */
void bt_event_unref(struct bt_event *e);
/* Docker's events filter (moby daemon/events/filter.go): type, event,
 * container, image, label, network, volume, daemon, plugin, scope (and swarm's
 * node, service, secret, config, which work like container). Different
 * keys AND, values under one key OR. As in dockerd, a name key such as
 * `container` is tested against every event's actor ID (exact or prefix) and
 * "name" attribute, so in practice it keeps only that kind of event. NULL or
 * empty f matches everything; keys it does not know are ignored. */
bool bt_event_matches(const struct bt_event *e, const struct bt_filters *f);
/* The keys bt_event_matches understands, NULL-terminated. dockerd 20.10 does
 * not reject other keys on GET /events (it ignores them); a stricter caller
 * can pass this to bt_filters_validate. */
extern const char *const bt_event_filter_keys[];

struct bt_events;
struct bt_events_sub;

/* A new event is in sub's queue (called from bt_events_publish). */
typedef void (*bt_events_notify_fn)(struct bt_events_sub *sub, void *userdata);
/* sub's queue was full: the event was not queued. The owner must unsubscribe
 * (it may do so from inside this callback). */
typedef void (*bt_events_overflow_fn)(struct bt_events_sub *sub, void *userdata);

/* ring_size 0 means BT_EVENTS_RING_DEFAULT. NULL on ENOMEM. */
struct bt_events *bt_events_new(size_t ring_size);
/* Wall clock in ns since the epoch. */
typedef int64_t (*bt_events_clock_fn)(void);
/* Replace the bus's clock (CLOCK_REALTIME); NULL restores it. For tests. */
void bt_events_set_clock(struct bt_events *bus, bt_events_clock_fn clock);
/* Frees the ring and every subscriber still attached, without calling their
 * callbacks (shutdown). Accepts NULL. Not from inside a bus callback. */
void bt_events_free(struct bt_events *bus);

/* Publish one event stamped with the current time (CLOCK_REALTIME; strictly
 * increasing on this bus, bumped by 1 ns when the clock did not move); attrs
 * are copied. The event enters the ring, then each matching subscriber's
 * queue (notify) or, when that queue is full, its overflow callback. A publish
 * from inside a callback is delivered after the current one, so every
 * subscriber sees events in time order. Returns 0, or -ENOMEM: the event is
 * dropped and nobody saw it; the caller logs. */
int bt_events_publish(struct bt_events *bus, const char *type, const char *action,
                      const char *actor_id, const struct bt_kv *attrs, size_t n_attrs);

/* Subscribe with a filter (copied; NULL = everything). When since_nano >= 0,
 * the ring's events with time >= since_nano that match are queued first, in
 * order, without calling notify (check bt_events_sub_pending); the queue grows
 * past queue_max if that replay needs it. Events published later are queued
 * while they match. queue_max 0 means BT_EVENTS_QUEUE_DEFAULT. overflow is
 * called once, for the first event that finds the queue full; from then on
 * nothing more is queued (a gap must never look like a quiet stream). notify
 * and overflow must not be NULL. May be called from a callback: that
 * subscriber does not see the event being delivered (unless replayed).
 * NULL on ENOMEM. */
struct bt_events_sub *bt_events_subscribe(struct bt_events *bus, const struct bt_filters *f,
                                          int64_t since_nano, size_t queue_max,
                                          bt_events_notify_fn notify,
                                          bt_events_overflow_fn overflow, void *userdata);
/* Pop the oldest queued event (the caller owns the reference), NULL if empty. */
struct bt_event *bt_events_sub_next(struct bt_events_sub *sub);
size_t bt_events_sub_pending(const struct bt_events_sub *sub);
/* Detach and release the queued events; sub is invalid afterwards. Safe from
 * inside any bus callback, for that subscriber or another one (the memory is
 * then reclaimed when the outermost publish returns). Accepts NULL. */
void bt_events_unsubscribe(struct bt_events_sub *sub);
/* Subscribers attached (not counting unsubscribed ones awaiting reclaim). */
size_t bt_events_subscribers(const struct bt_events *bus);

#endif
