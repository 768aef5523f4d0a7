#include <config.h>

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "berth/daemon.h"
#include "berth/events.h"
#include "berth/blobmap.h"
#include "berth/images.h"
#include "berth/storage.h"
#include "test/unit/memconn.h"

static struct memconn *mc_of(struct api_conn *c)
{
    return container_of(c, struct memconn, conn);
}

static int m_write(struct api_conn *c, char *data, size_t len)
{
    struct memconn *m = mc_of(c);
    (void)bt_buf_append(&m->out, data, len);
    free(data);
    if (m->hold_writes)
        m->held += len;
    else
        api_conn_on_written(c, len);
    return 0;
}

static void m_read_start(struct api_conn *c)
{
    mc_of(c)->reading = true;
}

static void m_read_stop(struct api_conn *c)
{
    mc_of(c)->reading = false;
}

static void m_timer(struct api_conn *c, uint64_t ms)
{
    mc_of(c)->timer_ms = ms;
}

static void m_close(struct api_conn *c, bool flush)
{
    struct memconn *m = mc_of(c);
    m->closed = true;
    api_conn_on_closed(c);
}

static const struct api_conn_ops mem_ops = {
    .write = m_write,
    .read_start = m_read_start,
    .read_stop = m_read_stop,
    .timer = m_timer,
    .close = m_close,
};

/* Real stores on a private data root (vfs: no mounts), so image routes run
 * for real. Removed at exit. */
static char data_root[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void storage_cleanup(void)
{
    if (nftw(data_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "memconn: could not remove %s\n", data_root);
}

static void memconn_storage(struct bt_daemon *d)
{
    size_t dropped;

    snprintf(data_root, sizeof(data_root), "/tmp/berth-memconn-XXXXXX");
    if (!mkdtemp(data_root))
        abort();
    atexit(storage_cleanup);
    free(d->cfg.data_root);
    d->cfg.data_root = strdup(data_root);
    if (stor_content_open(data_root, &d->content, NULL) < 0 ||
        stor_driver_open(data_root, "vfs", &d->driver, NULL, NULL) < 0 ||
        stor_layers_open(data_root, d->driver, &d->layers, &dropped, NULL) < 0 ||
        stor_images_open(data_root, &d->images, &dropped, NULL) < 0 ||
        stor_blobmap_open(data_root, &d->blobmap, NULL) < 0)
        abort();
}

struct bt_daemon *memconn_daemon(void)
{
    static struct bt_daemon d;
    static uv_loop_t loop;

    if (!d.loop) {
        uv_loop_init(&loop);
        d.loop = &loop;
        bt_config_init(&d.cfg);
        d.events = bt_events_new(BT_EVENTS_RING_DEFAULT);
        memcpy(d.id, "00000000-0000-4000-8000-000000000000", 37);
        memconn_storage(&d);
    }
    return &d;
}

void memconn_init(struct memconn *m, size_t max_header_bytes)
{
    struct api_conn_limits limits = {
        .request_timeout_ms = 1000,
        .idle_timeout_ms = 5000,
        .max_header_bytes = max_header_bytes,
    };
    memset(m, 0, sizeof(*m));
    bt_buf_init(&m->out, 0);
    m->reading = true;
    api_conn_init(&m->conn, &mem_ops, memconn_daemon(), &limits);
}

void memconn_feed(struct memconn *m, const char *data, size_t len)
{
    if (!m->closed)
        api_conn_on_read(&m->conn, data, len);
}

void memconn_feed_str(struct memconn *m, const char *s)
{
    memconn_feed(m, s, strlen(s));
}

void memconn_flush(struct memconn *m)
{
    size_t n = m->held;
    m->held = 0;
    if (n && !m->closed)
        api_conn_on_written(&m->conn, n);
}

void memconn_done(struct memconn *m)
{
    if (!m->closed)
        api_conn_close(&m->conn, false);
    bt_buf_done(&m->out);
}

int memconn_responses(const struct memconn *m)
{
    int n = 0;
    for (const char *p = m->out.p; p && (p = strstr(p, "HTTP/1.1 ")); p += 9)
        if (strncmp(p + 9, "100 ", 4) != 0)
            n++;
    return n;
}
