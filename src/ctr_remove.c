/* DELETE /containers/{id}: refuse a running container unless forced, kill it
 * when forced, then remove everything the container owns: the rootfs mount,
 * the writable layer, the cgroup, the run directory, the record and the
 * reference on its image's layers. */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "berth/daemon.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/network.h"
#include "berth/storage.h"
#include "src/ctr-internal.h"
#include "berth/exec.h"
#include "src/ctr-lifecycle.h"

struct remove_job {
    struct bt_daemon *d;
    struct bt_ctr *c;
    char *cdir;
    char top_chain[80];
    struct bt_err *err;
};

static void remove_work(void *arg)
{
    struct remove_job *j = arg;
    struct bt_daemon *d = j->d;
    _cleanup_free_ char *rootfs = NULL;

    if (asprintf(&rootfs, "%s/rootfs", j->cdir) >= 0)
        (void)stor_driver_unmount(d->driver, rootfs, NULL);
    if (j->top_chain[0])
        (void)stor_layer_unref_write(d->layers, j->top_chain, j->c->id, NULL);
    int r = stor_rm_rf(j->cdir);
    if (r < 0)
        bt_err_set(&j->err, BT_EINTERNAL, -r, "remove %s: %s", j->cdir, strerror(-r));
}

static void remove_done(void *arg, bool ran)
{
    struct remove_job *j = arg;
    struct bt_daemon *d = j->d;
    struct bt_ctr *c = j->c;
    struct bt_ctr_rt *rt = c->rt;

    (void)ran;
    rt->busy_pool = false;
    if (j->err)
        BT_LOG(WARN, "container", "container files left behind", "id=%.12s err=\"%s\"", c->id,
               bt_log_q(j->err->msg));
    ctr_monitor_detach(c);
    ctr_restart_cancel(c);
    bt_net_ctr_detach(d, c);
    bt__ctrs_remove(d, c);
    ctr_event(d, c, "destroy", NULL, NULL);
    ctr_waiters_removed(c, c->state.exit_code);
    ctr_cbs_run(&rt->remove_cbs, c, NULL);
    ctr_cbs_run(&rt->start_cbs, c, NULL);
    ctr_cbs_run(&rt->stop_cbs, c, NULL);
    free(rt);
    c->rt = NULL;
    bt__ctr_free(c);
    bt_err_free(j->err);
    free(j->cdir);
    free(j);
}

static void remove_after_writes(void *arg)
{
    struct remove_job *j = arg;

    if (bt_job_queue(j->d->loop, remove_work, remove_done, j) < 0) {
        remove_work(j); /* shutting down: finish inline rather than leave half */
        remove_done(j, true);
    }
}

/* The process is gone: remove for good. */
void ctr_remove_now(struct bt_daemon *d, struct bt_ctr *c)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    struct remove_job *j = calloc(1, sizeof(*j));

    if (!rt || !j || !(j->cdir = ctr_path(d, c, NULL))) {
        free(j);
        BT_LOG(ERROR, "container", "out of memory removing", "id=%.12s", c->id);
        return;
    }
    j->d = d;
    j->c = c;
    ctr_attach_end_pending(c);
    bt_execs_ctr_removed(d, c->id);
    rt->phase = CTR_REMOVING;
    c->state.status = BT_CTR_REMOVING;
    if (c->top_chain[0]) {
        (void)stor_layer_unref(d->layers, c->top_chain, c->id, NULL);
        memcpy(j->top_chain, c->top_chain, sizeof(j->top_chain));
    }
    rt->busy_pool = true;
    /* No record write may land after the directory is gone. */
    bt__ctr_persist_cancel(d, c, remove_after_writes, j);
}

int bt_ctr_remove(struct bt_daemon *d, struct bt_ctr *c, bool force, bool volumes,
                  bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    bool live;

    if (!rt)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (rt->phase == CTR_REMOVING || rt->want_remove) {
        if (!force)
            return bt_err_set(err, BT_ECONFLICT, 0,
                              "removal of container %s is already in progress", c->id);
        return ctr_cbs_add(&rt->remove_cbs, done, arg) < 0
                   ? bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory")
                   : 0;
    }
    if (rt->phase == CTR_CLEANING) {
        /* The process is gone and its teardown under way (an attach stream
         * that just ended comes this close): not running, so no 409; the
         * removal follows the teardown and answers then. */
        if (ctr_cbs_add(&rt->remove_cbs, done, arg) < 0)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        rt->want_remove = true;
        rt->remove_volumes = volumes;
        return 0;
    }
    live = c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED ||
           rt->phase != CTR_IDLE;
    if (live && !force) {
        if (c->state.status == BT_CTR_PAUSED)
            return bt_err_set(err, BT_ECONFLICT, 0,
                              "You cannot remove a paused container %s. Unpause and then stop "
                              "the container before attempting removal or force remove",
                              c->id);
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "You cannot remove a running container %s. Stop the container before "
                          "attempting removal or force remove",
                          c->id);
    }
    if (c->state.status == BT_CTR_RESTARTING && !force)
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "You cannot remove a restarting container %s. Stop the container "
                          "before attempting removal or force remove",
                          c->id);
    if (ctr_cbs_add(&rt->remove_cbs, done, arg) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    rt->remove_volumes = volumes;
    ctr_restart_cancel(c);
    if (live) {
        rt->want_remove = true;
        rt->stopping = true;
        if (rt->phase == CTR_IDLE && (c->state.status == BT_CTR_RUNNING ||
                                      c->state.status == BT_CTR_PAUSED))
        {
            /* dockerd's forced removal is a kill: the kill event comes first. */
            if (ctr_monitor_signal(c, SIGKILL, NULL) == 0)
                ctr_event(d, c, "kill", "signal", "9");
            if (c->state.status == BT_CTR_PAUSED)
                ctr_thaw_async(d, c);
        }
        /* STARTING: the start completes, sees want_remove... and kills. */
        return 0;
    }
    ctr_remove_now(d, c);
    return 0;
}
