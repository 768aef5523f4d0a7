#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/events.h"
#include "berth/filters.h"

/* An event waiting to be handed to the subscribers (see bus_drain). */
struct pending {
    struct pending *next;
    struct bt_event *e; /* owns one reference */
};

struct bt_events_sub {
    struct bt_events *bus;
    struct bt_events_sub *prev, *next;
    struct bt_filters *filter; /* NULL = everything */
    struct bt_event **q;       /* ring of q_cap slots, each owning one reference */
    size_t q_cap, q_head, q_len;
    int64_t after_nano; /* live delivery only for events newer than this */
    bt_events_notify_fn notify;
    bt_events_overflow_fn overflow;
    void *userdata;
    bool overflowed; /* told once; nothing is queued afterwards */
    bool dead;       /* unsubscribed during delivery, reclaimed by bus_sweep */
};

struct bt_events {
    struct bt_event **ring; /* ring_size slots, ring_len used from ring_head */
    size_t ring_size, ring_head, ring_len;
    int64_t last_nano;
    bt_events_clock_fn clock;
    struct bt_events_sub *subs_head, *subs_tail; /* including dead ones */
    size_t n_subs;                               /* live ones */
    struct pending *pend_head, *pend_tail;
    bool delivering; /* a publish up the stack is running callbacks */
};

/* ---- events ---------------------------------------------------------------- */

struct bt_event *bt_event_ref(struct bt_event *e)
{
    e->refs++;
    return e;
}

static void event_free(struct bt_event *e)
{
    free(e->type);
    free(e->action);
    free(e->actor_id);
    bt_kv_free(e->attrs, e->n_attrs);
    free(e->scope);
    free(e);
}

void bt_event_unref(struct bt_event *e)
{
    if (e && --e->refs == 0)
        event_free(e);
}

static struct bt_event *event_new(const char *type, const char *action, const char *actor_id,
                                   const struct bt_kv *attrs, size_t n_attrs)
{
    struct bt_event *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    e->refs = 1;
    e->type = strdup(type);
    e->action = strdup(action);
    e->actor_id = strdup(actor_id ? actor_id : "");
    e->scope = strdup("local");
    e->attrs = bt_kv_dup(attrs, n_attrs);
    e->n_attrs = e->attrs ? n_attrs : 0;
    if (!e->type || !e->action || !e->actor_id || !e->scope || (n_attrs && !e->attrs)) {
        event_free(e);
        return NULL;
    }
    return e;
}

/* ---- the bus and its ring -------------------------------------------------- */

static int64_t clock_now_nano(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct bt_events *bt_events_new(size_t ring_size)
{
    struct bt_events *bus = calloc(1, sizeof(*bus));

    if (!bus)
        return NULL;
    bus->clock = clock_now_nano;
    bus->ring_size = ring_size ? ring_size : BT_EVENTS_RING_DEFAULT;
    bus->ring = calloc(bus->ring_size, sizeof(*bus->ring));
    if (!bus->ring) {
        free(bus);
        return NULL;
    }
    return bus;
}

static struct bt_event *ring_at(const struct bt_events *bus, size_t i)
{
    return bus->ring[(bus->ring_head + i) % bus->ring_size];
}

/* Takes the caller's reference; the oldest event falls out when the ring is full. */
static void ring_push_take(struct bt_events *bus, struct bt_event *e)
{
    if (bus->ring_len == bus->ring_size) {
        bt_event_unref(bus->ring[bus->ring_head]);
        bus->ring[bus->ring_head] = e;
        bus->ring_head = (bus->ring_head + 1) % bus->ring_size;
        return;
    }
    bus->ring[(bus->ring_head + bus->ring_len) % bus->ring_size] = e;
    bus->ring_len++;
}

void bt_events_set_clock(struct bt_events *bus, bt_events_clock_fn clock)
{
    bus->clock = clock ? clock : clock_now_nano;
}

/* Strictly increasing, so `since` replays and the live cut-off are exact. */
static int64_t bus_next_time(struct bt_events *bus)
{
    int64_t now = bus->clock();

    if (now <= bus->last_nano)
        now = bus->last_nano + 1;
    bus->last_nano = now;
    return now;
}

/* ---- subscriber queues ----------------------------------------------------- */

static void sub_queue_push(struct bt_events_sub *s, struct bt_event *e)
{
    s->q[(s->q_head + s->q_len) % s->q_cap] = bt_event_ref(e);
    s->q_len++;
}

struct bt_event *bt_events_sub_next(struct bt_events_sub *sub)
{
    struct bt_event *e;

    if (sub->q_len == 0)
        return NULL;
    e = sub->q[sub->q_head];
    sub->q[sub->q_head] = NULL;
    sub->q_head = (sub->q_head + 1) % sub->q_cap;
    sub->q_len--;
    return e;
}

size_t bt_events_sub_pending(const struct bt_events_sub *sub)
{
    return sub->q_len;
}

static void sub_release(struct bt_events_sub *s)
{
    while (s->q_len)
        bt_event_unref(bt_events_sub_next(s));
    free(s->q);
    s->q = NULL;
    s->q_cap = 0;
    bt_filters_free(s->filter);
    s->filter = NULL;
}

static void sub_unlink(struct bt_events_sub *s)
{
    struct bt_events *bus = s->bus;

    if (s->prev)
        s->prev->next = s->next;
    else
        bus->subs_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        bus->subs_tail = s->prev;
}

static void sub_link(struct bt_events_sub *s)
{
    struct bt_events *bus = s->bus;

    s->prev = bus->subs_tail;
    if (bus->subs_tail)
        bus->subs_tail->next = s;
    else
        bus->subs_head = s;
    bus->subs_tail = s;
}

/* ---- subscribe / unsubscribe ----------------------------------------------- */

static bool replay_wants(const struct bt_events_sub *s, const struct bt_event *e, int64_t since)
{
    return since >= 0 && e->time_nano >= since && bt_event_matches(e, s->filter);
}

static size_t replay_count(const struct bt_events *bus, const struct bt_events_sub *s, int64_t since)
{
    size_t n = 0;

    for (size_t i = 0; i < bus->ring_len; i++)
        n += replay_wants(s, ring_at(bus, i), since);
    return n;
}

static void replay(const struct bt_events *bus, struct bt_events_sub *s, int64_t since)
{
    for (size_t i = 0; i < bus->ring_len; i++) {
        struct bt_event *e = ring_at(bus, i);

        if (replay_wants(s, e, since))
            sub_queue_push(s, e);
    }
}

static int sub_init(struct bt_events_sub *s, const struct bt_filters *f, int64_t since,
                    size_t queue_max)
{
    size_t n_replay;

    if (!bt_filters_empty(f)) {
        s->filter = bt_filters_dup(f);
        if (!s->filter)
            return -ENOMEM;
    }
    n_replay = replay_count(s->bus, s, since);
    s->q_cap = queue_max ? queue_max : BT_EVENTS_QUEUE_DEFAULT;
    if (s->q_cap < n_replay)
        s->q_cap = n_replay;
    s->q = calloc(s->q_cap, sizeof(*s->q));
    if (!s->q)
        return -ENOMEM;
    replay(s->bus, s, since);
    return 0;
}

struct bt_events_sub *bt_events_subscribe(struct bt_events *bus, const struct bt_filters *f,
                                          int64_t since_nano, size_t queue_max,
                                          bt_events_notify_fn notify,
                                          bt_events_overflow_fn overflow, void *userdata)
{
    struct bt_events_sub *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    *s = (struct bt_events_sub){
        .bus = bus,
        .after_nano = bus->last_nano,
        .notify = notify,
        .overflow = overflow,
        .userdata = userdata,
    };
    if (sub_init(s, f, since_nano, queue_max) < 0) {
        sub_release(s);
        free(s);
        return NULL;
    }
    sub_link(s);
    bus->n_subs++;
    return s;
}

void bt_events_unsubscribe(struct bt_events_sub *sub)
{
    struct bt_events *bus;

    if (!sub || sub->dead)
        return;
    bus = sub->bus;
    sub_release(sub);
    bus->n_subs--;
    if (bus->delivering) {
        /* A publish up the stack may still hold this node: unlink it later. */
        sub->dead = true;
        return;
    }
    sub_unlink(sub);
    free(sub);
}

size_t bt_events_subscribers(const struct bt_events *bus)
{
    return bus->n_subs;
}

/* ---- publish --------------------------------------------------------------- */

static void deliver_one(struct bt_events_sub *s, struct bt_event *e)
{
    if (s->dead || s->overflowed || e->time_nano <= s->after_nano)
        return;
    if (!bt_event_matches(e, s->filter))
        return;
    if (s->q_len == s->q_cap) {
        s->overflowed = true;
        s->overflow(s, s->userdata);
        return;
    }
    sub_queue_push(s, e);
    s->notify(s, s->userdata);
}

/* Callbacks may unsubscribe anyone (only marked dead while delivering, so
 * s->next stays valid) or subscribe (appended, skipped by the time cut-off). */
static void deliver(struct bt_events *bus, struct bt_event *e)
{
    for (struct bt_events_sub *s = bus->subs_head; s; s = s->next)
        deliver_one(s, e);
}

static struct pending *pending_pop(struct bt_events *bus)
{
    struct pending *p = bus->pend_head;

    if (p) {
        bus->pend_head = p->next;
        if (!bus->pend_head)
            bus->pend_tail = NULL;
    }
    return p;
}

static void bus_sweep(struct bt_events *bus)
{
    struct bt_events_sub *s = bus->subs_head, *next;

    for (; s; s = next) {
        next = s->next;
        if (s->dead) {
            sub_unlink(s);
            free(s);
        }
    }
}

/* Deliver queued events oldest first; a publish from a callback lands at the
 * tail of the same list, so every subscriber sees events in time order. */
static void bus_drain(struct bt_events *bus)
{
    struct pending *p;

    bus->delivering = true;
    while ((p = pending_pop(bus))) {
        deliver(bus, p->e);
        bt_event_unref(p->e);
        free(p);
    }
    bus->delivering = false;
    bus_sweep(bus);
}

int bt_events_publish(struct bt_events *bus, const char *type, const char *action,
                      const char *actor_id, const struct bt_kv *attrs, size_t n_attrs)
{
    struct pending *p = calloc(1, sizeof(*p));
    struct bt_event *e;

    if (!p)
        return -ENOMEM;
    e = event_new(type, action, actor_id, attrs, n_attrs);
    if (!e) {
        free(p);
        return -ENOMEM;
    }
    e->time_nano = bus_next_time(bus);
    ring_push_take(bus, bt_event_ref(e));
    p->e = e;
    if (bus->pend_tail)
        bus->pend_tail->next = p;
    else
        bus->pend_head = p;
    bus->pend_tail = p;
    if (!bus->delivering)
        bus_drain(bus);
    return 0;
}

/* ---- teardown -------------------------------------------------------------- */

void bt_events_free(struct bt_events *bus)
{
    struct bt_events_sub *s, *next;
    struct pending *p;

    if (!bus)
        return;
    for (s = bus->subs_head; s; s = next) {
        next = s->next;
        sub_release(s);
        free(s);
    }
    while ((p = pending_pop(bus))) {
        bt_event_unref(p->e);
        free(p);
    }
    for (size_t i = 0; i < bus->ring_len; i++)
        bt_event_unref(ring_at(bus, i));
    free(bus->ring);
    free(bus);
}
