/* The containers across daemon restarts: at start-up find the monitors of
 * running containers again (or the exit codes they left), clear what died
 * with the old daemon, and start what the restart policies say; at shutdown
 * leave containers running (live-restore, berth's default) or stop them. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cgroup.h"
#include "berth/daemon.h"
#include "berth/log.h"
#include "berth/network.h"
#include "berth/ports.h"
#include "berth/rt_spec.h"
#include "berth/storage.h"
#include "src/ctr-internal.h"
#include "berth/exec.h"
#include "src/ctr-lifecycle.h"

static bool pid_gone(int pid);

static int read_int_file(const char *dir, const char *name, long long *ret, struct stat *st)
{
    _cleanup_free_ char *path = NULL;
    FILE *f;
    int n;

    if (asprintf(&path, "%s/%s", dir, name) < 0 || !(f = fopen(path, "re")))
        return -1;
    n = fscanf(f, "%lld", ret);
    if (st && fstat(fileno(f), st) < 0)
        n = 0;
    fclose(f);
    return n == 1 ? 0 : -1;
}

/* Whether pid is the monitor serving run (not a stranger that reused it). */
static bool is_monitor_of(int pid, const char *run)
{
    char path[64], buf[PATH_MAX + 64];
    ssize_t n;
    int fd;

    if (pid_gone(pid))
        return false;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    size_t l0 = strlen(buf);
    return (size_t)n > l0 + 1 && strcmp(buf + l0 + 1, run) == 0;
}

/* The API answers a start before the record saying "running" is written: a
 * kill -9 in between leaves a record that says created (or exited, or
 * restarting) while the run directory shows a monitor that started the
 * container. Believe the run directory, as the record would have: the
 * container is running (or ended later, as its exit file says). */
static bool adopt_unrecorded_start(struct bt_daemon *d, struct bt_ctr *c, const char *run)
{
    long long mpid, pid, code, oom, finished = 0;
    struct stat st;
    bool alive, ended_later = false;
    _cleanup_free_ char *exit_path = NULL;
    FILE *f;

    if (c->state.status != BT_CTR_CREATED && c->state.status != BT_CTR_EXITED &&
        c->state.status != BT_CTR_RESTARTING)
        return false;
    if (read_int_file(run, BT_RT_MONITOR_PID_FILE, &mpid, NULL) < 0 || mpid <= 0 ||
        read_int_file(run, BT_RT_PID_FILE, &pid, &st) < 0 || pid <= 0)
        return false;
    alive = is_monitor_of((int)mpid, run);
    if (asprintf(&exit_path, "%s/" BT_RT_EXIT_FILE, run) >= 0 && (f = fopen(exit_path, "re"))) {
        ended_later = fscanf(f, "%lld %lld %lld", &code, &oom, &finished) == 3 &&
                      finished > c->state.finished_nano;
        fclose(f);
    }
    if (!alive && !ended_later)
        return false;
    BT_LOG(WARN, "container", "found a start the record missed (daemon killed meanwhile)",
           "id=%.12s pid=%lld monitor_pid=%lld", c->id, pid, mpid);
    c->state.status = BT_CTR_RUNNING;
    c->state.pid = (int)pid;
    c->state.monitor_pid = (int)mpid;
    c->state.exit_code = 0;
    c->state.oom_killed = false;
    free(c->state.error);
    c->state.error = NULL;
    c->state.started_nano = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    c->state.finished_nano = 0;
    c->has_been_started = true;
    bt_ctr_persist(d, c);
    return true;
}

/* Start-up, blocking: the cgroups, rootfs mounts and run directories of our
 * stopped containers are leftovers of a daemon or monitor that died during
 * a teardown. Only our own records are looked at: another daemon may share
 * the cgroup parent. */
static void reconcile_leftovers(struct bt_daemon *d)
{
    for (size_t i = 0; i < bt_ctrs_count(d); i++) {
        struct bt_ctr *c = bt_ctrs_at(d, i);
        if (c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED)
            continue;
        _cleanup_free_ char *run0 = ctr_run_path(d, c, NULL);
        if (run0 && adopt_unrecorded_start(d, c, run0))
            continue;
        _cleanup_free_ char *rootfs = ctr_path(d, c, "rootfs");
        _cleanup_free_ char *run = ctr_run_path(d, c, NULL);
        (void)bt_cg_remove(d->cgroups, c->id, NULL);
        if (rootfs)
            (void)stor_driver_unmount(d->driver, rootfs, NULL);
        bt_net_ctr_release(d, c);
        if (run) {
            bt_net_wire_down(run);
            (void)stor_rm_rf(run);
        }
    }
}

/* Whether pid is gone: no such process, or a zombie nobody reaped yet (the
 * old daemon was its parent; after its death the reaper may be slow). */
static bool pid_gone(int pid)
{
    char path[64], buf[512];
    const char *rp;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    /* The state follows the command name, which may hold ')' itself. */
    rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* Start-up, blocking. 1 with the exit the monitor recorded (the container
 * ended while the daemon was down), 0 when its monitor is dead without one
 * (killed), -1 when the monitor may still be running: ask it. */
static int ended_while_away(const struct bt_daemon *d, const struct bt_ctr *c, const char *run,
                            int *code, int64_t *finished)
{
    _cleanup_free_ char *path = NULL;
    FILE *f;
    int oom, n = 0;

    if (asprintf(&path, "%s/" BT_RT_EXIT_FILE, run) < 0)
        return -1;
    if ((f = fopen(path, "re"))) {
        n = fscanf(f, "%d %d %" SCNd64, code, &oom, finished);
        fclose(f);
        if (n == 3)
            return 1;
    }
    /* No exit file and no monitor: nobody will ever write one. A live pid
     * (the monitor, or a stranger that reused it) goes the long way. */
    if (c->state.monitor_pid > 0 && pid_gone(c->state.monitor_pid)) {
        /* The monitor may have written the file between the two looks. */
        if ((f = fopen(path, "re"))) {
            n = fscanf(f, "%d %d %" SCNd64, code, &oom, finished);
            fclose(f);
            if (n == 3)
                return 1;
        }
        /* The old daemon had the exit and tore the run directory down, but
         * was killed before the record said so: its teardown kept a copy. */
        if (ctr_saved_exit_read(d, c, code, finished) == 0)
            return 1;
        return 0;
    }
    return -1;
}

/* A container found running again: its published ports and its DNS. */
static void restore_net_services(struct bt_daemon *d, struct bt_ctr *c, const char *run)
{
    bt_ports_restore(d, c);
    bt_net_dns_restore(d, c, run);
}

int bt_ctrs_open(struct bt_daemon *d, struct bt_err **err)
{
    size_t n;

    if (bt_cg_open("berth", &d->cgroups, err) < 0)
        return bt_err_wrap(err, "cgroups");
    if (!(d->ctrs = bt__ctrs_new()))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (bt__ctrs_load(d, err) < 0)
        return bt_err_wrap(err, "load containers");
    reconcile_leftovers(d);
    n = bt_ctrs_count(d);
    for (size_t i = 0; i < n; i++) {
        struct bt_ctr *c = bt_ctrs_at(d, i);
        struct bt_ctr_rt *rt = ctr_rt(d, c);
        _cleanup_free_ char *run = ctr_run_path(d, c, NULL);
        _cleanup_err_ struct bt_err *e = NULL;

        if (!rt || !run)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        switch (c->state.status) {
        case BT_CTR_RUNNING:
        case BT_CTR_PAUSED: {
            int code;
            int64_t finished;
            int ended = ended_while_away(d, c, run, &code, &finished);

            /* Ended while we were away: settle it before the API serves, or
             * the first `docker ps` lists a dead container as Up. */
            if (ended > 0)
                ctr_exited_at_start(d, c, true, code, finished);
            else if (ended == 0)
                ctr_exited_at_start(d, c, false, 0, 0);
            /* Else the monitor answers, or its exit file says how it ended. */
            else if (ctr_monitor_attach(d, c, run) < 0)
                ctr_exited(d, c, false, 0, 0);
            else
                restore_net_services(d, c, run);
            break;
        }
        case BT_CTR_RESTARTING:
            ctr_restart_schedule(d, c, 0);
            break;
        case BT_CTR_REMOVING:
            ctr_remove_now(d, c);
            break;
        default: {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(ctr_hc(c, "RestartPolicy"), "Name");
            bool at_start = cJSON_IsString(p) && (strcmp(p->valuestring, "always") == 0 ||
                                                  strcmp(p->valuestring, "unless-stopped") == 0);
            if (at_start && c->has_been_started && ctr_policy_restarts(c, c->state.exit_code, true) &&
                ctr_start_internal(d, c, &e) < 0)
                BT_LOG(WARN, "container", "restart at daemon start failed", "id=%.12s err=\"%s\"",
                       c->id, bt_log_q(e->msg));
            break;
        }
        }
    }
    bt_ports_reconcile(d);
    BT_LOG(DEBUG, "container", "containers loaded", "count=%zu", n);
    return 0;
}

/* ---- shutdown ---------------------------------------------------------------------- */

struct shutdown_op {
    size_t pending;
    void (*done)(void *arg);
    void *arg;
};

static void shutdown_one(void *arg, struct bt_ctr *c, const struct bt_err *err)
{
    struct shutdown_op *op = arg;

    (void)c, (void)err;
    if (--op->pending == 0) {
        op->done(op->arg);
        free(op);
    }
}

static void forget_timers(struct bt_ctr *c)
{
    struct bt_ctr_rt *rt = c->rt;

    if (!rt)
        return;
    if (rt->restart_timer) {
        uv_close((uv_handle_t *)rt->restart_timer, (uv_close_cb)free);
        rt->restart_timer = NULL;
    }
    if (rt->stop_timer) {
        uv_close((uv_handle_t *)rt->stop_timer, (uv_close_cb)free);
        rt->stop_timer = NULL;
    }
}

void bt_ctrs_shutdown(struct bt_daemon *d, void (*done)(void *arg), void *arg)
{
    struct shutdown_op *op = calloc(1, sizeof(*op));
    size_t n = bt_ctrs_count(d);

    if (!op) {
        done(arg);
        return;
    }
    op->done = done;
    op->arg = arg;
    op->pending = 1;
    for (size_t i = 0; i < n; i++) {
        struct bt_ctr *c = bt_ctrs_at(d, i);
        bool live = c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED;

        if (!d->cfg.live_restore && live) {
            op->pending++;
            if (bt_ctr_stop(d, c, -1, NULL, shutdown_one, op, NULL) < 0)
                op->pending--;
        }
    }
    shutdown_one(op, NULL, NULL);
}

/* After the loop has stopped: drop the run-time bookkeeping (monitors keep
 * running), then the records. */
void bt_ctrs_close(struct bt_daemon *d)
{
    size_t n = bt_ctrs_count(d);

    bt_execs_close(d);
    bt_ports_close(d);
    for (size_t i = 0; i < n; i++) {
        struct bt_ctr *c = bt_ctrs_at(d, i);
        if (!c->rt)
            continue;
        forget_timers(c);
        ctr_monitor_detach(c);
        for (struct bt_ctr_waiter *w = c->rt->waiters; w;) {
            struct bt_ctr_waiter *next = w->next;
            free(w);
            w = next;
        }
        c->rt->waiters = NULL;
    }
}

void bt_ctrs_done(struct bt_daemon *d)
{
    size_t n = bt_ctrs_count(d);

    for (size_t i = 0; i < n; i++) {
        struct bt_ctr *c = bt_ctrs_at(d, i);
        free(c->rt);
        c->rt = NULL;
    }
    bt_execs_free(d);
    bt_ports_free(d);
    bt_ctrs_free(d);
    bt_cg_free(d->cgroups);
    d->cgroups = NULL;
}
