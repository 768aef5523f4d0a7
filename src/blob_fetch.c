#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/blob_fetch.h"
#include "berth/buf.h"
#include "berth/daemon.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/registry.h"
#include "berth/storage.h"

#define FETCH_BUF_SIZE (1024 * 1024)

enum fetch_state { F_OPENING, F_DOWNLOADING, F_COMMITTING, F_DONE };

struct bt_blob_fetch {
    struct bt_daemon *d;
    struct bt_blob_fetch *next;
    char digest[BT_DIGEST_STR_LEN + 1];
    uint64_t size;
    char *host, *name;
    struct bt_reg_creds *creds;
    enum fetch_state state;
    struct stor_ingest *ing;
    struct bt_reg_req *req;
    struct bt_blob_waiter *waiters;
    struct bt_buf fill;      /* bytes arriving */
    struct bt_buf flushing;  /* bytes being written by a pool job */
    bool writing;            /* a write job is in flight */
    bool paused;             /* the transfer waits for room */
    bool download_done;      /* the registry sent everything */
    bool orphan;             /* every waiter left: stop and clean up */
    bool jobs;               /* a pool job holds the fetch */
    bool drop;               /* the disk is full: do not keep partial bytes */
    uint64_t received, last_progress;
    struct bt_err *err;
};

static void fetch_unlink(struct bt_blob_fetch *f)
{
    struct bt_blob_fetch **p = &f->d->fetches;
    while (*p && *p != f)
        p = &(*p)->next;
    if (*p)
        *p = f->next;
}

static void fetch_free(struct bt_blob_fetch *f)
{
    fetch_unlink(f);
    stor_ingest_free(f->ing);
    bt_buf_done(&f->fill);
    bt_buf_done(&f->flushing);
    bt_reg_creds_free(f->creds);
    bt_err_free(f->err);
    free(f->host);
    free(f->name);
    free(f);
}

/* Tell every waiter, then let go (a pool job may still hold f). */
static void fetch_finish(struct bt_blob_fetch *f)
{
    struct bt_blob_waiter *w = f->waiters;

    f->state = F_DONE;
    f->waiters = NULL;
    fetch_unlink(f);
    while (w) {
        struct bt_blob_waiter *next = w->next_;
        w->fetch_ = NULL;
        w->done(w->arg, f->err);
        w = next;
    }
    if (!f->jobs)
        fetch_free(f);
}

static void fetch_fail(struct bt_blob_fetch *f, struct bt_err *e);

/* ---- the pool side --------------------------------------------------------- */

static void abort_work(void *arg)
{
    struct bt_blob_fetch *f = arg;
    /* Partial bytes are kept for a resume, unless they are what filled the disk. */
    bool keep = !f->drop && !(f->err && f->err->sys_errno == ENOSPC);
    if (f->ing)
        (void)stor_ingest_abort(f->ing, keep, NULL);
}

static void abort_done(void *arg, bool ran)
{
    struct bt_blob_fetch *f = arg;
    f->jobs = false;
    if (f->state == F_DONE || f->orphan)
        fetch_free(f);
    else
        fetch_finish(f);
}

/* Keep what was verified so far for the next attempt, then report. */
static void fetch_stop(struct bt_blob_fetch *f)
{
    if (f->req) {
        bt_reg_req_cancel(f->req);
        f->req = NULL;
    }
    if (f->writing)
        return; /* the write job's completion comes back here */
    f->jobs = true;
    if (bt_job_queue(f->d->loop, abort_work, abort_done, f) < 0)
        abort_done(f, false);
}

static void fetch_fail(struct bt_blob_fetch *f, struct bt_err *e)
{
    if (!f->err)
        f->err = e;
    else
        bt_err_free(e);
    fetch_stop(f);
}

static void commit_work(void *arg)
{
    struct bt_blob_fetch *f = arg;
    (void)stor_ingest_commit(f->ing, &f->err);
}

static void commit_done(void *arg, bool ran)
{
    struct bt_blob_fetch *f = arg;

    f->jobs = false;
    if (!ran && !f->err)
        bt_err_set(&f->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (f->orphan) {
        fetch_free(f);
        return;
    }
    fetch_finish(f);
}

static void fetch_commit(struct bt_blob_fetch *f)
{
    f->state = F_COMMITTING;
    f->jobs = true;
    if (bt_job_queue(f->d->loop, commit_work, commit_done, f) < 0) {
        bt_err_set(&f->err, BT_EINTERNAL, 0, "cannot queue the blob commit");
        commit_done(f, true);
    }
}

static void write_work(void *arg)
{
    struct bt_blob_fetch *f = arg;
    (void)stor_ingest_write(f->ing, f->flushing.p, f->flushing.len, &f->err);
}

static void fetch_flush(struct bt_blob_fetch *f);

static void write_done(void *arg, bool ran)
{
    struct bt_blob_fetch *f = arg;

    f->writing = false;
    f->jobs = false;
    bt_buf_reset(&f->flushing);
    if (!ran && !f->err)
        bt_err_set(&f->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (f->err || f->orphan) {
        fetch_stop(f);
        return;
    }
    if (f->fill.len >= FETCH_BUF_SIZE || (f->download_done && f->fill.len))
        fetch_flush(f);
    else if (f->download_done)
        fetch_commit(f);
    if (f->paused && !f->writing && f->req) {
        f->paused = false;
        bt_reg_req_unpause(f->req);
    }
}

/* Hand the filled buffer to a pool job; the other one starts filling. */
static void fetch_flush(struct bt_blob_fetch *f)
{
    struct bt_buf t = f->flushing;

    f->flushing = f->fill;
    f->fill = t;
    bt_buf_reset(&f->fill);
    f->writing = true;
    f->jobs = true;
    if (bt_job_queue(f->d->loop, write_work, write_done, f) < 0) {
        bt_err_set(&f->err, BT_EINTERNAL, 0, "cannot queue a blob write");
        write_done(f, true);
    }
}

/* ---- the registry side ------------------------------------------------------ */

static int fetch_sink(void *data, const char *buf, size_t len)
{
    struct bt_blob_fetch *f = data;

    if (f->fill.len + len > FETCH_BUF_SIZE && f->fill.len > 0) {
        if (f->writing) {
            f->paused = true;
            return BT_REG_SINK_FULL;
        }
        fetch_flush(f);
    }
    if (bt_buf_append(&f->fill, buf, len) < 0)
        return -ENOMEM;
    f->received += len;
    return 0;
}

static void fetch_progress(void *data, uint64_t done, uint64_t total)
{
    struct bt_blob_fetch *f = data;

    /* The CLI redraws each message: about 100 updates per blob are plenty. */
    if (done != total && done - f->last_progress < (total ? total / 100 : 1 << 20) + 1)
        return;
    f->last_progress = done;
    for (struct bt_blob_waiter *w = f->waiters; w; w = w->next_)
        if (w->progress)
            w->progress(w->arg, done, total ? total : f->size);
}

static void fetch_downloaded(void *data, struct bt_err *err)
{
    struct bt_blob_fetch *f = data;

    f->req = NULL;
    if (err) {
        fetch_fail(f, err);
        return;
    }
    f->download_done = true;
    if (f->writing)
        return; /* write_done flushes the rest and commits */
    if (f->fill.len)
        fetch_flush(f);
    else
        fetch_commit(f);
}

static void open_work(void *arg)
{
    struct bt_blob_fetch *f = arg;
    int r = stor_ingest_open(f->d->content, f->digest, f->size ? (int64_t)f->size : -1, &f->ing,
                             &f->err);
    if (r == 1)
        f->state = F_DONE; /* already stored */
}

static void open_done(void *arg, bool ran)
{
    struct bt_blob_fetch *f = arg;
    struct bt_reg_target t = {f->host, f->name, f->creds, NULL};
    struct bt_reg_blob_get g = {0};

    f->jobs = false;
    if (!ran && !f->err)
        bt_err_set(&f->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (f->orphan) {
        fetch_stop(f);
        return;
    }
    if (f->err || f->state == F_DONE) {
        fetch_finish(f);
        return;
    }
    f->state = F_DOWNLOADING;
    f->received = (uint64_t)stor_ingest_offset(f->ing);
    g.digest = f->digest;
    g.offset = f->received;
    g.size = f->size;
    g.verify = false; /* the content store verifies the whole blob at commit */
    g.sink = fetch_sink;
    g.progress = fetch_progress;
    g.done = fetch_downloaded;
    g.data = f;
    if (bt_reg_blob_get(f->d->registry, &t, &g, &f->req, &f->err) < 0)
        fetch_stop(f);
}

int bt_blob_fetch_join(struct bt_daemon *d, const struct bt_reg_target *t, const char *digest,
                       uint64_t size, struct bt_blob_waiter *w, struct bt_err **err)
{
    struct bt_blob_fetch *f;

    for (f = d->fetches; f; f = f->next)
        if (strcmp(f->digest, digest) == 0 && !f->orphan)
            break;
    if (!f) {
        f = calloc(1, sizeof(*f));
        if (!f)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "fetch %s", digest);
        f->d = d;
        snprintf(f->digest, sizeof(f->digest), "%s", digest);
        f->size = size;
        f->host = strdup(t->host);
        f->name = strdup(t->name);
        f->creds = bt_reg_creds_dup(t->creds);
        bt_buf_init(&f->fill, FETCH_BUF_SIZE + 256 * 1024);
        bt_buf_init(&f->flushing, FETCH_BUF_SIZE + 256 * 1024);
        f->next = d->fetches;
        d->fetches = f;
        f->jobs = true;
        if (bt_job_queue(d->loop, open_work, open_done, f) < 0) {
            f->jobs = false;
            fetch_free(f);
            return bt_err_set(err, BT_EINTERNAL, 0, "cannot queue the blob fetch");
        }
    }
    w->fetch_ = f;
    w->next_ = f->waiters;
    f->waiters = w;
    return 0;
}

void bt_blob_fetch_leave_drop(struct bt_blob_waiter *w)
{
    if (w->fetch_ && !w->fetch_->waiters->next_)
        w->fetch_->drop = true;
    bt_blob_fetch_leave(w);
}

void bt_blob_fetch_leave(struct bt_blob_waiter *w)
{
    struct bt_blob_fetch *f = w->fetch_;
    struct bt_blob_waiter **p;

    if (!f)
        return;
    for (p = &f->waiters; *p && *p != w; p = &(*p)->next_)
        ;
    if (*p)
        *p = w->next_;
    w->fetch_ = NULL;
    if (f->waiters || f->state == F_DONE)
        return;
    /* Nobody wants it any more: stop, keep the partial bytes. */
    f->orphan = true;
    fetch_unlink(f);
    if (f->state == F_DOWNLOADING && !f->jobs)
        fetch_stop(f);
    else if (f->req) {
        bt_reg_req_cancel(f->req);
        f->req = NULL;
    }
}

void bt_blob_fetch_shutdown(struct bt_daemon *d)
{
    while (d->fetches) {
        struct bt_blob_fetch *f = d->fetches;
        struct bt_blob_waiter *w = f->waiters;
        while (w) {
            w->fetch_ = NULL;
            w = w->next_;
        }
        f->waiters = NULL;
        if (f->req)
            bt_reg_req_cancel(f->req);
        f->req = NULL;
        f->orphan = true;
        fetch_unlink(f);
        if (!f->jobs)
            fetch_free(f);
    }
}
