/* Shared inside the container core (src/ctr_*.c): the store's index and the
 * functions the lifecycle code uses to add, rename, persist and drop records.
 * Loop thread only, unless a function says otherwise. */
#ifndef BERTH_CTR_INTERNAL_H
#define BERTH_CTR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/container.h"
#include "berth/macro.h"

struct bt_daemon;

/* The index of every record. Three sorted arrays of the same pointers:
 * lookups by ID (and ID prefix) and by name are binary searches, the list
 * is already in `ps` order. Inserting is a memmove, cheap at the thousands
 * of containers a host runs. The store owns the records it holds. */
struct bt__ctr_write;
struct bt_ctrs {
    struct bt_ctr **by_created; /* oldest first (created_nano, then ID) */
    struct bt_ctr **by_id;      /* strcmp order of id */
    struct bt_ctr **by_name;    /* strcmp order of name; unnamed records left out */
    size_t n, n_named, cap;
    struct bt__ctr_write *writes; /* record writes queued or running (src/ctr_persist.c) */
    size_t n_writes;
};

/* What the store keeps next to each record: bt__ctr_new allocates this and
 * hands out &e->ctr. Store and persist code only. */
struct bt__ctr_entry {
    struct bt_ctr ctr;
    struct bt__ctr_write *write; /* the write in flight, NULL when none */
    bool dropped;                /* bt__ctr_persist_cancel ran: never write again */
    bool indexed;
};

static inline struct bt__ctr_entry *bt__ctr_entry(const struct bt_ctr *c)
{
    return container_of(c, struct bt__ctr_entry, ctr);
}
/* Called by bt__ctr_free and bt_ctrs_free: the write in flight (if any)
 * forgets the record and the store. */
void bt__ctr_write_detach(struct bt__ctr_entry *e);
void bt__ctrs_writes_detach(struct bt_ctrs *s);

struct bt_ctrs *bt__ctrs_new(void);

/* A new record: zeroed but for a fresh random ID (64 hex, never all digits in
 * its short form, as Docker), created_nano = now, and the four paths "" (they
 * are never NULL). Every record must come from here (or bt__ctr_decode): the
 * store keeps its own bookkeeping next to it. NULL on ENOMEM. */
struct bt_ctr *bt__ctr_new(void);
/* Frees every field (cJSON trees included) and the record; accepts NULL.
 * c->rt is left alone: the lifecycle frees it, and sets it NULL, first.
 * The record must be out of the index. A write of it still in flight goes on
 * (the file is written) but no longer refers to c. */
void bt__ctr_free(struct bt_ctr *c);

/* Index c (the store owns it from then on). -EEXIST when the ID or the name
 * is taken, -ENOMEM; nothing changes then. created_nano must not change
 * while c is indexed. */
int bt__ctrs_add(struct bt_daemon *d, struct bt_ctr *c);
/* Take c out of the index (it stays allocated: the caller frees it). */
void bt__ctrs_remove(struct bt_daemon *d, struct bt_ctr *c);
/* Set c's name (without '/'), keeping the name index right when c is
 * indexed: -EEXIST when another record holds it, -ENOMEM. Does not persist. */
int bt__ctr_set_name(struct bt_daemon *d, struct bt_ctr *c, const char *name);

/* Start-up, blocking: read data-root/containers/<id>/config.json into the
 * index. A record that does not parse (or names another ID) is renamed to
 * config.json.corrupt-<unix time> and logged; a directory without a record
 * is logged and left alone; neither is fatal. Fails only when the containers
 * directory cannot be created or read. */
int bt__ctrs_load(struct bt_daemon *d, struct bt_err **err);

/* data-root/containers/<id> and exec-root/<id> (malloc'd, NULL on ENOMEM). */
char *bt__ctr_dir(const struct bt_daemon *d, const char *id);
char *bt__ctr_run_dir(const struct bt_daemon *d, const char *id);

/* The record file's format, our own JSON: {"ID","Name","Created","Image",
 * "Config","HostConfig","NetworkingConfig","Path","Args","State":{"Status",
 * "OOMKilled","Pid","MonitorPid","ExitCode","Error","StartedAt","FinishedAt"},
 * "RestartCount","HasBeenStarted","ManuallyStopped","LogPath","HostnamePath",
 * "HostsPath","ResolvConfPath"}; times RFC 3339 with nanoseconds. rootfs and
 * exec_ids are runtime state and are not written. ANY thread (encode only
 * reads c; do not run it while the loop changes c). */
char *bt__ctr_encode(const struct bt_ctr *c);
/* POOL. Write record text as dir/config.json atomically (temp, fsync, rename,
 * fsync dir); -errno. */
int bt__ctr_write_record(const char *dir, const char *text);
/* BT_EINVAL naming what is wrong. */
int bt__ctr_decode(const char *text, size_t len, struct bt_ctr **ret, struct bt_err **err);

/* Removal and persist: a record being removed must never be written again,
 * and its directory must not be deleted under a write in flight (the write
 * would recreate config.json, or the rm would fail on the temp file). So the
 * remove path calls this before it deletes the directory: c gets no more
 * writes (bt_ctr_persist ignores it from now on, a coalesced write still
 * pending is dropped) and `done` runs on the loop once no write of c is in
 * flight: at once, before this returns, when none is. c must stay allocated
 * until done has run. */
void bt__ctr_persist_cancel(struct bt_daemon *d, struct bt_ctr *c, void (*done)(void *arg),
                            void *arg);
/* Writes of any record queued or running on the pool. */
size_t bt__ctrs_writes_pending(const struct bt_daemon *d);

#endif
