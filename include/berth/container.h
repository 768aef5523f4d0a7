/* Containers: the daemon's records, their state machine and lifecycle.
 *
 * A container record keeps Docker's own Config and HostConfig objects (the
 * merged, normalised JSON: containers are JSON on disk and on the wire, as
 * image configs are, so this module speaks cJSON) plus the state berth tracks.
 * The record lives at data-root/containers/<id>/config.json; a running
 * container's files live in exec-root/<id>/ (berth/rt_spec.h).
 *
 * Everything here runs on the loop thread unless it says otherwise; what
 * blocks is done on the pool by the functions themselves. Operations that
 * finish later take a callback, which runs on the loop exactly once (also on
 * failure) unless the function itself returned < 0 (then it never runs). */
#ifndef BERTH_CONTAINER_H
#define BERTH_CONTAINER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"

struct bt_daemon;
struct bt_filters;
struct bt_ctr_rt; /* lifecycle bookkeeping of a live record (src/ctr_*.c) */

#define BT_CTR_ID_LEN 64

enum bt_ctr_status {
    BT_CTR_CREATED,
    BT_CTR_RUNNING,
    BT_CTR_PAUSED,
    BT_CTR_RESTARTING,
    BT_CTR_REMOVING,
    BT_CTR_EXITED,
    BT_CTR_DEAD,
    BT_CTR_STATUS_MAX,
};

struct bt_ctr_state {
    enum bt_ctr_status status;
    bool oom_killed;
    int pid;               /* the container's init (host pid), 0 when not running */
    int monitor_pid;       /* berth-monitor, 0 when none */
    int exit_code;
    char *error;           /* last start error, NULL when none */
    int64_t started_nano;  /* 0: never (shown as 0001-01-01T00:00:00Z) */
    int64_t finished_nano;
};

struct bt_ctr {
    char id[BT_CTR_ID_LEN + 1];
    char *name;            /* without the leading '/' */
    char image_id[80];     /* "sha256:<hex>" */
    char top_chain[80];    /* the image's top layer (chain ID), "" when it has none;
                            * the container holds a reference on it */
    int64_t created_nano;
    cJSON *config;         /* Docker Config merged with the image's; Config.Image as typed */
    cJSON *host_config;    /* Docker HostConfig with the daemon's defaults filled in */
    cJSON *networking;     /* NetworkingConfig as given (networking issue), may be NULL */
    char *path;            /* Path and Args of inspect: the command that runs */
    char **args;           /* NULL-terminated */
    struct bt_ctr_state state;
    int restart_count;
    bool has_been_started;
    bool manually_stopped; /* unless-stopped and daemon-start restarts look at it */
    char *rootfs;          /* where the rootfs is mounted while running, else NULL */
    char *log_path;        /* json-file log; "" until the first start (as Docker) */
    char *hostname_path, *hosts_path, *resolv_conf_path; /* "" until the first start */
    char **exec_ids;       /* NULL-terminated, NULL when none (I/O issue) */
    struct bt_ctr_rt *rt;
};

struct bt_kv;
/* Config.Labels as pairs borrowed from the record (the array is malloc'd;
 * free it, not the strings). -ENOMEM. */
int bt_ctr_labels(const struct bt_ctr *c, struct bt_kv **ret, size_t *ret_n);

/* Docker's status word ("created", "running", ...). ANY. */
const char *bt_ctr_status_name(enum bt_ctr_status s);

/* ---- the store (src/ctr_store.c) ---------------------------------------------- */

/* Start-up, blocking: load every record under data-root/containers (a record
 * that does not parse is moved aside and logged, never fatal), then reconnect
 * to the monitors of running containers, learn the exit codes of those that
 * ended while the daemon was down, and start those whose restart policy says
 * so. */
int bt_ctrs_open(struct bt_daemon *d, struct bt_err **err);
/* Shutdown: with live-restore (berth's default) leave the containers running;
 * without it stop them (each with its stop timeout), then call done. */
void bt_ctrs_shutdown(struct bt_daemon *d, void (*done)(void *arg), void *arg);
/* Before the loop's last run: close every handle the containers hold
 * (monitors keep running). */
void bt_ctrs_close(struct bt_daemon *d);
/* After it: free the records and the cgroup layout. */
void bt_ctrs_done(struct bt_daemon *d);
/* Free the records only (src/ctr_store.c; bt_ctrs_done calls it). */
void bt_ctrs_free(struct bt_daemon *d);

size_t bt_ctrs_count(const struct bt_daemon *d);
/* Newest first (by creation time). */
struct bt_ctr *bt_ctrs_at(const struct bt_daemon *d, size_t i);
/* Docker's lookup: full ID, then exact name (with or without '/'), then a
 * unique ID prefix. BT_ENOTFOUND "No such container: x"; an ambiguous prefix
 * is BT_EINVAL "Multiple IDs found with provided prefix: x". */
int bt_ctr_lookup(const struct bt_daemon *d, const char *name_or_id, struct bt_ctr **ret,
                  struct bt_err **err);
/* The container holding name (without '/'), NULL when free. */
struct bt_ctr *bt_ctr_by_name(const struct bt_daemon *d, const char *name);
/* Containers whose image is image_id. */
size_t bt_ctrs_using_image(const struct bt_daemon *d, const char *image_id,
                           struct bt_ctr **ret_first);
/* Counts for /info. */
void bt_ctrs_counts(const struct bt_daemon *d, size_t *ret_running, size_t *ret_paused,
                    size_t *ret_stopped);

/* Name rules: [a-zA-Z0-9][a-zA-Z0-9_.-]+ after an optional '/'. ANY. 0 or
 * BT_EINVAL "Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed". */
int bt_ctr_name_check(const char *name, struct bt_err **err);
/* A generated name "adjective_surname" not in use (ret_name malloc'd). */
int bt_ctr_name_generate(const struct bt_daemon *d, char **ret_name);

/* Write the record (config.json) atomically on the pool; records written
 * while one write is in flight are coalesced. Errors are logged. */
void bt_ctr_persist(struct bt_daemon *d, struct bt_ctr *c);

/* ---- lifecycle (src/ctr_*.c) -------------------------------------------------- */

typedef void (*bt_ctr_done_fn)(void *arg, struct bt_ctr *c, const struct bt_err *err);

/* Create: `config` and `host_config` (taken, whatever the result) are the
 * request's, already checked for shape by the API; this merges the image's
 * config, fills the daemon's defaults and writes the record. BT_ENOTFOUND
 * "No such image: ref" when the image is not here (the CLI pulls and
 * retries); BT_ECONFLICT naming the holder when the name is taken; name NULL
 * or "" generates one. done gets the new container. Emits "create". */
int bt_ctr_create(struct bt_daemon *d, const char *name, cJSON *config, cJSON *host_config,
                  cJSON *networking, bt_ctr_done_fn done, void *arg, struct bt_err **err);
/* Start; BT_ENOTMODIFIED when running. A failure reaches done with the
 * runtime's message (errno text included) and leaves the container "created"
 * with State.Error and ExitCode 125/126/127. Emits "start". */
int bt_ctr_start(struct bt_daemon *d, struct bt_ctr *c, bt_ctr_done_fn done, void *arg,
                 struct bt_err **err);
/* Stop: the StopSignal (signal NULL: the container's, else SIGTERM), then
 * SIGKILL after timeout seconds (-1: the container's StopTimeout, else 10).
 * done runs once the process is gone. BT_ENOTMODIFIED when not running.
 * Emits "kill", "die", "stop". */
int bt_ctr_stop(struct bt_daemon *d, struct bt_ctr *c, int timeout, const char *signal,
                bt_ctr_done_fn done, void *arg, struct bt_err **err);
/* Stop if running, then start. Emits "restart". */
int bt_ctr_restart(struct bt_daemon *d, struct bt_ctr *c, int timeout, const char *signal,
                   bt_ctr_done_fn done, void *arg, struct bt_err **err);
/* Send a signal (a number, a name with or without SIG; NULL = KILL).
 * BT_ECONFLICT "Container x is not running"; BT_EINVAL "Invalid signal: x". */
int bt_ctr_kill(struct bt_daemon *d, struct bt_ctr *c, const char *signal, struct bt_err **err);
/* Set the window size of the container's tty (TIOCSWINSZ through its
 * monitor; the process gets SIGWINCH). A no-op without a tty, as dockerd.
 * BT_ECONFLICT when not running. */
int bt_ctr_resize(struct bt_daemon *d, struct bt_ctr *c, unsigned rows, unsigned cols,
                  struct bt_err **err);
/* Freeze / thaw the container's cgroup. BT_ECONFLICT when not running,
 * already paused or not paused. Emits "pause" / "unpause". */
int bt_ctr_pause(struct bt_daemon *d, struct bt_ctr *c, bool pause, bt_ctr_done_fn done,
                 void *arg, struct bt_err **err);
/* Remove: BT_ECONFLICT for a running container unless force (then it is
 * killed first). Removes the rootfs mount, writable layer, cgroup, run
 * directory and record; `volumes` removes anonymous volumes (volumes issue).
 * Emits "destroy". */
int bt_ctr_remove(struct bt_daemon *d, struct bt_ctr *c, bool force, bool volumes,
                  bt_ctr_done_fn done, void *arg, struct bt_err **err);
/* Rename; BT_ECONFLICT when taken. Emits "rename" with oldName. */
int bt_ctr_rename(struct bt_daemon *d, struct bt_ctr *c, const char *new_name,
                  struct bt_err **err);
/* Update resources and/or the restart policy: `update` is the request body
 * (Resources keys at top level plus RestartPolicy), borrowed. Applied to the
 * cgroup of a running container and to the record. Emits "update". */
int bt_ctr_update(struct bt_daemon *d, struct bt_ctr *c, const cJSON *update,
                  bt_ctr_done_fn done, void *arg, struct bt_err **err);

enum bt_ctr_wait_cond {
    BT_CTR_WAIT_NOT_RUNNING,
    BT_CTR_WAIT_NEXT_EXIT,
    BT_CTR_WAIT_REMOVED,
    BT_CTR_WAIT_MAX,
};
struct bt_ctr_waiter;
/* exit_code is the code of the exit that satisfied the wait; err is set when
 * the wait ended otherwise (daemon shutdown). */
typedef void (*bt_ctr_wait_fn)(void *arg, int exit_code, const struct bt_err *err);
/* Attach (ctr_attach.c): a client's session on the container's stdio. A
 * session made before a start waits for it (the output from its first
 * byte is kept for it). output gets the bytes for the client (multiplexed
 * frames without a tty, raw with one) and returns 1 to pause until
 * bt_ctr_attach_output_resume; end runs once when the stream is over (the
 * container's output ended, the record went away). The caller frees the
 * session with bt_ctr_attach_free (after end, or when its client left:
 * a detach, the container runs on); no callback runs after that. */
struct bt_ctr_attach;
struct bt_ctr_attach_ops {
    int (*output)(void *arg, const char *data, size_t len);
    void (*input_resume)(void *arg); /* the client may send stdin again */
    void (*end)(void *arg);
};
int bt_ctr_attach(struct bt_daemon *d, struct bt_ctr *c, bool in, bool out, bool err,
                  const struct bt_ctr_attach_ops *ops, void *arg, struct bt_ctr_attach **ret,
                  struct bt_err **e);
/* The client's stdin bytes; 1: pause reading until ops->input_resume. */
int bt_ctr_attach_input(struct bt_ctr_attach *a, const char *data, size_t len);
/* The client closed its stdin (CloseWrite). */
void bt_ctr_attach_input_eof(struct bt_ctr_attach *a);
void bt_ctr_attach_output_resume(struct bt_ctr_attach *a);
void bt_ctr_attach_free(struct bt_ctr_attach *a);

/* Wait for a condition; done may run before this returns (not-running on a
 * stopped container). *ret (may be NULL) lets the caller cancel. */
int bt_ctr_wait(struct bt_daemon *d, struct bt_ctr *c, enum bt_ctr_wait_cond cond,
                bt_ctr_wait_fn done, void *arg, struct bt_ctr_waiter **ret);
/* Cancel a pending wait (the client left); done does not run. */
void bt_ctr_wait_cancel(struct bt_ctr_waiter *w);

/* `ps` output for /top: titles and rows (all strings), from ps_args (NULL:
 * "-ef") filtered to the container's processes. Runs on the pool. */
typedef void (*bt_ctr_top_fn)(void *arg, char **titles, size_t n_titles, char ***rows,
                              size_t n_rows, const struct bt_err *err);
int bt_ctr_top(struct bt_daemon *d, struct bt_ctr *c, const char *ps_args, bt_ctr_top_fn done,
               void *arg, struct bt_err **err);

/* Remove every stopped container that matches (filters until, label).
 * done gets the removed IDs and the bytes reclaimed. */
typedef void (*bt_ctr_prune_fn)(void *arg, char **ids, size_t n_ids, uint64_t reclaimed,
                                const struct bt_err *err);
int bt_ctrs_prune(struct bt_daemon *d, const struct bt_filters *f, bt_ctr_prune_fn done,
                  void *arg, struct bt_err **err);

/* Sizes of the writable layer and of the whole rootfs (ps -s, inspect
 * ?size=1), measured on the pool: done gets one pair per container, in order. */
typedef void (*bt_ctr_sizes_fn)(void *arg, const int64_t *size_rw, const int64_t *size_rootfs,
                                size_t n);
int bt_ctr_sizes(struct bt_daemon *d, struct bt_ctr *const *ctrs, size_t n, bt_ctr_sizes_fn done,
                 void *arg, struct bt_err **err);

#endif
