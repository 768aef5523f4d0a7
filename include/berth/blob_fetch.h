/* One blob downloaded from a registry into the content store, shared by
 * every pull that needs it at the same time. Bytes arrive on the loop and go
 * to disk on the pool, double-buffered: while one buffer is written the next
 * fills, and when both are full the transfer pauses. The content store
 * verifies the digest before the blob becomes visible; an interrupted
 * download leaves its verified-so-far bytes for the next one to resume.
 * Loop thread. */
#ifndef BERTH_BLOB_FETCH_H
#define BERTH_BLOB_FETCH_H

#include <stdint.h>

#include "berth/err.h"

struct bt_daemon;
struct bt_reg_target;
struct bt_blob_fetch;

typedef void (*bt_blob_progress_fn)(void *arg, uint64_t done, uint64_t total);
/* err is borrowed (NULL on success: the blob is in the content store). */
typedef void (*bt_blob_done_fn)(void *arg, const struct bt_err *err);

/* A pull's interest in a fetch; embedded in the caller's struct. */
struct bt_blob_waiter {
    bt_blob_progress_fn progress; /* may be NULL */
    bt_blob_done_fn done;
    void *arg;
    /* Private. */
    struct bt_blob_fetch *fetch_;
    struct bt_blob_waiter *next_;
};

/* Join the fetch of digest (starting it when none is under way). done runs
 * later, exactly once, unless the waiter leaves first. */
int bt_blob_fetch_join(struct bt_daemon *d, const struct bt_reg_target *t, const char *digest,
                       uint64_t size, struct bt_blob_waiter *w, struct bt_err **err);
/* Stop waiting. The last waiter to leave stops the download (its bytes are
 * kept for a resume). No-op when the waiter is not in a fetch. */
void bt_blob_fetch_leave(struct bt_blob_waiter *w);
/* The same, but a download this stops drops its partial bytes (a full disk). */
void bt_blob_fetch_leave_drop(struct bt_blob_waiter *w);
/* Cancel every fetch (shutdown): no callbacks. */
void bt_blob_fetch_shutdown(struct bt_daemon *d);

#endif
