/* When a container's process has ended: tear down what its start made, record
 * the exit, tell waiters and stoppers, and let the restart policy or
 * AutoRemove decide what comes next. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cgroup.h"
#include "berth/daemon.h"
#include "berth/fdio.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/network.h"
#include "berth/ports.h"
#include "berth/storage.h"
#include "berth/timeparse.h"
#include "src/ctr-lifecycle.h"

struct teardown_job {
    struct bt_daemon *d;
    struct bt_ctr *c;
    char *run_dir, *rootfs;
    char *saved_exit; /* where the exit is kept meanwhile, or NULL: none known */
    char exit_line[96];
    uint64_t oom_kills;
    ctr_teardown_fn done;
    void *arg;
};

/* The run directory holds the monitor's exit file, and the record says
 * "running" until the write queued after this teardown lands: a daemon
 * killed in between would find neither and give the container exit code
 * 255. So the exit is copied next to the record first (rename: a kill
 * leaves the old copy or the new one), tagged with the monitor's pid so a
 * restore believes it only for the run it belongs to. Not fsync'd: it
 * bridges a daemon kill, and the record write that follows is durable. */
static void save_exit(const char *path, const char *line)
{
    int r = bt_write_file_atomic(path, line, strlen(line), 0600, false);

    if (r < 0)
        BT_LOG(WARN, "container", "cannot keep the exit status", "path=%s err=\"%s\"", path,
               strerror(-r));
}

static void teardown_work(void *arg)
{
    struct teardown_job *j = arg;
    struct bt_daemon *d = j->d;
    _cleanup_err_ struct bt_err *e = NULL;

    if (d->cgroups) {
        (void)bt_cg_oom_kills(d->cgroups, j->c->id, &j->oom_kills, NULL);
        if (bt_cg_remove(d->cgroups, j->c->id, &e) < 0)
            BT_LOG(WARN, "container", "cgroup left behind", "id=%.12s err=\"%s\"", j->c->id,
                   bt_log_q(e->msg));
    }
    bt_err_freep(&e);
    if (j->saved_exit)
        save_exit(j->saved_exit, j->exit_line);
    if (stor_driver_unmount(d->driver, j->rootfs, &e) < 0)
        BT_LOG(WARN, "container", "rootfs left mounted", "id=%.12s err=\"%s\"", j->c->id,
               bt_log_q(e->msg));
    bt_net_wire_down(j->run_dir); /* before the rm: it is a mount point */
    (void)stor_rm_rf(j->run_dir);
}

static void teardown_done(void *arg, bool ran)
{
    struct teardown_job *j = arg;

    j->c->rt->busy_pool = false;
    j->done(j->d, j->c, ran && j->oom_kills > 0, j->arg);
    free(j->run_dir);
    free(j->rootfs);
    free(j->saved_exit);
    free(j);
}

struct exit_info {
    bool have;
    int code;
    int64_t finished;
};

/* The job's paths, and the exit to keep (x with an exit status). */
static int teardown_prepare(struct bt_daemon *d, struct bt_ctr *c, const struct exit_info *x,
                            struct teardown_job *j)
{
    j->d = d;
    j->c = c;
    j->run_dir = ctr_run_path(d, c, NULL);
    j->rootfs = ctr_path(d, c, "rootfs");
    if (x && x->have && c->state.monitor_pid > 0) {
        j->saved_exit = ctr_path(d, c, CTR_SAVED_EXIT_FILE);
        snprintf(j->exit_line, sizeof(j->exit_line), "%d 0 %" PRId64 " %d\n", x->code,
                 x->finished, c->state.monitor_pid);
    }
    if (!j->run_dir || !j->rootfs || (x && x->have && c->state.monitor_pid > 0 && !j->saved_exit)) {
        free(j->run_dir);
        free(j->rootfs);
        free(j->saved_exit);
        return -ENOMEM;
    }
    return 0;
}

static int teardown_queue(struct bt_daemon *d, struct bt_ctr *c, const struct exit_info *x,
                          ctr_teardown_fn done, void *arg)
{
    struct teardown_job *j = calloc(1, sizeof(*j));

    bt_ports_unpublish(d, c);
    bt_net_dns_detach(d, c); /* before the namespace goes */
    if (!j || teardown_prepare(d, c, x, j) < 0) {
        free(j);
        return -ENOMEM;
    }
    j->done = done;
    j->arg = arg;
    if (bt_job_queue(d->loop, teardown_work, teardown_done, j) < 0) {
        free(j->run_dir);
        free(j->rootfs);
        free(j->saved_exit);
        free(j);
        return -ENOMEM;
    }
    c->rt->busy_pool = true;
    return 0;
}

int ctr_teardown(struct bt_daemon *d, struct bt_ctr *c, ctr_teardown_fn done, void *arg)
{
    return teardown_queue(d, c, NULL, done, arg);
}

int ctr_saved_exit_read(const struct bt_daemon *d, const struct bt_ctr *c, int *code,
                        int64_t *finished)
{
    _cleanup_free_ char *path = ctr_path(d, c, CTR_SAVED_EXIT_FILE);
    FILE *f;
    int oom, mpid, n = 0;

    if (!path || !(f = fopen(path, "re")))
        return -1;
    n = fscanf(f, "%d %d %" SCNd64 " %d", code, &oom, finished, &mpid);
    fclose(f);
    return n == 4 && mpid > 0 && mpid == c->state.monitor_pid ? 0 : -1;
}

static void exited_torn_down(struct bt_daemon *d, struct bt_ctr *c, bool oom, void *arg)
{
    struct exit_info *x = arg;
    struct bt_ctr_rt *rt = c->rt;
    int code = x->have ? x->code : 255;
    int64_t ran_ms;
    bool restart;
    char code_s[16];

    bt_net_ctr_release(d, c); /* as dockerd: the address is taken again at the next start */
    c->state.status = BT_CTR_EXITED;
    c->state.pid = 0;
    c->state.monitor_pid = 0;
    c->state.exit_code = code;
    c->state.oom_killed = oom;
    c->state.finished_nano = x->have && x->finished > 0 ? x->finished : bt_now_nano();
    /* StartedAt is stamped when the daemon reads the start report, which can
     * come after a quick process already ended: never show an exit before
     * the start. */
    if (c->state.finished_nano < c->state.started_nano)
        c->state.finished_nano = c->state.started_nano;
    if (!x->have) {
        free(c->state.error);
        c->state.error = strdup("the container's monitor ended without recording an exit status");
    }
    ran_ms = c->state.started_nano > 0 ? (c->state.finished_nano - c->state.started_nano) / 1000000 : 0;
    free(x);
    rt->phase = CTR_IDLE;

    if (oom)
        ctr_event(d, c, "oom", NULL, NULL);
    snprintf(code_s, sizeof(code_s), "%d", code);
    ctr_event(d, c, "die", "exitCode", code_s);

    restart = !rt->stopping && !rt->want_remove && ctr_policy_restarts(c, code, false);
    if (restart)
        c->state.status = BT_CTR_RESTARTING;
    bt_ctr_persist(d, c);
    ctr_waiters_exit(c, code, restart);
    if (rt->stop_event) {
        rt->stop_event = false;
        ctr_event(d, c, "stop", NULL, NULL);
    }
    if (rt->stop_timer) {
        uv_close((uv_handle_t *)rt->stop_timer, (uv_close_cb)free);
        rt->stop_timer = NULL;
    }
    ctr_cbs_run(&rt->stop_cbs, c, NULL);
    rt->stopping = false;
    /* A stop callback may have started it again (restart). */
    if (c->state.status == BT_CTR_RUNNING || rt->phase != CTR_IDLE)
        return;
    if (restart)
        ctr_restart_schedule(d, c, ran_ms);
    else if (rt->want_remove || ctr_hc_bool(c, "AutoRemove"))
        ctr_remove_now(d, c);
}

/* What the exit path carries to exited_torn_down; NULL (logged) on ENOMEM.
 * The record enters the cleaning phase. */
static struct exit_info *exit_begin(struct bt_daemon *d, struct bt_ctr *c, bool have_exit,
                                    int code, int64_t finished_nano)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    struct exit_info *x = calloc(1, sizeof(*x));

    if (!rt || !x) {
        free(x);
        BT_LOG(ERROR, "container", "out of memory handling an exit", "id=%.12s", c->id);
        return NULL;
    }
    x->have = have_exit;
    x->code = code;
    x->finished = finished_nano;
    rt->phase = CTR_CLEANING;
    return x;
}

void ctr_exited(struct bt_daemon *d, struct bt_ctr *c, bool have_exit, int code,
                int64_t finished_nano)
{
    struct exit_info *x = exit_begin(d, c, have_exit, code, finished_nano);

    if (!x)
        return;
    if (teardown_queue(d, c, x, exited_torn_down, x) < 0)
        exited_torn_down(d, c, false, x);
}

void ctr_exited_at_start(struct bt_daemon *d, struct bt_ctr *c, bool have_exit, int code,
                         int64_t finished_nano)
{
    struct exit_info *x = exit_begin(d, c, have_exit, code, finished_nano);
    struct teardown_job j = {0};

    if (!x)
        return;
    if (teardown_prepare(d, c, x, &j) == 0) {
        teardown_work(&j);
        free(j.run_dir);
        free(j.rootfs);
        free(j.saved_exit);
    }
    exited_torn_down(d, c, j.oom_kills > 0, x);
}
