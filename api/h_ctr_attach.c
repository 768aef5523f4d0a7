/* POST /containers/{id}/attach: the hijacked stream (engine-api.md §5).
 * The connection becomes a raw pipe between the client and an attach
 * session of the core; this file maps one onto the other and, with a tty,
 * watches the client's stdin for the detach keys (as dockerd: never without
 * a tty, where stdin is data). */
#include <config.h>

#include <stdlib.h>

#include "api/handlers.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/detach_keys.h"

struct attach_ctx {
    struct api_req *rq;
    struct bt_ctr_attach *a;
    bool scan;                 /* tty: look for the detach keys in stdin */
    bool paused;               /* the core asked to pause stdin */
    struct bt_detach_keys keys;
};

static void ctx_free(struct attach_ctx *x)
{
    bt_ctr_attach_free(x->a);
    x->rq->ctx = NULL;
    x->rq->on_abort = NULL;
    x->rq->on_drain = NULL;
    x->rq->on_hijack_data = NULL;
    x->rq->on_hijack_eof = NULL;
    api_req_unref(x->rq);
    free(x);
}

static int on_output(void *arg, const char *data, size_t len)
{
    struct attach_ctx *x = arg;
    return api_hijack_write(x->rq, data, len) > 0 ? 1 : 0;
}

static void on_input_resume(void *arg)
{
    struct attach_ctx *x = arg;
    api_req_body_pause(x->rq, false);
}

/* The container's output is over: flush and close the client's socket. */
static void on_end(void *arg)
{
    struct attach_ctx *x = arg;
    api_hijack_close(x->rq);
    ctx_free(x);
}

static const struct bt_ctr_attach_ops attach_ops = {
    .output = on_output,
    .input_resume = on_input_resume,
    .end = on_end,
};

static void pass_input(void *arg, const char *data, size_t len)
{
    struct attach_ctx *x = arg;
    if (bt_ctr_attach_input(x->a, data, len) > 0)
        x->paused = true;
}

static void on_client_data(struct api_req *rq, const char *data, size_t len)
{
    struct attach_ctx *x = rq->ctx;

    if (!x)
        return;
    x->paused = false;
    if (!x->scan) {
        pass_input(x, data, len);
    } else if (bt_detach_keys_scan(&x->keys, data, len, pass_input, x)) {
        /* Detach: the client's stream ends, the container runs on. The
         * bytes before the keys are already with the monitor's socket. */
        api_hijack_close(rq);
        ctx_free(x);
        return;
    }
    if (x->paused)
        api_req_body_pause(rq, true);
}

static void on_client_eof(struct api_req *rq)
{
    struct attach_ctx *x = rq->ctx;
    if (x)
        bt_ctr_attach_input_eof(x->a);
}

static void on_drain(struct api_req *rq)
{
    struct attach_ctx *x = rq->ctx;
    if (x)
        bt_ctr_attach_output_resume(x->a);
}

/* The client left: a detach, the container runs on. */
static void on_abort(struct api_req *rq)
{
    struct attach_ctx *x = rq->ctx;
    if (x)
        ctx_free(x);
}

int h_ctr_attach(struct api_req *rq, struct bt_err **err)
{
    struct bt_ctr *c;
    struct attach_ctx *x;
    struct bt_detach_keys keys;
    const char *spec = api_req_query(rq, "detachKeys");

    /* dockerd checks the keys first, before it looks the container up. */
    if (bt_detach_keys_parse(spec, &keys) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "Invalid detach keys (%s) provided", spec);
    if (bt_ctr_lookup(rq->daemon, api_req_param(rq, "id"), &c, err) < 0)
        return -1;
    bool tty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->config, "Tty"));
    /* Below API 1.42 dockerd labels both modes raw-stream; clients go by
     * Config.Tty. */
    const char *ctype = tty || rq->version < 142 ? "application/vnd.docker.raw-stream"
                                                 : "application/vnd.docker.multiplexed-stream";
    /* stream=0: dockerd sends the stored logs when logs=1 (not done here:
     * no client we know sends it), then ends the stream at once. */
    if (!api_req_query_bool(rq, "stream", false)) {
        if (api_req_hijack(rq, ctype, NULL, NULL) == 0)
            api_hijack_close(rq);
        return 0;
    }
    if (!(x = calloc(1, sizeof(*x))))
        return bt_err_set(err, BT_EINTERNAL, 0, "out of memory");
    if (bt_ctr_attach(rq->daemon, c, api_req_query_bool(rq, "stdin", false),
                      api_req_query_bool(rq, "stdout", false),
                      api_req_query_bool(rq, "stderr", false), &attach_ops, x, &x->a, err) < 0) {
        free(x);
        return -1;
    }
    x->keys = keys;
    x->scan = tty && api_req_query_bool(rq, "stdin", false);
    x->rq = api_req_ref(rq);
    rq->ctx = x;
    rq->on_abort = on_abort;
    rq->on_drain = on_drain;
    if (api_req_hijack(rq, ctype, on_client_data, on_client_eof) < 0 &&
        rq->ctx == x)
        ctx_free(x);
    return 0;
}
