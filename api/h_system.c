/* System endpoints: /_ping, /version, /info. */
#include <config.h>

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <uv.h>

#include "api/handlers.h"
#include "api/json_system.h"
#include "berth/daemon.h"
#include "berth/log.h"
#include "berth/sysinfo.h"

int h_ping(struct api_req *rq, struct bt_err **err)
{
    api_reply_header(rq, "Cache-Control", "no-cache, no-store, must-revalidate");
    api_reply_header(rq, "Pragma", "no-cache");
    api_reply_header(rq, "Builder-Version", "1");
    api_reply_header(rq, "Swarm", "inactive");
    /* HEAD gets Content-Length: 0, as from dockerd. */
    api_reply(rq, 200, "text/plain; charset=utf-8", "OK", rq->head ? 0 : 2);
    return 0;
}

int h_version(struct api_req *rq, struct bt_err **err)
{
    struct utsname u;

    if (uname(&u) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "uname");
    api_reply_json(rq, 200, api_json_version(rq->daemon, u.release, bt_go_arch(u.machine)));
    return 0;
}

/* /info reads /proc and /sys: that happens on the pool, the answer on the loop. */
struct info_job {
    uv_work_t work;
    struct api_req *rq;
    char *data_root;
    struct bt_sysinfo si;
    struct bt_err *err;
    int r;
};

static void info_work(uv_work_t *w)
{
    struct info_job *j = container_of(w, struct info_job, work);
    j->r = bt_sysinfo_read(&j->si, NULL, j->data_root, &j->err);
}

static void info_done(uv_work_t *w, int status)
{
    struct info_job *j = container_of(w, struct info_job, work);

    if (api_req_alive(j->rq)) {
        if (status < 0 || j->r < 0) {
            struct bt_err e = {BT_EINTERNAL, 0, j->err ? j->err->msg : "cannot read host facts"};
            BT_LOG(WARN, "api", "info failed", "err=\"%s\"", bt_log_q(e.msg));
            api_reply_err(j->rq, &e);
        } else {
            api_reply_json(j->rq, 200, api_json_info(j->rq->daemon, &j->si));
        }
    }
    api_req_unref(j->rq);
    bt_err_free(j->err);
    free(j->data_root);
    free(j);
}

int h_info(struct api_req *rq, struct bt_err **err)
{
    struct info_job *j = calloc(1, sizeof(*j));
    int r;

    if (!j || !(j->data_root = strdup(rq->daemon->cfg.data_root))) {
        free(j);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "info");
    }
    j->rq = api_req_ref(rq);
    r = uv_queue_work(rq->daemon->loop, &j->work, info_work, info_done);
    if (r < 0) {
        api_req_unref(rq);
        free(j->data_root);
        free(j);
        return bt_err_set(err, BT_EINTERNAL, -r, "info");
    }
    return 0;
}
