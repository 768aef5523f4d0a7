/* POST /containers/{id}/wait: waiters on a record, woken by exits and by the
 * removal. */
#include <config.h>

#include <stdlib.h>

#include "berth/daemon.h"
#include "src/ctr-lifecycle.h"

static void waiter_unlink(struct bt_ctr_waiter *w)
{
    if (w->next)
        w->next->pprev = w->pprev;
    *w->pprev = w->next;
}

static bool is_running(const struct bt_ctr *c)
{
    enum ctr_phase ph = c->rt ? c->rt->phase : CTR_IDLE;

    return c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED ||
           c->state.status == BT_CTR_RESTARTING || ph == CTR_STARTING || ph == CTR_CLEANING;
}

int bt_ctr_wait(struct bt_daemon *d, struct bt_ctr *c, enum bt_ctr_wait_cond cond,
                bt_ctr_wait_fn done, void *arg, struct bt_ctr_waiter **ret)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    struct bt_ctr_waiter *w;

    if (ret)
        *ret = NULL;
    if (!rt)
        return -1;
    if (cond == BT_CTR_WAIT_NOT_RUNNING && !is_running(c)) {
        done(arg, c->state.exit_code, NULL);
        return 0;
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return -1;
    w->c = c;
    w->cond = cond;
    w->fn = done;
    w->arg = arg;
    w->next = rt->waiters;
    if (w->next)
        w->next->pprev = &w->next;
    w->pprev = &rt->waiters;
    rt->waiters = w;
    if (ret)
        *ret = w;
    return 0;
}

void bt_ctr_wait_cancel(struct bt_ctr_waiter *w)
{
    if (!w)
        return;
    waiter_unlink(w);
    free(w);
}

/* Wake the waiters `pick` selects; safe against callbacks that add or
 * cancel other waiters. */
static void wake(struct bt_ctr *c, int code, bool all, bool restarting)
{
    struct bt_ctr_waiter *w;
    bool again = true;

    while (again && c->rt) {
        again = false;
        for (w = c->rt->waiters; w; w = w->next) {
            bool hit = all || w->cond == BT_CTR_WAIT_NEXT_EXIT ||
                       (w->cond == BT_CTR_WAIT_NOT_RUNNING && !restarting);
            if (!hit)
                continue;
            waiter_unlink(w);
            w->fn(w->arg, code, NULL);
            free(w);
            again = true;
            break;
        }
    }
}

void ctr_waiters_exit(struct bt_ctr *c, int exit_code, bool restarting)
{
    wake(c, exit_code, false, restarting);
}

void ctr_waiters_removed(struct bt_ctr *c, int exit_code)
{
    wake(c, exit_code, true, false);
}
