/* Restart policies: no, always, unless-stopped, on-failure[:N], with
 * Docker's back-off: 100 ms doubling up to a minute, back to 100 ms after a
 * run of at least 10 s. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "berth/daemon.h"
#include "berth/log.h"
#include "src/ctr-lifecycle.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 60000
#define BACKOFF_RESET_RUN_MS 10000

bool ctr_policy_restarts(const struct bt_ctr *c, int exit_code, bool daemon_start)
{
    const cJSON *p = ctr_hc(c, "RestartPolicy");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "Name");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(p, "MaximumRetryCount");
    const char *n = cJSON_IsString(name) ? name->valuestring : "";

    if (strcmp(n, "always") == 0)
        return daemon_start || !c->manually_stopped;
    if (strcmp(n, "unless-stopped") == 0)
        return !c->manually_stopped;
    if (strcmp(n, "on-failure") == 0) {
        int m = cJSON_IsNumber(max) ? (int)max->valuedouble : 0;
        return !c->manually_stopped && exit_code != 0 && (m <= 0 || c->restart_count < m);
    }
    return false;
}

static void restart_on_timer(uv_timer_t *t)
{
    struct bt_ctr *c = t->data;
    struct bt_ctr_rt *rt = c->rt;
    _cleanup_err_ struct bt_err *e = NULL;

    uv_close((uv_handle_t *)t, (uv_close_cb)free);
    rt->restart_timer = NULL;
    if (c->state.status != BT_CTR_RESTARTING || rt->phase != CTR_IDLE)
        return;
    c->restart_count++;
    if (ctr_start_internal(rt->d, c, &e) < 0) {
        BT_LOG(WARN, "container", "restart failed", "id=%.12s err=\"%s\"", c->id,
               bt_log_q(e->msg));
        c->state.status = BT_CTR_EXITED;
        free(c->state.error);
        c->state.error = strdup(e->msg);
        bt_ctr_persist(rt->d, c);
        ctr_waiters_exit(c, c->state.exit_code, false);
    }
}

void ctr_restart_schedule(struct bt_daemon *d, struct bt_ctr *c, int64_t ran_ms)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);

    if (!rt)
        return;
    if (rt->restart_delay_ms == 0 || ran_ms >= BACKOFF_RESET_RUN_MS)
        rt->restart_delay_ms = BACKOFF_FIRST_MS;
    else if ((rt->restart_delay_ms *= 2) > BACKOFF_MAX_MS)
        rt->restart_delay_ms = BACKOFF_MAX_MS;
    c->state.status = BT_CTR_RESTARTING;
    if (!rt->restart_timer) {
        rt->restart_timer = malloc(sizeof(*rt->restart_timer));
        if (!rt->restart_timer)
            return;
        uv_timer_init(d->loop, rt->restart_timer);
        rt->restart_timer->data = c;
    }
    uv_timer_start(rt->restart_timer, restart_on_timer, (uint64_t)rt->restart_delay_ms, 0);
}

void ctr_restart_cancel(struct bt_ctr *c)
{
    struct bt_ctr_rt *rt = c->rt;

    if (!rt || !rt->restart_timer)
        return;
    uv_close((uv_handle_t *)rt->restart_timer, (uv_close_cb)free);
    rt->restart_timer = NULL;
    if (c->state.status == BT_CTR_RESTARTING)
        c->state.status = BT_CTR_EXITED;
}
