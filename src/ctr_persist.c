/* Writing container records: the record is serialised on the loop (it is
 * the loop's data) and written on the pool, atomically (temp file, fsync,
 * rename, fsync of the directory), so a kill -9 at any moment leaves either
 * the old record or the new one.
 *
 * At most one write per record is in flight: a persist during a write only
 * marks the record dirty, and the write's completion serialises it again and
 * writes once more. A burst of state changes (start: running, pid, paths...)
 * thus costs at most two writes, and two writes of one record never race
 * each other on the pool. */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "berth/daemon.h"
#include "berth/job.h"
#include "berth/log.h"
#include "src/ctr-internal.h"

#define RECORD_FILE "config.json"
#define RECORD_TMP "config.json.tmp" /* one writer per record: a fixed name will do */

struct bt__ctr_write {
    uv_loop_t *loop;
    struct bt_ctrs *store;             /* NULL once the store is freed */
    struct bt__ctr_entry *e;           /* NULL once the record is freed */
    struct bt__ctr_write *prev, *next; /* the store's writes in flight */
    char id[BT_CTR_ID_LEN + 1];
    char *dir;  /* data-root/containers/<id> */
    char *text; /* the record, for the pool */
    int result; /* 0 or -errno, set on the pool */
    bool dirty; /* persisted again meanwhile: write once more */
    void (*cancel_done)(void *arg);
    void *cancel_arg;
};

/* ---- the pool side ------------------------------------------------------------------ */

static int fsync_path(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0)
        return -errno;
    return 0;
}

/* Open the record's directory, creating it (and data-root/containers, which
 * the load at start-up normally made) on the first write, durably. */
static int open_dir(const char *dir)
{
    _cleanup_free_ char *parent = NULL;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0 || errno != ENOENT)
        return fd < 0 ? -errno : fd;
    parent = strdup(dir);
    if (!parent)
        return -ENOMEM;
    dirname(parent);
    if (mkdir(dir, 0700) < 0 && errno == ENOENT && mkdir(parent, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    (void)fsync_path(parent); /* at worst the next write makes it durable */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int bt__ctr_write_record(const char *dir, const char *text)
{
    _cleanup_close_ int dfd = -1, fd = -1;
    int r;

    dfd = open_dir(dir);
    if (dfd < 0)
        return dfd;
    fd = openat(dfd, RECORD_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    r = bt_write_full(fd, text, strlen(text));
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(dfd, RECORD_TMP, dfd, RECORD_FILE) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlinkat(dfd, RECORD_TMP, 0);
        return r;
    }
    return fsync(dfd) < 0 ? -errno : 0;
}

static void write_work(void *arg)
{
    struct bt__ctr_write *w = arg;
    w->result = bt__ctr_write_record(w->dir, w->text);
}

/* ---- the loop side ------------------------------------------------------------------ */

static void write_unlink(struct bt__ctr_write *w)
{
    if (!w->store)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->store->writes = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->store->n_writes--;
    w->store = NULL;
}

static void write_free(struct bt__ctr_write *w)
{
    void (*done)(void *) = w->cancel_done;
    void *arg = w->cancel_arg;

    write_unlink(w);
    if (w->e)
        w->e->write = NULL;
    free(w->dir);
    free(w->text);
    free(w);
    /* Last: the callback may free the record. */
    if (done)
        done(arg);
}

static void write_done(void *arg, bool ran);

static int write_queue(struct bt__ctr_write *w)
{
    int r = bt_job_queue(w->loop, write_work, write_done, w);

    if (r < 0)
        BT_LOG(ERROR, "ctr", "cannot queue container record write", "id=%s err=\"%s\"", w->id,
               uv_strerror(r));
    return r;
}

static void write_done(void *arg, bool ran)
{
    struct bt__ctr_write *w = arg;

    if (!ran)
        w->result = -ECANCELED;
    if (w->result < 0)
        BT_LOG(ERROR, "ctr", "cannot write container record", "id=%s err=\"%s\"", w->id,
               strerror(-w->result));
    /* Written again only while the loop still runs: a cancelled job means
     * the daemon is going away. */
    if (ran && w->dirty && w->e && !w->e->dropped) {
        char *text = bt__ctr_encode(&w->e->ctr);
        w->dirty = false;
        if (text) {
            free(w->text);
            w->text = text;
            if (write_queue(w) == 0)
                return;
        } else {
            BT_LOG(ERROR, "ctr", "cannot serialise container record", "id=%s", w->id);
        }
    }
    write_free(w);
}

void bt_ctr_persist(struct bt_daemon *d, struct bt_ctr *c)
{
    struct bt__ctr_entry *e = bt__ctr_entry(c);
    struct bt_ctrs *s = d->ctrs;
    struct bt__ctr_write *w;

    if (e->dropped)
        return;
    if (e->write) {
        e->write->dirty = true;
        return;
    }
    w = calloc(1, sizeof(*w));
    if (!w || !(w->dir = bt__ctr_dir(d, c->id)) || !(w->text = bt__ctr_encode(c))) {
        BT_LOG(ERROR, "ctr", "cannot serialise container record", "id=%s", c->id);
        if (w)
            free(w->dir);
        free(w);
        return;
    }
    w->loop = d->loop;
    w->e = e;
    memcpy(w->id, c->id, sizeof(w->id));
    if (write_queue(w) < 0) {
        free(w->dir);
        free(w->text);
        free(w);
        return;
    }
    e->write = w;
    if (s) {
        w->store = s;
        w->next = s->writes;
        if (w->next)
            w->next->prev = w;
        s->writes = w;
        s->n_writes++;
    }
}

void bt__ctr_persist_cancel(struct bt_daemon *d, struct bt_ctr *c, void (*done)(void *arg),
                            void *arg)
{
    struct bt__ctr_entry *e = bt__ctr_entry(c);

    (void)d;
    e->dropped = true;
    if (!e->write) {
        done(arg);
        return;
    }
    assert(!e->write->cancel_done);
    e->write->dirty = false;
    e->write->cancel_done = done;
    e->write->cancel_arg = arg;
}

void bt__ctr_write_detach(struct bt__ctr_entry *e)
{
    if (e->write) {
        e->write->e = NULL;
        e->write = NULL;
    }
}

void bt__ctrs_writes_detach(struct bt_ctrs *s)
{
    struct bt__ctr_write *w = s->writes, *next;

    for (; w; w = next) {
        next = w->next;
        w->store = NULL;
        w->prev = w->next = NULL;
    }
    s->writes = NULL;
    s->n_writes = 0;
}

size_t bt__ctrs_writes_pending(const struct bt_daemon *d)
{
    return d->ctrs ? d->ctrs->n_writes : 0;
}
