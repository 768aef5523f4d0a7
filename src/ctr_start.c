/* Starting a container: build the plan on the loop, prepare on the pool
 * (run directory, /etc files, rootfs mount, cgroup, seccomp filter, spec),
 * then spawn berth-monitor and wait for its report. A failure at any step
 * undoes the steps before it. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
#include "berth/network.h"
#include "src/ctr-etc.h"
#include "src/ctr-spec.h"

struct start_job {
    struct bt_daemon *d;
    struct bt_ctr *c;
    struct ctr_start_plan plan;
    char *cdir, *run_dir, *rootfs, *rw_dir;
    char *hostname, *hosts, *resolv; /* file contents */
    char top_chain[80];
    bool mounted, cgroup_made, run_dir_made, netns_made;
    struct bt_net_wire *wire;
    int64_t net_ns; /* time the network set-up took */
    struct bt_err *err;
};

static void start_job_free(struct start_job *j)
{
    ctr_plan_done(&j->plan);
    free(j->cdir), free(j->run_dir), free(j->rootfs), free(j->rw_dir);
    free(j->hostname), free(j->hosts), free(j->resolv);
    bt_net_wire_free(j->wire);
    bt_err_free(j->err);
    free(j);
}

/* ---- file contents ------------------------------------------------------------ */

/* Written in place: these files are made again at every start, before the
 * container exists, so a temp name (which a kill -9 could leave behind)
 * buys nothing. */
static int write_file(const char *path, const char *text, mode_t mode, struct bt_err **err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    int r;

    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s: %m", path);
    r = bt_write_full(fd, text, strlen(text));
    close(fd);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "write %s: %s", path, strerror(-r));
    return 0;
}

/* ---- the pool part ---------------------------------------------------------------- */

static void start_undo(struct start_job *j)
{
    struct bt_daemon *d = j->d;

    if (j->cgroup_made)
        (void)bt_cg_remove(d->cgroups, j->c->id, NULL);
    if (j->mounted)
        (void)stor_driver_unmount(d->driver, j->rootfs, NULL);
    if (j->netns_made)
        bt_net_wire_down(j->run_dir);
    if (j->run_dir_made)
        (void)stor_rm_rf(j->run_dir);
    j->cgroup_made = j->mounted = j->run_dir_made = j->netns_made = false;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void start_work(void *arg)
{
    struct start_job *j = arg;
    struct bt_daemon *d = j->d;
    struct bt_rt_spec *s = &j->plan.spec;
    _cleanup_free_ char *spec_path = NULL, *text = NULL, *p = NULL;
    char **procs = NULL;

    /* A run directory left by an earlier run (the daemon died before it
     * tidied up) is stale by now: the record says the container is stopped. */
    bt_net_wire_down(j->run_dir);
    (void)stor_rm_rf(j->run_dir);
    if (bt_mkdir_p(j->run_dir, 0700) < 0) {
        bt_err_set(&j->err, BT_EINTERNAL, errno, "create %s: %m", j->run_dir);
        return;
    }
    j->run_dir_made = true;

    j->net_ns = mono_ns();
    if (bt_net_wire_up(j->wire, &j->err) < 0)
        goto fail;
    j->netns_made = true;
    j->net_ns = mono_ns() - j->net_ns;

    if (write_file(j->c->hostname_path, j->hostname, 0644, &j->err) < 0 ||
        write_file(j->c->hosts_path, j->hosts, 0644, &j->err) < 0 ||
        write_file(j->c->resolv_conf_path, j->resolv, 0644, &j->err) < 0)
        goto fail;

    if (mkdir(j->rootfs, 0755) < 0 && errno != EEXIST) {
        bt_err_set(&j->err, BT_EINTERNAL, errno, "create %s: %m", j->rootfs);
        goto fail;
    }
    /* A mount left by a daemon that died is replaced by a fresh one. */
    (void)stor_driver_unmount(d->driver, j->rootfs, NULL);
    if (stor_driver_mount(d->driver, j->top_chain, j->rw_dir, j->rootfs, &j->err) < 0)
        goto fail;
    j->mounted = true;

    (void)bt_cg_remove(d->cgroups, j->c->id, NULL); /* left by a crash: start clean */
    if (bt_cg_create(d->cgroups, j->c->id, &j->plan.res, &procs, &j->err) < 0)
        goto fail;
    j->cgroup_made = true;
    s->cgroup_procs = procs;

    if (j->plan.seccomp != CTR_SECCOMP_NONE) {
        if (asprintf(&p, "%s/%s", j->run_dir, BT_RT_SECCOMP_FILE) < 0) {
            bt_err_set(&j->err, BT_EINTERNAL, ENOMEM, "out of memory");
            goto fail;
        }
        if (ctr_seccomp_write(j->plan.seccomp == CTR_SECCOMP_PROFILE ? j->plan.seccomp_profile : NULL,
                              s->caps, p, &j->err) < 0)
            goto fail;
        s->seccomp_bpf = TAKE_PTR(p);
    }

    if (bt_rt_spec_encode(s, &text, &j->err) < 0)
        goto fail;
    if (asprintf(&spec_path, "%s/%s", j->run_dir, BT_RT_SPEC_FILE) < 0) {
        bt_err_set(&j->err, BT_EINTERNAL, ENOMEM, "out of memory");
        goto fail;
    }
    if (write_file(spec_path, text, 0600, &j->err) < 0)
        goto fail;
    return;
fail:
    start_undo(j);
}

/* ---- back on the loop ---------------------------------------------------------------- */

/* The start failed before or at exec: Docker keeps "created" (or "exited"
 * after an earlier run) with the exit code and error; callers get the
 * runtime's message (the CLI picks its own exit code from the errno text);
 * an AutoRemove container goes away. */
static void start_finish_failed(struct bt_daemon *d, struct bt_ctr *c, int code, const char *msg)
{
    struct bt_ctr_rt *rt = c->rt;
    _cleanup_err_ struct bt_err *e = NULL;

    bt_err_set(&e, BT_EINVAL, 0, "%s", msg && *msg ? msg : "container failed to start");
    rt->phase = CTR_IDLE;
    bt_net_ctr_release(d, c);
    c->state.status = c->has_been_started ? BT_CTR_EXITED : BT_CTR_CREATED;
    c->state.exit_code = code;
    c->state.pid = 0;
    c->state.monitor_pid = 0;
    free(c->state.error);
    c->state.error = strdup(e->msg);
    BT_LOG(INFO, "container", "start failed", "id=%.12s code=%d err=\"%s\"", c->id, code,
           bt_log_q(e->msg));
    bt_ctr_persist(d, c);
    ctr_cbs_run(&rt->start_cbs, c, e);
    ctr_waiters_exit(c, code, false);
    if (ctr_hc_bool(c, "AutoRemove") || rt->want_remove)
        ctr_remove_now(d, c);
}

struct failed_start {
    int code;
    char *msg;
};

static void start_failed_torn_down(struct bt_daemon *d, struct bt_ctr *c, bool oom, void *arg)
{
    struct failed_start *f = arg;

    (void)oom;
    start_finish_failed(d, c, f->code, f->msg);
    free(f->msg);
    free(f);
}

/* Failed after the pool part succeeded: undo it first. */
static void start_fail_teardown(struct bt_daemon *d, struct bt_ctr *c, int code, const char *msg)
{
    struct failed_start *f = calloc(1, sizeof(*f));

    if (!f || !(f->msg = strdup(msg ? msg : ""))) {
        free(f);
        start_finish_failed(d, c, code, msg);
        return;
    }
    f->code = code;
    c->rt->phase = CTR_CLEANING;
    if (ctr_teardown(d, c, start_failed_torn_down, f) < 0)
        start_failed_torn_down(d, c, false, f);
}

static void on_report(struct bt_ctr *c, int pid, int exit_code, const char *msg)
{
    struct bt_ctr_rt *rt = c->rt;
    struct bt_daemon *d = rt->d;

    if (pid <= 0) {
        start_fail_teardown(d, c, exit_code ? exit_code : 125, msg);
        return;
    }
    rt->phase = CTR_IDLE;
    c->state.status = BT_CTR_RUNNING;
    c->state.pid = pid;
    c->state.exit_code = 0;
    c->state.oom_killed = false;
    free(c->state.error);
    c->state.error = NULL;
    c->state.started_nano = bt_now_nano();
    c->state.finished_nano = 0;
    c->has_been_started = true;
    bt_ctr_persist(d, c);
    ctr_event(d, c, "start", NULL, NULL);
    ctr_attach_started(c);
    ctr_cbs_run(&rt->start_cbs, c, NULL);
}

/* For contrib/bench/net-bench.sh: the namespace and endpoints' share of a start. */
static void log_net_time(const struct bt_ctr *c, int64_t ns)
{
    BT_LOG(DEBUG, "net", "container network set up", "id=%.12s us=%lld", c->id,
           (long long)(ns / 1000));
}

/* The ports are published (or could not be): the monitor may start. */
static void start_ports_done(struct bt_daemon *d, struct bt_ctr *c, const struct bt_err *err,
                             void *arg)
{
    _cleanup_free_ char *run_dir = ctr_run_path(d, c, NULL);
    _cleanup_err_ struct bt_err *e = NULL;

    (void)arg;
    if (err)
        start_fail_teardown(d, c, 125, err->msg);
    else if (!run_dir)
        start_fail_teardown(d, c, 125, "out of memory");
    else if (ctr_monitor_spawn(d, c, run_dir, on_report, &e) < 0)
        start_fail_teardown(d, c, 125, e->msg);
}

/* The embedded DNS serves c's namespace (or could not: c runs without it,
 * as it would with a resolver that does not answer). Next: its ports. */
static void start_dns_done(void *arg, struct bt_ctr *c, const struct bt_err *err)
{
    struct bt_daemon *d = arg;

    if (!c)
        return;
    if (err)
        BT_LOG(WARN, "net", "no embedded DNS for the container", "id=%.12s err=\"%s\"", c->id,
               bt_log_q(err->msg));
    bt_ports_publish(d, c, start_ports_done, NULL);
}

static void start_done(void *arg, bool ran)
{
    struct start_job *j = arg;
    struct bt_daemon *d = j->d;
    struct bt_ctr *c = j->c;

    c->rt->busy_pool = false;
    if (!ran) {
        start_finish_failed(d, c, 125, "the daemon is shutting down");
    } else if (j->err) {
        start_finish_failed(d, c, 125, j->err->msg);
    } else {
        _cleanup_err_ struct bt_err *e = NULL;
        const char *netns = bt_net_wire_path(j->wire);
        log_net_time(c, j->net_ns);
        /* Before the process runs, so that its first query finds the server. */
        int r = netns ? bt_net_dns_attach(d, c, netns, start_dns_done, d, &e) : 0;
        if (r < 0)
            start_dns_done(d, c, e);
        else if (r == 0)
            bt_ports_publish(d, c, start_ports_done, NULL);
    }
    start_job_free(j);
}

static char *hostname_of(const struct bt_ctr *c, bool host_net)
{
    const char *h = ctr_cfg_str(c, "Hostname");
    const char *dn = ctr_cfg_str(c, "Domainname");
    char buf[256];

    if (host_net && (!h || !*h) && gethostname(buf, sizeof(buf) - 1) == 0) {
        buf[sizeof(buf) - 1] = 0;
        h = buf;
    }
    (void)dn; /* /etc/hostname holds the short name only, as in Docker */
    char *out;
    if (asprintf(&out, "%s\n", h && *h ? h : "localhost") < 0)
        return NULL;
    return out;
}

/* Set the paths Docker shows once a container has started. */
static int ctr_set_paths(struct bt_daemon *d, struct bt_ctr *c)
{
    char *hn = ctr_path(d, c, "hostname"), *hosts = ctr_path(d, c, "hosts");
    char *rc = ctr_path(d, c, "resolv.conf"), *log = NULL;

    if (asprintf(&log, "%s/containers/%s/%s-json.log", d->cfg.data_root, c->id, c->id) < 0)
        log = NULL;
    if (!hn || !hosts || !rc || !log) {
        free(hn), free(hosts), free(rc), free(log);
        return -ENOMEM;
    }
    free(c->hostname_path), c->hostname_path = hn;
    free(c->hosts_path), c->hosts_path = hosts;
    free(c->resolv_conf_path), c->resolv_conf_path = rc;
    free(c->log_path), c->log_path = log;
    return 0;
}

int ctr_start_internal(struct bt_daemon *d, struct bt_ctr *c, struct bt_err **err)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    struct start_job *j;
    const char *netmode;
    bool host_net;
    int r;

    if (!rt)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (ctr_set_paths(d, c) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    j = calloc(1, sizeof(*j));
    if (!j)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    j->d = d;
    j->c = c;
    netmode = ctr_hc_str(c, "NetworkMode");
    host_net = netmode && strcmp(netmode, "host") == 0;
    j->cdir = ctr_path(d, c, NULL);
    j->run_dir = ctr_run_path(d, c, NULL);
    j->rootfs = ctr_path(d, c, "rootfs");
    j->rw_dir = ctr_path(d, c, "rw");
    j->hostname = hostname_of(c, host_net);
    snprintf(j->top_chain, sizeof(j->top_chain), "%s", c->top_chain);
    if (!j->cdir || !j->run_dir || !j->rootfs || !j->rw_dir || !j->hostname) {
        start_job_free(j);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    if ((r = ctr_plan_build(d, c, j->run_dir, j->rootfs, &j->plan, err)) < 0) {
        start_job_free(j);
        return r;
    }
    /* Addresses are taken here, on the loop; the kernel work is the pool's. */
    if ((r = bt_net_wire_plan(d, c, j->run_dir, &j->wire, err)) < 0) {
        start_job_free(j);
        return r;
    }
    j->plan.spec.netns = bt_net_wire_mode(j->wire);
    /* After the plan: /etc/hosts names the address it took. */
    if ((bt_net_wire_path(j->wire) &&
         !(j->plan.spec.netns_path = strdup(bt_net_wire_path(j->wire)))) ||
        ctr_etc_hosts(d, c, host_net, &j->hosts) < 0 ||
        ctr_etc_resolv(d, c, host_net, &j->resolv) < 0) {
        bt_net_ctr_release(d, c);
        start_job_free(j);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    j->plan.spec.attach_wait = ctr_attach_pending(c);
    rt->phase = CTR_STARTING;
    rt->busy_pool = true;
    rt->stopping = false;
    if ((r = bt_job_queue(d->loop, start_work, start_done, j)) < 0) {
        rt->phase = CTR_IDLE;
        rt->busy_pool = false;
        bt_net_ctr_release(d, c);
        start_job_free(j);
        return bt_err_set(err, BT_EINTERNAL, -r, "queue start: %s", uv_strerror(r));
    }
    return 0;
}

int bt_ctr_start(struct bt_daemon *d, struct bt_ctr *c, bt_ctr_done_fn done, void *arg,
                 struct bt_err **err)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    int r;

    if (!rt)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (rt->phase == CTR_REMOVING || c->state.status == BT_CTR_REMOVING)
        return bt_err_set(err, BT_ECONFLICT, 0, "container %s is marked for removal and cannot be started", c->id);
    if (c->state.status == BT_CTR_PAUSED)
        return bt_err_set(err, BT_ECONFLICT, 0, "cannot start a paused container, try unpause instead");
    if (c->state.status == BT_CTR_RUNNING && rt->phase != CTR_CLEANING)
        return bt_err_set(err, BT_ENOTMODIFIED, 0, "container already started");
    if (rt->phase == CTR_STARTING) /* join the start under way */
        return ctr_cbs_add(&rt->start_cbs, done, arg) < 0
                   ? bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory")
                   : 0;
    if (rt->phase == CTR_CLEANING)
        return bt_err_set(err, BT_ECONFLICT, 0, "container %s is stopping, try again", c->id);
    /* A start cancels a pending policy restart and counts as a fresh run. */
    ctr_restart_cancel(c);
    c->manually_stopped = false;
    c->restart_count = 0; /* as dockerd: a manual start resets the policy's count */
    if (ctr_cbs_add(&rt->start_cbs, done, arg) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if ((r = ctr_start_internal(d, c, err)) < 0) {
        struct ctr_cb *cb = rt->start_cbs;
        rt->start_cbs = NULL;
        while (cb) {
            struct ctr_cb *n = cb->next;
            free(cb);
            cb = n;
        }
        return r;
    }
    return 0;
}
