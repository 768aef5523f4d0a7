/* stop, kill and restart: signals go to the container's init through its
 * monitor; a stop escalates to SIGKILL after the timeout and completes when
 * the exit has been recorded. */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/daemon.h"
#include "berth/signals.h"
#include "src/ctr-lifecycle.h"

#define DEFAULT_STOP_TIMEOUT 10

static bool has_process(const struct bt_ctr *c)
{
    return (c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED) &&
           (!c->rt || c->rt->phase != CTR_CLEANING);
}

static int send_signal(struct bt_daemon *d, struct bt_ctr *c, int sig, struct bt_err **err)
{
    char s[16];
    int r = ctr_monitor_signal(c, sig, err);

    if (r < 0)
        return r;
    snprintf(s, sizeof(s), "%d", sig);
    ctr_event(d, c, "kill", "signal", s);
    if (sig == SIGKILL && c->state.status == BT_CTR_PAUSED)
        ctr_thaw_async(d, c);
    return 0;
}

static void stop_on_timeout(uv_timer_t *t)
{
    struct bt_ctr *c = t->data;

    if (has_process(c))
        (void)send_signal(c->rt->d, c, SIGKILL, NULL);
}

static int stop_signal_of(const struct bt_ctr *c, const char *signal, struct bt_err **err)
{
    const char *s = signal && *signal ? signal : ctr_cfg_str(c, "StopSignal");
    int sig;

    if (!s || !*s)
        return SIGTERM;
    sig = bt_signal_parse(s);
    if (sig < 0)
        return bt_err_set(err, BT_EINVAL, 0, "Invalid signal: %s", s);
    return sig;
}

/* A stop that arrived while the process was being started (a policy
 * restart firing, or a start under way): it runs once the start is done. */
struct deferred_stop {
    int timeout;
    char *signal;
    bt_ctr_done_fn done;
    void *arg;
};

static void stop_after_start(void *arg, struct bt_ctr *c, const struct bt_err *err)
{
    struct deferred_stop *ds = arg;
    _cleanup_err_ struct bt_err *e = NULL;

    if (err) { /* the start failed: nothing runs, the stop is done */
        if (ds->done)
            ds->done(ds->arg, c, NULL);
    } else if (bt_ctr_stop(c->rt->d, c, ds->timeout, ds->signal, ds->done, ds->arg, &e) < 0 &&
               ds->done) {
        ds->done(ds->arg, c, e->code == BT_ENOTMODIFIED ? NULL : e);
    }
    free(ds->signal);
    free(ds);
}

static int stop_when_started(struct bt_ctr *c, int timeout, const char *signal,
                             bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    struct deferred_stop *ds = calloc(1, sizeof(*ds));

    if (!ds || (signal && !(ds->signal = strdup(signal))))
        goto oom;
    ds->timeout = timeout;
    ds->done = done;
    ds->arg = arg;
    if (ctr_cbs_add(&c->rt->start_cbs, stop_after_start, ds) < 0)
        goto oom;
    /* No policy restart after this run: the user stopped it. */
    c->manually_stopped = true;
    return 0;
oom:
    if (ds)
        free(ds->signal);
    free(ds);
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
}

int bt_ctr_stop(struct bt_daemon *d, struct bt_ctr *c, int timeout, const char *signal,
                bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    _cleanup_err_ struct bt_err *e = NULL;
    int sig, r;

    if (!rt)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if ((sig = stop_signal_of(c, signal, err)) < 0)
        return sig;
    if (rt->phase == CTR_STARTING)
        return stop_when_started(c, timeout, signal, done, arg, err);
    if (c->state.status == BT_CTR_RESTARTING) {
        /* Waiting for a policy restart: stopping cancels it. */
        ctr_restart_cancel(c);
        c->manually_stopped = true;
        c->state.status = BT_CTR_EXITED;
        bt_ctr_persist(d, c);
        ctr_event(d, c, "stop", NULL, NULL);
        if (done)
            done(arg, c, NULL);
        return 0;
    }
    if (rt->phase == CTR_CLEANING) { /* already ending: wait for it */
        if (ctr_cbs_add(&rt->stop_cbs, done, arg) < 0)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        /* ...and the policy must not bring it back: the user stopped it. */
        rt->stopping = true;
        rt->stop_event = true;
        c->manually_stopped = true;
        return 0;
    }
    if (!has_process(c))
        return bt_err_set(err, BT_ENOTMODIFIED, 0, "container already stopped");
    if (timeout < 0) {
        const cJSON *st = ctr_cfg(c, "StopTimeout");
        timeout = cJSON_IsNumber(st) ? (int)st->valuedouble : DEFAULT_STOP_TIMEOUT;
    }
    rt->stopping = true;
    rt->stop_event = true;
    c->manually_stopped = true;
    /* A frozen process cannot act on its stop signal: SIGKILL reaches it
     * once the cgroup is thawed, which the teardown does. */
    if (c->state.status == BT_CTR_PAUSED)
        sig = SIGKILL;
    /* "not running" here means the process ended and its exit is on the
     * way (the monitor reaped it first): the stop just waits for it. */
    if ((r = send_signal(d, c, sig, &e)) < 0 && e->code != BT_ECONFLICT) {
        if (err)
            *err = TAKE_PTR(e);
        return r;
    }
    if (ctr_cbs_add(&rt->stop_cbs, done, arg) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (r == 0 && sig != SIGKILL && timeout >= 0 && !rt->stop_timer) {
        rt->stop_timer = malloc(sizeof(*rt->stop_timer));
        if (rt->stop_timer) {
            uv_timer_init(d->loop, rt->stop_timer);
            rt->stop_timer->data = c;
            uv_timer_start(rt->stop_timer, stop_on_timeout, (uint64_t)timeout * 1000, 0);
        }
    }
    return 0;
}

int bt_ctr_kill(struct bt_daemon *d, struct bt_ctr *c, const char *signal, struct bt_err **err)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    int sig = signal && *signal ? bt_signal_parse(signal) : SIGKILL;

    if (!rt)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (sig < 0)
        return bt_err_set(err, BT_EINVAL, 0, "Invalid signal: %s", signal);
    if (!has_process(c) || rt->phase == CTR_STARTING)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is not running", c->id);
    if (c->state.status == BT_CTR_PAUSED && sig != SIGKILL)
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "Container %s is paused. Unpause the container before stopping or killing",
                          c->id);
    /* As dockerd: a container the user killed is not restarted by its policy. */
    if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT) {
        rt->stopping = true;
        c->manually_stopped = true;
    }
    return send_signal(d, c, sig, err);
}

/* ---- restart ------------------------------------------------------------------- */

struct restart_op {
    bt_ctr_done_fn done;
    void *arg;
};

static void restart_on_started(void *arg, struct bt_ctr *c, const struct bt_err *err)
{
    struct restart_op *op = arg;

    if (!err) {
        c->restart_count = 0;
        ctr_event(c->rt->d, c, "restart", NULL, NULL);
    }
    if (op->done)
        op->done(op->arg, c, err);
    free(op);
}

static void restart_on_stopped(void *arg, struct bt_ctr *c, const struct bt_err *err)
{
    struct restart_op *op = arg;
    _cleanup_err_ struct bt_err *e = NULL;

    if (err || bt_ctr_start(c->rt->d, c, restart_on_started, op, &e) < 0) {
        const struct bt_err *why = err ? err : e;
        if (why && why->code == BT_ENOTMODIFIED) {
            restart_on_started(op, c, NULL);
            return;
        }
        if (op->done)
            op->done(op->arg, c, why);
        free(op);
    }
}

int bt_ctr_restart(struct bt_daemon *d, struct bt_ctr *c, int timeout, const char *signal,
                   bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    struct restart_op *op = calloc(1, sizeof(*op));
    _cleanup_err_ struct bt_err *e = NULL;
    int r;

    if (!op)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    op->done = done;
    op->arg = arg;
    r = bt_ctr_stop(d, c, timeout, signal, restart_on_stopped, op, &e);
    if (r < 0 && e->code == BT_ENOTMODIFIED) {
        r = bt_ctr_start(d, c, restart_on_started, op, err);
        if (r < 0 && *err && (*err)->code == BT_ENOTMODIFIED) {
            bt_err_freep(err);
            restart_on_started(op, c, NULL);
            return 0;
        }
    } else if (r < 0 && err) {
        *err = TAKE_PTR(e);
    }
    if (r < 0)
        free(op);
    return r < 0 ? -1 : 0;
}
