/* The hijacked stream of attach and exec start (api/relay.h). */
#include <config.h>

#include <stdlib.h>

#include "api/relay.h"

struct api_relay {
    struct api_req *rq;
    void *s;
    const struct api_relay_session_ops *sops;
    bool scan;   /* look for the detach keys in stdin */
    bool paused; /* the session asked to pause stdin */
    struct bt_detach_keys keys;
};

struct api_relay *api_relay_new(const struct bt_detach_keys *keys)
{
    struct api_relay *x = calloc(1, sizeof(*x));

    if (x && keys) {
        x->keys = *keys;
        x->scan = true;
    }
    return x;
}

void api_relay_abandon(struct api_relay *x)
{
    free(x);
}

static void relay_free(struct api_relay *x)
{
    x->sops->free(x->s);
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
    struct api_relay *x = arg;
    return api_hijack_write(x->rq, data, len) > 0 ? 1 : 0;
}

static void on_input_resume(void *arg)
{
    struct api_relay *x = arg;
    api_req_body_pause(x->rq, false);
}

/* The process's output is over: flush and close the client's socket. */
static void on_end(void *arg)
{
    struct api_relay *x = arg;
    api_hijack_close(x->rq);
    relay_free(x);
}

const struct bt_ctr_attach_ops api_relay_core_ops = {
    .output = on_output,
    .input_resume = on_input_resume,
    .end = on_end,
};

static void pass_input(void *arg, const char *data, size_t len)
{
    struct api_relay *x = arg;
    if (x->sops->input(x->s, data, len) > 0)
        x->paused = true;
}

static void on_client_data(struct api_req *rq, const char *data, size_t len)
{
    struct api_relay *x = rq->ctx;

    if (!x)
        return;
    x->paused = false;
    if (!x->scan) {
        pass_input(x, data, len);
    } else if (bt_detach_keys_scan(&x->keys, data, len, pass_input, x)) {
        /* Detach: the client's stream ends, the process runs on. The bytes
         * before the keys are already with the monitor's socket. */
        api_hijack_close(rq);
        relay_free(x);
        return;
    }
    if (x->paused)
        api_req_body_pause(rq, true);
}

static void on_client_eof(struct api_req *rq)
{
    struct api_relay *x = rq->ctx;
    if (x)
        x->sops->input_eof(x->s);
}

static void on_drain(struct api_req *rq)
{
    struct api_relay *x = rq->ctx;
    if (x)
        x->sops->output_resume(x->s);
}

/* The client left: the process runs on. */
static void on_abort(struct api_req *rq)
{
    struct api_relay *x = rq->ctx;
    if (x)
        relay_free(x);
}

void api_relay_begin(struct api_relay *x, struct api_req *rq, void *s,
                     const struct api_relay_session_ops *sops, const char *ctype)
{
    x->s = s;
    x->sops = sops;
    x->rq = api_req_ref(rq);
    rq->ctx = x;
    rq->on_abort = on_abort;
    rq->on_drain = on_drain;
    if (api_req_hijack(rq, ctype, on_client_data, on_client_eof) < 0 && rq->ctx == x)
        relay_free(x);
}
