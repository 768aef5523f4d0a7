/* The daemon: the one loop, its configuration and the modules hanging off it.
 * Loop thread only. */
#ifndef BERTH_DAEMON_H
#define BERTH_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "berth/config.h"

struct bt_events;
struct api_server;
struct stor_images;
struct stor_blobmap;
struct stor_content;
struct stor_driver;
struct stor_layers;
struct bt_registry;
struct bt_blob_fetch;
struct bt_ctrs;
struct bt_execs;
struct bt_cgroups;
struct bt_nets;
struct bt_ports;
struct bt_net_dns;

struct bt_daemon {
    uv_loop_t *loop;
    struct bt_config cfg;
    char id[64];            /* persistent engine id (data-root/engine-id) */
    int64_t started_nano;   /* wall clock at start */
    struct bt_events *events;
    struct stor_images *images;
    struct stor_blobmap *blobmap;
    struct stor_content *content;
    struct stor_driver *driver;
    struct stor_layers *layers;
    struct bt_registry *registry;
    struct bt_blob_fetch *fetches; /* blob downloads under way, shared by pulls */
    struct bt_ctrs *ctrs;   /* container records (src/ctr_store.c) */
    struct bt_execs *execs; /* exec records (src/ctr_exec.c), made on first use */
    struct bt_cgroups *cgroups; /* the host's cgroup layout, detected at start */
    struct bt_nets *nets;   /* network records (src/net_store.c) */
    struct bt_ports *ports; /* published ports (src/ctr_ports.c), made on first use */
    struct bt_net_dns *dns; /* the embedded DNS server (src/net_dns.c) */
    bool images_writing, images_dirty; /* repositories.json write in flight / needed again */
    struct api_server *api;
    int lock_fd;            /* holds the data-root lock for the daemon's life */
    bool shutting_down;
    uint64_t io_events;     /* bumped by client I/O; the run loop spins while it moves */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t shutdown_timer;
};

/* Data-root lock: a second daemon on the same root is refused, naming the
 * holder's pid. Returns the locked fd (CLOEXEC). */
int bt_lock_data_root(const char *data_root, int *ret_fd, struct bt_err **err);
/* Read or create data_root/engine-id (a UUID, as dockerd's engine id). */
int bt_daemon_load_id(const char *data_root, char *ret_id, size_t size, struct bt_err **err);
int bt_daemon_write_pidfile(const char *path, struct bt_err **err);
/* mkdir -p with mode for the missing parts. */
int bt_mkdir_p(const char *path, unsigned mode);

int bt_daemon_init(struct bt_daemon *d, uv_loop_t *loop, struct bt_err **err);
int bt_daemon_run(struct bt_daemon *d);
void bt_daemon_done(struct bt_daemon *d);
/* The registry client, made on first use (it loads libcurl). NULL with *err. */
struct bt_registry *bt_daemon_registry(struct bt_daemon *d, struct bt_err **err);
/* Begin a graceful stop (SIGTERM/SIGINT). */
void bt_daemon_shutdown(struct bt_daemon *d);

#endif
