/* POST /containers/{id}/attach: the hijacked stream (engine-api.md §5),
 * relayed to an attach session of the core (api/relay.c). */
#include <config.h>

#include <stdlib.h>

#include "api/handlers.h"
#include "api/relay.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/detach_keys.h"

static int sess_input(void *s, const char *data, size_t len)
{
    return bt_ctr_attach_input(s, data, len);
}

static void sess_input_eof(void *s)
{
    bt_ctr_attach_input_eof(s);
}

static void sess_output_resume(void *s)
{
    bt_ctr_attach_output_resume(s);
}

static void sess_free(void *s)
{
    bt_ctr_attach_free(s);
}

static const struct api_relay_session_ops attach_session = {
    .input = sess_input,
    .input_eof = sess_input_eof,
    .output_resume = sess_output_resume,
    .free = sess_free,
};

int h_ctr_attach(struct api_req *rq, struct bt_err **err)
{
    struct bt_ctr *c;
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
    bool in = api_req_query_bool(rq, "stdin", false);
    struct api_relay *x = api_relay_new(tty && in ? &keys : NULL);
    struct bt_ctr_attach *a;
    if (!x)
        return bt_err_set(err, BT_EINTERNAL, 0, "out of memory");
    if (bt_ctr_attach(rq->daemon, c, in, api_req_query_bool(rq, "stdout", false),
                      api_req_query_bool(rq, "stderr", false), &api_relay_core_ops, x, &a,
                      err) < 0) {
        api_relay_abandon(x);
        return -1;
    }
    api_relay_begin(x, rq, a, &attach_session, ctype);
    return 0;
}
