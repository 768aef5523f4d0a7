/* Private to the container lifecycle files (src/ctr_*.c): the bookkeeping a
 * live record carries and the steps they share. Loop thread unless noted. */
#ifndef BERTH_CTR_LIFECYCLE_H
#define BERTH_CTR_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "berth/container.h"
#include "berth/kv.h"

struct bt_daemon;
struct ctr_monitor;

/* One pending completion of an operation (start, stop, pause...). */
struct ctr_cb {
    struct ctr_cb *next;
    bt_ctr_done_fn fn;
    void *arg;
};

struct bt_ctr_waiter {
    struct bt_ctr_waiter *next, **pprev;
    struct bt_ctr *c;
    enum bt_ctr_wait_cond cond;
    bt_ctr_wait_fn fn;
    void *arg;
};

enum ctr_phase {
    CTR_IDLE,      /* nothing under way */
    CTR_STARTING,  /* preparing, or waiting for the monitor's report */
    CTR_CLEANING,  /* the process ended: tearing down its run-time state */
    CTR_REMOVING,  /* the record is going away */
    CTR_PHASE_MAX,
};

struct bt_ctr_rt {
    struct bt_daemon *d;
    struct bt_ctr *c;
    enum ctr_phase phase;
    struct ctr_monitor *mon;     /* the monitor session while one is known */
    struct ctr_cb *start_cbs;    /* callers of a start under way */
    struct ctr_cb *stop_cbs;     /* callers waiting for the process to end */
    struct ctr_cb *remove_cbs;   /* callers of a removal under way */
    struct bt_ctr_waiter *waiters;
    uv_timer_t *stop_timer;      /* SIGKILL after the stop timeout */
    uv_timer_t *restart_timer;   /* restart policy back-off */
    int64_t restart_delay_ms;    /* the next back-off */
    bool stopping;               /* a stop or kill asked for this exit: no restart */
    bool stop_event;             /* a stop is waiting: emit "stop" after "die" */
    bool want_remove;            /* remove once the process is gone (rm -f, --rm) */
    bool remove_volumes;
    bool busy_pool;              /* a pool job holds the record */
    struct bt_ctr_attach *attaches; /* attach sessions waiting for a start */
};

/* The record's bookkeeping, made on first use; NULL on ENOMEM. */
struct bt_ctr_rt *ctr_rt(struct bt_daemon *d, struct bt_ctr *c);

/* Run every callback of a list with c and err, emptying it. */
void ctr_cbs_run(struct ctr_cb **list, struct bt_ctr *c, const struct bt_err *err);
int ctr_cbs_add(struct ctr_cb **list, bt_ctr_done_fn fn, void *arg);

/* Container events carry image, name and the labels. */
void ctr_event(struct bt_daemon *d, const struct bt_ctr *c, const char *action,
               const char *extra_key, const char *extra_value);

/* The monitor session (ctr_monitor.c). Spawn berth-monitor for c's run
 * directory; report is called once with the start result. */
typedef void (*ctr_report_fn)(struct bt_ctr *c, int pid, int exit_code, const char *msg);
int ctr_monitor_spawn(struct bt_daemon *d, struct bt_ctr *c, const char *run_dir,
                      ctr_report_fn report, struct bt_err **err);
/* Reconnect to the monitor of a container found running at start-up. */
int ctr_monitor_attach(struct bt_daemon *d, struct bt_ctr *c, const char *run_dir);
/* Connect p (initialised) to the control socket of the monitor of run_dir,
 * whatever the path's length; cb as uv_pipe_connect's. */
int ctr_monitor_sock_connect(const char *run_dir, uv_connect_t *req, uv_pipe_t *p,
                             uv_connect_cb cb);
/* Attach sessions (ctr_attach.c): is one waiting for the start; the start
 * reported ok (connect them); the record goes away (end them). */
bool ctr_attach_pending(const struct bt_ctr *c);
void ctr_attach_started(struct bt_ctr *c);
void ctr_attach_end_pending(struct bt_ctr *c);
/* Sessions on a monitor other than a container's (an exec's), not tied to
 * a record: made waiting in *list (bt_ctr_attach_free unlinks it too), then
 * connected to run_dir's monitor once it reported ok, or ended. */
struct bt_ctr_attach *ctr_attach_new_pending(struct bt_daemon *d, struct bt_ctr_attach **list,
                                             bool in, bool out, bool err,
                                             const struct bt_ctr_attach_ops *ops, void *arg);
void ctr_attach_connect_list(struct bt_ctr_attach **list, const char *run_dir);
void ctr_attach_end_list(struct bt_ctr_attach **list);
/* berth-monitor's path: next to berthd, else looked up in PATH. */
const char *ctr_monitor_path(void);
/* Container events with extra attributes first (execID, exitCode...). */
void ctr_event_attrs(struct bt_daemon *d, const struct bt_ctr *c, const char *action,
                     const struct bt_kv *extra, size_t n_extra);
/* Ask the monitor to signal the container's init. */
int ctr_monitor_signal(struct bt_ctr *c, int sig, struct bt_err **err);
/* Ask the monitor to set the tty's window size. */
int ctr_monitor_resize(struct bt_ctr *c, unsigned rows, unsigned cols, struct bt_err **err);
/* Forget the session (shutdown with live-restore): close handles, keep the
 * monitor running. */
void ctr_monitor_detach(struct bt_ctr *c);

/* The process ended (ctr_exit.c): code and finish time as the monitor wrote
 * them (have_exit false: unknown, the monitor vanished). Tears down and runs
 * policies. */
/* The exit a teardown kept next to the record (data-root/containers/<id>/
 * CTR_SAVED_EXIT_FILE) until the record says "exited": 0 with the code and
 * finish time when it belongs to the run of c->state.monitor_pid, else -1. */
#define CTR_SAVED_EXIT_FILE "last-exit"
int ctr_saved_exit_read(const struct bt_daemon *d, const struct bt_ctr *c, int *code,
                        int64_t *finished);
void ctr_exited(struct bt_daemon *d, struct bt_ctr *c, bool have_exit, int code,
                int64_t finished_nano);
/* The same at daemon start-up, before the API serves: the teardown runs
 * here (blocking), so the first request already sees the container exited. */
void ctr_exited_at_start(struct bt_daemon *d, struct bt_ctr *c, bool have_exit, int code,
                         int64_t finished_nano);

/* Undo what a start made (ctr_exit.c), on the pool: read the cgroup's OOM
 * count, remove the cgroup, unmount the rootfs, remove the run directory.
 * done runs on the loop; < 0 when it could not be queued (done never runs). */
typedef void (*ctr_teardown_fn)(struct bt_daemon *d, struct bt_ctr *c, bool oom, void *arg);
int ctr_teardown(struct bt_daemon *d, struct bt_ctr *c, ctr_teardown_fn done, void *arg);

/* Start steps shared with restarts (ctr_start.c). */
int ctr_start_internal(struct bt_daemon *d, struct bt_ctr *c, struct bt_err **err);

/* Waiters (ctr_wait.c): wake those a state change satisfies. */
void ctr_waiters_exit(struct bt_ctr *c, int exit_code, bool restarting);
void ctr_waiters_removed(struct bt_ctr *c, int exit_code);

/* Removal steps (ctr_remove.c) once the process is gone. */
void ctr_remove_now(struct bt_daemon *d, struct bt_ctr *c);

/* Restart policy (ctr_restart.c): true when the policy restarts after this exit. */
bool ctr_policy_restarts(const struct bt_ctr *c, int exit_code, bool daemon_start);
void ctr_restart_schedule(struct bt_daemon *d, struct bt_ctr *c, int64_t ran_ms);
void ctr_restart_cancel(struct bt_ctr *c);

/* Thaw a paused container's cgroup in the background (after a SIGKILL). */
void ctr_thaw_async(struct bt_daemon *d, struct bt_ctr *c);

/* Paths under the data root and exec root (malloc'd; NULL on ENOMEM). */
char *ctr_path(const struct bt_daemon *d, const struct bt_ctr *c, const char *leaf);
char *ctr_run_path(const struct bt_daemon *d, const struct bt_ctr *c, const char *leaf);

/* HostConfig / Config readers for canonical keys (the API normalised them). */
const cJSON *ctr_hc(const struct bt_ctr *c, const char *key);
const cJSON *ctr_cfg(const struct bt_ctr *c, const char *key);
int64_t ctr_hc_int(const struct bt_ctr *c, const char *key, int64_t dflt);
bool ctr_hc_bool(const struct bt_ctr *c, const char *key);
const char *ctr_hc_str(const struct bt_ctr *c, const char *key);
const char *ctr_cfg_str(const struct bt_ctr *c, const char *key);

#endif
