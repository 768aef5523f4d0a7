/* POST /auth: check a login against a registry (docker login). */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "berth/daemon.h"
#include "berth/registry.h"

static void login_done(void *data, const char *identity_token, struct bt_err *err)
{
    struct api_req *rq = data;

    if (api_req_alive(rq)) {
        if (err) {
            /* The registry refused the credentials: 401, as dockerd answers. */
            struct bt_err e = {err->code == BT_EFORBIDDEN ? BT_EUNAUTHORIZED : err->code, 0, err->msg};
            api_reply_err(rq, &e);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "IdentityToken", identity_token ? identity_token : "");
            cJSON_AddStringToObject(o, "Status", "Login Succeeded");
            api_reply_json(rq, 200, o);
        }
    }
    bt_err_free(err);
    api_req_unref(rq);
}

int h_auth(struct api_req *rq, struct bt_err **err)
{
    struct bt_reg_creds *creds = NULL;
    _cleanup_free_ char *host = NULL;
    int r;

    if (bt_reg_creds_from_json(rq->body.p ? rq->body.p : "{}", rq->body.len ? rq->body.len : 2,
                               &creds, err) < 0)
        return -1;
    if (bt_reg_host_from_server_address(creds->serveraddress ? creds->serveraddress : "", &host) < 0) {
        bt_reg_creds_free(creds);
        return bt_err_set(err, BT_EINVAL, 0, "invalid server address");
    }
    if (!bt_daemon_registry(rq->daemon, err)) {
        bt_reg_creds_free(creds);
        return -1;
    }
    api_req_ref(rq);
    r = bt_reg_login(rq->daemon->registry, host, creds, login_done, rq, NULL, err);
    bt_reg_creds_free(creds);
    if (r < 0) {
        api_req_unref(rq);
        return -1;
    }
    return 0;
}
