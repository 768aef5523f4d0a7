/* Exec endpoints (engine-api.md §6): POST /containers/{id}/exec,
 * POST /exec/{id}/start (hijacked like attach unless Detach), GET
 * /exec/{id}/json and POST /exec/{id}/resize. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/relay.h"
#include "berth/detach_keys.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/exec.h"

/* ---- create ---------------------------------------------------------------------- */

/* Go's decoder matches keys case-insensitively: cJSON_GetObjectItem does too. */
static const cJSON *key(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNull(v) ? NULL : v;
}

static int type_err(const char *field, const char *type, struct bt_err **err)
{
    return bt_err_set(err, BT_EINVAL, 0,
                      "json: cannot unmarshal into Go struct field ExecConfig.%s of type %s", field,
                      type);
}

static int get_strv(const cJSON *o, const char *k, bool str_ok, char ***ret, struct bt_err **err)
{
    const cJSON *v = key(o, k), *it;
    size_t n = 0;
    char **r;

    *ret = NULL;
    if (!v)
        return 0;
    if (str_ok && cJSON_IsString(v)) { /* strslice: a lone string is one element */
        if (!(r = calloc(2, sizeof(*r))) || !(r[0] = strdup(v->valuestring)))
            return free(r), bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        *ret = r;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return type_err(k, "[]string", err);
    if (!(r = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*r))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    *ret = r;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it))
            return type_err(k, "[]string", err);
        if (!(r[n++] = strdup(it->valuestring)))
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    return 0;
}

static int get_str(const cJSON *o, const char *k, char **ret, struct bt_err **err)
{
    const cJSON *v = key(o, k);

    *ret = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return type_err(k, "string", err);
    if (!(*ret = strdup(v->valuestring)))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    return 0;
}

static int get_bool(const cJSON *o, const char *k, bool *ret, struct bt_err **err)
{
    const cJSON *v = key(o, k);

    *ret = false;
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return type_err(k, "bool", err);
    *ret = cJSON_IsTrue(v);
    return 0;
}

/* ConsoleSize: [height, width]. */
static int get_console(const cJSON *o, unsigned *rows, unsigned *cols, struct bt_err **err)
{
    const cJSON *v = key(o, "ConsoleSize");

    if (!v)
        return 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
        return type_err("ConsoleSize", "[2]uint", err);
    const cJSON *h = cJSON_GetArrayItem(v, 0), *w = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsNumber(h) || !cJSON_IsNumber(w) || h->valuedouble < 0 || w->valuedouble < 0 ||
        h->valuedouble > 65535 || w->valuedouble > 65535)
        return type_err("ConsoleSize", "[2]uint", err);
    *rows = (unsigned)h->valuedouble;
    *cols = (unsigned)w->valuedouble;
    return 0;
}

static int parse_config(const cJSON *b, struct bt_exec_config *cfg, struct bt_err **err)
{
    if (!cJSON_IsObject(b))
        return bt_err_set(err, BT_EINVAL, 0, "No exec command specified");
    if (get_strv(b, "Cmd", true, &cfg->cmd, err) < 0 ||
        get_strv(b, "Env", false, &cfg->env, err) < 0 || get_str(b, "User", &cfg->user, err) < 0 ||
        get_str(b, "WorkingDir", &cfg->working_dir, err) < 0 ||
        get_str(b, "DetachKeys", &cfg->detach_keys, err) < 0 ||
        get_bool(b, "Tty", &cfg->tty, err) < 0 ||
        get_bool(b, "Privileged", &cfg->privileged, err) < 0 ||
        get_bool(b, "AttachStdin", &cfg->attach_stdin, err) < 0 ||
        get_bool(b, "AttachStdout", &cfg->attach_stdout, err) < 0 ||
        get_bool(b, "AttachStderr", &cfg->attach_stderr, err) < 0 ||
        get_console(b, &cfg->rows, &cfg->cols, err) < 0)
        return -1;
    if (!cfg->cmd || !cfg->cmd[0])
        return bt_err_set(err, BT_EINVAL, 0, "No exec command specified");
    struct bt_detach_keys keys;
    if (bt_detach_keys_parse(cfg->detach_keys, &keys) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "Invalid escape keys (%s) provided", cfg->detach_keys);
    return 0;
}

int h_exec_create(struct api_req *rq, struct bt_err **err)
{
    struct bt_exec_config cfg = {0};
    struct bt_exec *e;
    struct bt_ctr *c;
    cJSON *body, *out;
    int r;

    if (api_req_json(rq, &body, err) < 0)
        return -1;
    r = parse_config(body, &cfg, err);
    cJSON_Delete(body);
    if (r < 0 || bt_ctr_lookup(rq->daemon, api_req_param(rq, "id"), &c, err) < 0) {
        bt_exec_config_done(&cfg);
        return -1;
    }
    if (bt_exec_create(rq->daemon, c, &cfg, &e, err) < 0)
        return -1;
    if (!(out = cJSON_CreateObject()) || !cJSON_AddStringToObject(out, "Id", e->id)) {
        cJSON_Delete(out);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    api_reply_json(rq, 201, out);
    return 0;
}

/* ---- inspect ------------------------------------------------------------------------ */

static cJSON *strv_json(char *const *v)
{
    cJSON *a = cJSON_CreateArray();

    for (; a && v && *v; v++)
        cJSON_AddItemToArray(a, cJSON_CreateString(*v));
    return a;
}

int h_exec_inspect(struct api_req *rq, struct bt_err **err)
{
    struct bt_exec *e;
    cJSON *o, *pc;

    if (bt_exec_lookup(rq->daemon, api_req_param(rq, "id"), &e, err) < 0)
        return -1;
    if (!(o = cJSON_CreateObject()))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    cJSON_AddStringToObject(o, "ID", e->id);
    cJSON_AddBoolToObject(o, "Running", e->running);
    if (e->exited)
        cJSON_AddNumberToObject(o, "ExitCode", e->exit_code);
    else
        cJSON_AddNullToObject(o, "ExitCode");
    pc = cJSON_AddObjectToObject(o, "ProcessConfig");
    if (pc) {
        cJSON_AddBoolToObject(pc, "tty", e->cfg.tty);
        cJSON_AddStringToObject(pc, "entrypoint", e->cfg.cmd[0]);
        cJSON_AddItemToObject(pc, "arguments", strv_json(e->cfg.cmd + 1));
        cJSON_AddBoolToObject(pc, "privileged", e->cfg.privileged);
        if (e->cfg.user && e->cfg.user[0])
            cJSON_AddStringToObject(pc, "user", e->cfg.user);
    }
    cJSON_AddBoolToObject(o, "OpenStdin", e->cfg.attach_stdin);
    cJSON_AddBoolToObject(o, "OpenStderr", e->cfg.attach_stderr);
    cJSON_AddBoolToObject(o, "OpenStdout", e->cfg.attach_stdout);
    cJSON_AddBoolToObject(o, "CanRemove", false);
    cJSON_AddStringToObject(o, "ContainerID", e->ctr_id);
    cJSON_AddStringToObject(o, "DetachKeys", e->cfg.detach_keys ? e->cfg.detach_keys : "");
    cJSON_AddNumberToObject(o, "Pid", e->pid);
    api_reply_json(rq, 200, o);
    return 0;
}

/* ---- resize -------------------------------------------------------------------------- */

int h_exec_resize(struct api_req *rq, struct bt_err **err)
{
    struct bt_exec *e;
    long h, w;

    if (api_req_query_int(rq, "h", -1, &h, err) < 0 || api_req_query_int(rq, "w", -1, &w, err) < 0)
        return -1;
    if (h < 0 || w < 0 || h > 65535 || w > 65535)
        return bt_err_set(err, BT_EINVAL, 0, "strconv.Atoi: parsing \"%s\": invalid syntax",
                          api_req_query(rq, h < 0 ? "h" : "w") ? api_req_query(rq, h < 0 ? "h" : "w")
                                                               : "");
    if (bt_exec_lookup(rq->daemon, api_req_param(rq, "id"), &e, err) < 0 ||
        bt_exec_resize(rq->daemon, e, (unsigned)h, (unsigned)w, err) < 0)
        return -1;
    api_reply_empty(rq, 200);
    return 0;
}

/* ---- start ----------------------------------------------------------------------------- */

static int sess_input(void *s, const char *data, size_t len)
{
    return bt_exec_stream_input(s, data, len);
}

static void sess_input_eof(void *s)
{
    bt_exec_stream_input_eof(s);
}

static void sess_output_resume(void *s)
{
    bt_exec_stream_output_resume(s);
}

static void sess_free(void *s)
{
    bt_exec_stream_free(s);
}

static const struct api_relay_session_ops exec_session = {
    .input = sess_input,
    .input_eof = sess_input_eof,
    .output_resume = sess_output_resume,
    .free = sess_free,
};

static void detached_done(void *arg, const struct bt_err *err)
{
    api_reply_done(arg, err, 200);
}

int h_exec_start(struct api_req *rq, struct bt_err **err)
{
    bool detach = false, tty = false;
    unsigned rows = 0, cols = 0;
    struct bt_exec *e;
    cJSON *body;
    int r = 0;

    if (api_req_json(rq, &body, err) < 0)
        return -1;
    if (body && (get_bool(body, "Detach", &detach, err) < 0 ||
                 get_bool(body, "Tty", &tty, err) < 0 || get_console(body, &rows, &cols, err) < 0))
        r = -1;
    cJSON_Delete(body);
    if (r < 0 || bt_exec_lookup(rq->daemon, api_req_param(rq, "id"), &e, err) < 0)
        return -1;
    if (detach) {
        api_req_ref(rq);
        if (bt_exec_start(rq->daemon, e, tty, rows, cols, NULL, NULL, detached_done, rq, NULL,
                          err) < 0) {
            api_req_unref(rq);
            return -1;
        }
        return 0;
    }
    /* Checked at create: a failure here cannot happen. */
    struct bt_detach_keys keys;
    (void)bt_detach_keys_parse(e->cfg.detach_keys, &keys);
    struct api_relay *x = api_relay_new(e->cfg.tty && e->cfg.attach_stdin ? &keys : NULL);
    struct bt_exec_stream *st;
    if (!x)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (bt_exec_start(rq->daemon, e, tty, rows, cols, &api_relay_core_ops, x, NULL, NULL, &st,
                      err) < 0) {
        api_relay_abandon(x);
        return -1;
    }
    /* Below API 1.42 dockerd labels both modes raw-stream; clients go by
     * the exec's Tty. */
    api_relay_begin(x, rq, st, &exec_session,
                    e->cfg.tty || rq->version < 142 ? "application/vnd.docker.raw-stream"
                                                    : "application/vnd.docker.multiplexed-stream");
    return 0;
}
