/* The daemon's life: start-up, signals, reload, graceful shutdown. */
#include <config.h>

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/events.h"
#include "berth/network.h"
#include "berth/images.h"
#include "berth/blobmap.h"
#include "berth/storage.h"
#include "berth/blob_fetch.h"
#include "berth/registry.h"
#include "berth/log.h"
#include "berth/timeparse.h"

static void daemon_on_signal(uv_signal_t *h, int signum);

/* Content store, graph driver and layer store (blocking: start-up). */
static int daemon_open_storage(struct bt_daemon *d, struct bt_err **err)
{
    const char *want = d->cfg.storage_driver;
    _cleanup_free_ char *reason = NULL;
    size_t dropped = 0;

    if (want && strcmp(want, "overlay2") == 0)
        want = "overlay";
    if (stor_content_open(d->cfg.data_root, &d->content, err) < 0 ||
        stor_driver_open(d->cfg.data_root, want, &d->driver, &reason, err) < 0)
        return bt_err_wrap(err, "open storage");
    if (reason)
        BT_LOG(WARN, "storage", "overlay cannot be used here, falling back to vfs",
               "reason=\"%s\"", bt_log_q(reason));
    if (stor_layers_open(d->cfg.data_root, d->driver, &d->layers, &dropped, err) < 0)
        return bt_err_wrap(err, "open the layer store");
    if (dropped)
        BT_LOG(WARN, "storage", "removed broken or unfinished layers", "count=%zu", dropped);
    BT_LOG(INFO, "storage", "storage ready", "driver=%s layers=%zu", stor_driver_name(d->driver),
           stor_layers_count(d->layers));
    return 0;
}

/* A kill -9 between a layer reference and its image or container record
 * leaves a reference nobody holds: drop those, or the layers could never go.
 * Runs once the container records are loaded: a container's reference is
 * named by its ID, as long as an image's. */
static void daemon_drop_stray_refs(struct bt_daemon *d)
{
    size_t dropped = 0;

    for (size_t i = 0; i < stor_layers_count(d->layers); i++) {
        struct stor_layer_info info;
        const char *const *holders;
        size_t n;
        struct bt_strv stray = {0};

        stor_layers_at(d->layers, i, &info);
        if (stor_layers_holders(d->layers, info.chain_id, &holders, &n) < 0)
            continue;
        for (size_t k = 0; k < n; k++) {
            char id[BT_DIGEST_STR_LEN + 1];
            struct bt_ctr *c = NULL;
            if (strlen(holders[k]) != BT_DIGEST_HEX_LEN)
                continue; /* not ours to judge */
            snprintf(id, sizeof(id), "sha256:%s", holders[k]);
            if (!stor_images_get(d->images, id) &&
                (bt_ctr_lookup(d, holders[k], &c, NULL) < 0 || strcmp(c->id, holders[k]) != 0))
                bt_strv_push(&stray, holders[k]);
        }
        for (size_t k = 0; k < stray.n; k++) {
            (void)stor_layer_unref(d->layers, info.chain_id, stray.v[k], NULL);
            (void)stor_layer_unref_write(d->layers, info.chain_id, stray.v[k], NULL);
            dropped++;
        }
        bt_strv_done(&stray);
    }
    if (dropped)
        BT_LOG(WARN, "images", "dropped layer references of images and containers that do not exist",
               "count=%zu", dropped);
}

static int tmp_remove(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    if (f->level == 0)
        return 0; /* data-root/tmp itself stays */
    if (flag == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

/* data-root/tmp holds only work in progress (a load being unpacked): what a
 * kill -9 left there is garbage. */
static void daemon_clean_tmp(struct bt_daemon *d)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/tmp", d->cfg.data_root);
    (void)nftw(path, tmp_remove, 16, FTW_DEPTH | FTW_PHYS);
}

static int daemon_open_images(struct bt_daemon *d, struct bt_err **err)
{
    size_t dropped = 0;

    if (stor_images_open(d->cfg.data_root, &d->images, &dropped, err) < 0 ||
        stor_blobmap_open(d->cfg.data_root, &d->blobmap, err) < 0)
        return bt_err_wrap(err, "open the image store");
    if (dropped)
        BT_LOG(WARN, "images", "dropped image records whose config is missing or corrupt",
               "count=%zu", dropped);
    BT_LOG(DEBUG, "images", "image store loaded", "images=%zu", stor_images_count(d->images));
    return 0;
}

/* The registry client follows insecure-registries and registry-mirrors. It
 * is made on first use: an idle daemon does not load libcurl. */
struct bt_registry *bt_daemon_registry(struct bt_daemon *d, struct bt_err **err)
{
    struct bt_registry_config rc = {0};

    if (d->registry)
        return d->registry;
    if (d->shutting_down) {
        bt_err_set(err, BT_EUNAVAIL, 0, "the daemon is shutting down");
        return NULL;
    }
    rc.insecure = (const char *const *)d->cfg.insecure_registries.v;
    rc.n_insecure = d->cfg.insecure_registries.n;
    rc.mirrors = (const char *const *)d->cfg.registry_mirrors.v;
    rc.n_mirrors = d->cfg.registry_mirrors.n;
    if (bt_registry_new(d->loop, &rc, &d->registry, err) < 0)
        d->registry = NULL;
    return d->registry;
}

static void daemon_close_registry(struct bt_daemon *d)
{
    bt_blob_fetch_shutdown(d);
    if (d->registry)
        bt_registry_close(d->registry, NULL, NULL);
    d->registry = NULL;
}

int bt_daemon_init(struct bt_daemon *d, uv_loop_t *loop, struct bt_err **err)
{
    const struct bt_config *c = &d->cfg;

    d->loop = loop;
    d->lock_fd = -1;
    d->started_nano = bt_now_nano();
    if (bt_mkdir_p(c->data_root, 0711) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create data root %s", c->data_root);
    /* 0711: members of the socket group must reach the socket inside. */
    if (bt_mkdir_p(c->exec_root, 0711) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create exec root %s", c->exec_root);
    if (bt_lock_data_root(c->data_root, &d->lock_fd, err) < 0)
        return -1;
    if (bt_daemon_load_id(c->data_root, d->id, sizeof(d->id), err) < 0)
        return -1;
    if (c->pidfile && bt_daemon_write_pidfile(c->pidfile, err) < 0)
        return -1;
    daemon_clean_tmp(d);
    if (daemon_open_storage(d, err) < 0 || daemon_open_images(d, err) < 0)
        return -1;
    d->events = bt_events_new(BT_EVENTS_RING_DEFAULT);
    if (!d->events)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "events");
    if (bt_nets_open(d, err) < 0 || bt_net_dns_open(d, err) < 0 || bt_ctrs_open(d, err) < 0)
        return -1;
    bt_nets_reconcile(d);
    daemon_drop_stray_refs(d);
    uv_signal_init(loop, &d->sig_term);
    uv_signal_init(loop, &d->sig_int);
    uv_signal_init(loop, &d->sig_hup);
    uv_timer_init(loop, &d->shutdown_timer);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d->shutdown_timer.data = d;
    uv_signal_start(&d->sig_term, daemon_on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, daemon_on_signal, SIGINT);
    uv_signal_start(&d->sig_hup, daemon_on_signal, SIGHUP);
    if (api_server_new(d, &d->api, err) < 0)
        return -1;
    BT_LOG(INFO, "daemon", "started", "id=%s data_root=%s exec_root=%s pid=%ld", d->id,
           c->data_root, c->exec_root, (long)getpid());
    return 0;
}

static void close_if_open(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void daemon_close_registry(struct bt_daemon *d);

static void daemon_close_handles(struct bt_daemon *d)
{
    daemon_close_registry(d);
    bt_net_dns_close(d);
    close_if_open((uv_handle_t *)&d->sig_term);
    close_if_open((uv_handle_t *)&d->sig_int);
    close_if_open((uv_handle_t *)&d->sig_hup);
    close_if_open((uv_handle_t *)&d->shutdown_timer);
    /* With live-restore the monitors' control connections (and any restart
     * timer) are still open: let go of them, or the loop never ends and the
     * daemon hangs after SIGTERM. The monitors keep running. */
    if (d->shutting_down)
        bt_ctrs_close(d);
}

static void daemon_on_api_closed(void *arg)
{
    struct bt_daemon *d = arg;
    BT_LOG(INFO, "daemon", "all connections closed", NULL);
    daemon_close_handles(d);
}

static void daemon_on_shutdown_timeout(uv_timer_t *t)
{
    struct bt_daemon *d = t->data;
    BT_LOG(WARN, "daemon", "shutdown bound reached, closing remaining connections", "open=%zu",
           api_server_conns(d->api));
    api_server_close_all(d->api);
}

static void daemon_on_ctrs_down(void *arg)
{
    struct bt_daemon *d = arg;

    if (d->api)
        api_server_shutdown(d->api, daemon_on_api_closed, d);
    else
        daemon_close_handles(d);
}

void bt_daemon_shutdown(struct bt_daemon *d)
{
    if (d->shutting_down)
        return;
    d->shutting_down = true;
    BT_LOG(INFO, "daemon", "shutting down", "open_connections=%zu", api_server_conns(d->api));
    uv_timer_start(&d->shutdown_timer, daemon_on_shutdown_timeout,
                   (uint64_t)(d->cfg.shutdown_timeout > 0 ? d->cfg.shutdown_timeout : 1) * 1000, 0);
    /* Containers first: without live-restore they are stopped while clients
     * waiting on them can still hear how they ended. */
    bt_ctrs_shutdown(d, daemon_on_ctrs_down, d);
}

/* ---- SIGHUP: reload daemon.json (read on the pool, applied here) ---------- */

struct reload_job {
    uv_work_t work;
    struct bt_daemon *d;
    struct bt_config next;
    struct bt_err *err;
    int r;
};

static void reload_work(uv_work_t *w)
{
    struct reload_job *j = container_of(w, struct reload_job, work);
    j->r = bt_config_reload(&j->d->cfg, &j->next, &j->err);
}

static void strv_move(struct bt_strv *dst, struct bt_strv *src)
{
    bt_strv_done(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

static char *strv_text(const struct bt_strv *s)
{
    struct bt_buf b;
    bt_buf_init(&b, 0);
    bt_buf_append(&b, "[", 1);
    for (size_t i = 0; i < s->n; i++)
        bt_buf_appendf(&b, "%s%s", i ? " " : "", s->v[i]);
    bt_buf_append(&b, "]", 1);
    return bt_buf_steal(&b, NULL);
}

/* Keys dockerd reloads on SIGHUP, unless a flag set them at start. */
static void reload_apply(struct bt_daemon *d, struct bt_config *n)
{
    struct bt_config *c = &d->cfg;
    const struct bt_strv *fk = &c->flag_keys;

    if (!bt_strv_contains(fk, "debug"))
        c->debug = n->debug;
    if (!bt_strv_contains(fk, "log-level"))
        c->log_level = n->log_level;
    if (c->debug && c->log_level < BT_LOG_DEBUG)
        c->log_level = BT_LOG_DEBUG;
    bt_log_threshold = c->log_level;
    if (!bt_strv_contains(fk, "labels"))
        strv_move(&c->labels, &n->labels);
    strv_move(&c->registry_mirrors, &n->registry_mirrors);
    strv_move(&c->insecure_registries, &n->insecure_registries);
    c->live_restore = n->live_restore;
    c->max_concurrent_downloads = n->max_concurrent_downloads;
    c->max_concurrent_uploads = n->max_concurrent_uploads;
    if (!bt_strv_contains(fk, "shutdown-timeout"))
        c->shutdown_timeout = n->shutdown_timeout;
}

static void reload_publish(struct bt_daemon *d)
{
    const struct bt_config *c = &d->cfg;
    char host[256] = "", dl[16], ul[16], st[16];
    _cleanup_free_ char *labels = strv_text(&c->labels);
    _cleanup_free_ char *mirrors = strv_text(&c->registry_mirrors);
    _cleanup_free_ char *insecure = strv_text(&c->insecure_registries);

    (void)gethostname(host, sizeof(host) - 1);
    snprintf(dl, sizeof(dl), "%d", c->max_concurrent_downloads);
    snprintf(ul, sizeof(ul), "%d", c->max_concurrent_uploads);
    snprintf(st, sizeof(st), "%d", c->shutdown_timeout);
    struct bt_kv attrs[] = {
        {"debug", c->debug ? "true" : "false"},
        {"insecure-registries", insecure},
        {"labels", labels},
        {"live-restore", c->live_restore ? "true" : "false"},
        {"max-concurrent-downloads", dl},
        {"max-concurrent-uploads", ul},
        {"name", host},
        {"registry-mirrors", mirrors},
        {"shutdown-timeout", st},
    };
    bt_events_publish(d->events, "daemon", "reload", d->id, attrs, ARRAY_SIZE(attrs));
}

static void reload_done(uv_work_t *w, int status)
{
    struct reload_job *j = container_of(w, struct reload_job, work);

    if (status < 0 || j->r < 0) {
        BT_LOG(ERROR, "daemon", "reload failed, keeping the running configuration", "err=\"%s\"",
               bt_log_q(j->err ? j->err->msg : uv_strerror(status)));
    } else if (!j->d->shutting_down) {
        reload_apply(j->d, &j->next);
        reload_publish(j->d);
        BT_LOG(INFO, "daemon", "configuration reloaded", "log_level=%s debug=%d",
               bt_log_level_name(j->d->cfg.log_level), j->d->cfg.debug);
    }
    if (j->r == 0)
        bt_config_done(&j->next);
    bt_err_free(j->err);
    free(j);
}

static void daemon_reload(struct bt_daemon *d)
{
    struct reload_job *j = calloc(1, sizeof(*j));

    if (!j)
        return;
    j->d = d;
    if (uv_queue_work(d->loop, &j->work, reload_work, reload_done) < 0)
        free(j);
}

static void daemon_on_signal(uv_signal_t *h, int signum)
{
    struct bt_daemon *d = h->data;

    BT_LOG(INFO, "daemon", "signal", "signal=%s", strsignal(signum));
    if (signum == SIGHUP) {
        daemon_reload(d);
        bt_net_dns_reload(d);
    }
    else
        bt_daemon_shutdown(d);
}

/* How long the loop keeps polling without sleeping after client I/O. A
 * request/response client sends its next request within microseconds;
 * catching it without a sleep and wake-up (tens of microseconds on a VM)
 * halves single-connection latency. An idle daemon never spins. */
#define BT_LOOP_SPIN_NS 50000

int bt_daemon_run(struct bt_daemon *d)
{
    uint64_t seen = d->io_events, last_io = 0;

    for (;;) {
        uint64_t now;

        if (uv_run(d->loop, UV_RUN_NOWAIT) == 0)
            return 0;
        now = uv_hrtime();
        if (d->io_events != seen) {
            seen = d->io_events;
            last_io = now;
            continue;
        }
        if (now - last_io < BT_LOOP_SPIN_NS)
            continue;
        if (uv_run(d->loop, UV_RUN_ONCE) == 0)
            return 0;
        seen = d->io_events;
        last_io = uv_hrtime();
    }
}

void bt_daemon_done(struct bt_daemon *d)
{
    if (d->api)
        api_server_close_all(d->api);
    daemon_close_handles(d);
    d->shutting_down = true; /* monitors are left running, not waited for */
    bt_ctrs_close(d);
    /* Let close callbacks run so every handle is released before freeing. */
    (void)uv_run(d->loop, UV_RUN_DEFAULT);
    bt_ctrs_done(d);
    bt_nets_free(d);
    api_server_free(d->api);
    d->api = NULL;
    bt_events_free(d->events);
    d->events = NULL;
    stor_images_free(d->images);
    d->images = NULL;
    stor_blobmap_free(d->blobmap);
    d->blobmap = NULL;
    stor_layers_free(d->layers);
    d->layers = NULL;
    stor_driver_free(d->driver);
    d->driver = NULL;
    stor_content_free(d->content);
    d->content = NULL;
    if (d->cfg.pidfile)
        (void)unlink(d->cfg.pidfile);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    d->lock_fd = -1;
}
