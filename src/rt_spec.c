/* The runtime spec as JSON (spec.json): keys are the struct's field names.
 * A NULL string or string list is left out; a 64-bit unsigned value (caps,
 * rlimits) travels as a decimal string because a JSON number is a double and
 * RLIM_INFINITY would not survive. The decoder accepts a number there too,
 * rejects a wrong type naming the key and skips keys it does not know, so a
 * newer daemon can add fields. Used by the daemon and by berth-monitor, which
 * links nothing but cJSON and err.c: keep it free of other berth modules. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "berth/rt_spec.h"

static const char *const netns_names[BT_RT_NETNS_MAX] = {
    [BT_RT_NETNS_NEW] = "new",
    [BT_RT_NETNS_HOST] = "host",
    [BT_RT_NETNS_PATH] = "path",
};

static void json_deletep(cJSON **j)
{
    cJSON_Delete(*j);
}
#define _cleanup_json_ _cleanup_(json_deletep)

/* ---- encode ------------------------------------------------------------------ */

/* Each adder returns false on ENOMEM; the tree owns whatever was added. */
static bool add_str(cJSON *o, const char *key, const char *v)
{
    return !v || cJSON_AddStringToObject(o, key, v);
}

static bool add_num(cJSON *o, const char *key, double v)
{
    return cJSON_AddNumberToObject(o, key, v) != NULL;
}

static bool add_bool(cJSON *o, const char *key, bool v)
{
    return cJSON_AddBoolToObject(o, key, v) != NULL;
}

static bool add_u64(cJSON *o, const char *key, uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRIu64, v);
    return cJSON_AddStringToObject(o, key, s) != NULL;
}

static bool add_strv(cJSON *o, const char *key, char *const *v)
{
    if (!v)
        return true;
    cJSON *a = cJSON_AddArrayToObject(o, key);
    if (!a)
        return false;
    for (; *v; v++) {
        cJSON *s = cJSON_CreateString(*v);
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            return false;
        }
    }
    return true;
}

static cJSON *mount_to_json(const struct bt_rt_mount *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !add_str(o, "source", m->source) || !add_str(o, "target", m->target) ||
        !add_str(o, "fstype", m->fstype) || !add_str(o, "data", m->data) ||
        !add_num(o, "flags", (double)m->flags) ||
        !add_num(o, "propagation", (double)m->propagation)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *rlimit_to_json(const struct bt_rt_rlimit *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !add_num(o, "resource", r->resource) || !add_u64(o, "soft", r->soft) ||
        !add_u64(o, "hard", r->hard)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool add_mounts(cJSON *o, const struct bt_rt_spec *s)
{
    cJSON *a = cJSON_AddArrayToObject(o, "mounts");
    if (!a)
        return false;
    for (size_t i = 0; i < s->n_mounts; i++) {
        cJSON *m = mount_to_json(&s->mounts[i]);
        if (!m || !cJSON_AddItemToArray(a, m)) {
            cJSON_Delete(m);
            return false;
        }
    }
    return true;
}

static bool add_rlimits(cJSON *o, const struct bt_rt_spec *s)
{
    cJSON *a = cJSON_AddArrayToObject(o, "rlimits");
    if (!a)
        return false;
    for (size_t i = 0; i < s->n_rlimits; i++) {
        cJSON *r = rlimit_to_json(&s->rlimits[i]);
        if (!r || !cJSON_AddItemToArray(a, r)) {
            cJSON_Delete(r);
            return false;
        }
    }
    return true;
}

static bool add_sysctls(cJSON *o, const struct bt_rt_spec *s)
{
    cJSON *m = cJSON_AddObjectToObject(o, "sysctls");
    if (!m)
        return false;
    for (size_t i = 0; i < s->n_sysctls; i++)
        if (!cJSON_AddStringToObject(m, s->sysctls[i].key, s->sysctls[i].value))
            return false;
    return true;
}

static bool spec_to_json(cJSON *o, const struct bt_rt_spec *s)
{
    return add_str(o, "id", s->id) && add_str(o, "run_dir", s->run_dir) &&
           add_str(o, "log_path", s->log_path) &&
           add_num(o, "log_max_size", (double)s->log_max_size) &&
           add_num(o, "log_max_file", s->log_max_file) &&
           add_str(o, "log_attrs", s->log_attrs) &&
           add_bool(o, "log_compress", s->log_compress) && add_bool(o, "tty", s->tty) &&
           add_bool(o, "open_stdin", s->open_stdin) && add_bool(o, "stdin_once", s->stdin_once) &&
           add_bool(o, "attach_wait", s->attach_wait) &&
           add_num(o, "tty_rows", s->tty_rows) && add_num(o, "tty_cols", s->tty_cols) &&
           add_str(o, "rootfs", s->rootfs) && add_bool(o, "readonly_rootfs", s->readonly_rootfs) &&
           add_str(o, "netns", netns_names[s->netns]) && add_str(o, "netns_path", s->netns_path) &&
           add_str(o, "hostname", s->hostname) && add_str(o, "domainname", s->domainname) &&
           add_num(o, "shm_size", (double)s->shm_size) && add_mounts(o, s) &&
           add_strv(o, "masked_paths", s->masked_paths) &&
           add_strv(o, "readonly_paths", s->readonly_paths) &&
           add_bool(o, "privileged", s->privileged) &&
           add_strv(o, "cgroup_procs", s->cgroup_procs) && add_strv(o, "argv", s->argv) &&
           add_strv(o, "env", s->env) && add_str(o, "cwd", s->cwd) && add_str(o, "user", s->user) &&
           add_strv(o, "group_add", s->group_add) && add_bool(o, "init", s->init) &&
           add_rlimits(o, s) && add_sysctls(o, s) && add_u64(o, "caps", s->caps) &&
           add_bool(o, "no_new_privs", s->no_new_privs) &&
           add_str(o, "seccomp_bpf", s->seccomp_bpf) &&
           add_num(o, "oom_score_adj", s->oom_score_adj) &&
           (!s->join_pid || add_num(o, "join_pid", s->join_pid));
}

int bt_rt_spec_encode(const struct bt_rt_spec *s, char **ret_text, struct bt_err **err)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    char *text;

    if ((unsigned)s->netns >= BT_RT_NETNS_MAX)
        return bt_err_set(err, BT_EINTERNAL, 0, "runtime spec: bad netns mode %d", (int)s->netns);
    if (!o || !spec_to_json(o, s) || !(text = cJSON_PrintUnformatted(o)))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "runtime spec");
    *ret_text = text;
    return 0;
}

/* ---- decode ------------------------------------------------------------------ */

/* The one place that looks keys up: exact field names, as the encoder writes them. */
static const cJSON *get(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNull(v) ? NULL : v;
}

static int bad(struct bt_err **err, const char *key, const char *what)
{
    return bt_err_set(err, BT_EINVAL, 0, "runtime spec: \"%s\": expected %s", key, what);
}

static int nomem(struct bt_err **err)
{
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "runtime spec");
}

static int get_str(const cJSON *o, const char *key, char **ret, struct bt_err **err)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return bad(err, key, "a string");
    if (!(*ret = strdup(v->valuestring)))
        return nomem(err);
    return 0;
}

static int get_bool(const cJSON *o, const char *key, bool *ret, struct bt_err **err)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return bad(err, key, "a boolean");
    *ret = cJSON_IsTrue(v);
    return 0;
}

#define MAX_EXACT 9007199254740992.0 /* 2^53 */

/* An integer in [min, max]; doubles hold every integer up to 2^53 exactly. */
static int get_int(const cJSON *o, const char *key, double min, double max, int64_t *ret,
                   struct bt_err **err)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    /* Range first: the cast below is only defined for values an int64 holds. */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= min && v->valuedouble <= max) ||
        (double)(int64_t)v->valuedouble != v->valuedouble)
        return bad(err, key, "an integer in range");
    *ret = (int64_t)v->valuedouble;
    return 0;
}

static int get_u64(const cJSON *o, const char *key, uint64_t *ret, struct bt_err **err)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    if (cJSON_IsNumber(v)) {
        int64_t n = 0;
        if (get_int(o, key, 0, MAX_EXACT, &n, err) < 0)
            return -1;
        *ret = (uint64_t)n;
        return 0;
    }
    const char *s = cJSON_GetStringValue(v);
    char *end;
    if (!s || *s < '0' || *s > '9')
        return bad(err, key, "an unsigned integer");
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || *end)
        return bad(err, key, "an unsigned integer");
    *ret = n;
    return 0;
}

/* Field-typed wrappers so each call site stays one line. */
#define GET_INT(o, key, min, max, dst)                                                             \
    ({                                                                                             \
        int64_t n_ = (dst);                                                                        \
        int r_ = get_int(o, key, min, max, &n_, err);                                              \
        (dst) = (__typeof__(dst))n_;                                                               \
        r_;                                                                                        \
    })

static void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static int get_strv(const cJSON *o, const char *key, char ***ret, struct bt_err **err)
{
    const cJSON *a = get(o, key), *it;
    size_t n = 0;

    if (!a)
        return 0;
    if (!cJSON_IsArray(a))
        return bad(err, key, "an array of strings");
    char **v = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*v));
    if (!v)
        return nomem(err);
    cJSON_ArrayForEach (it, a) {
        if (!cJSON_IsString(it)) {
            strv_free(v);
            return bad(err, key, "an array of strings");
        }
        if (!(v[n++] = strdup(it->valuestring))) {
            strv_free(v);
            return nomem(err);
        }
    }
    *ret = v;
    return 0;
}

static int mount_from_json(const cJSON *o, struct bt_rt_mount *m, struct bt_err **err)
{
    if (!cJSON_IsObject(o))
        return bad(err, "mounts", "an array of objects");
    if (get_str(o, "source", &m->source, err) < 0 || get_str(o, "target", &m->target, err) < 0 ||
        get_str(o, "fstype", &m->fstype, err) < 0 || get_str(o, "data", &m->data, err) < 0 ||
        GET_INT(o, "flags", 0, MAX_EXACT, m->flags) < 0 ||
        GET_INT(o, "propagation", 0, MAX_EXACT, m->propagation) < 0)
        return -1;
    if (!m->target)
        return bad(err, "target", "a string in every mount");
    return 0;
}

static int get_mounts(const cJSON *o, struct bt_rt_spec *s, struct bt_err **err)
{
    const cJSON *a = get(o, "mounts"), *it;

    if (!a)
        return 0;
    if (!cJSON_IsArray(a))
        return bad(err, "mounts", "an array of objects");
    size_t n = (size_t)cJSON_GetArraySize(a);
    if (n == 0)
        return 0;
    if (!(s->mounts = calloc(n, sizeof(*s->mounts))))
        return nomem(err);
    cJSON_ArrayForEach (it, a) {
        /* Count first so bt_rt_spec_done frees a half-filled entry too. */
        struct bt_rt_mount *m = &s->mounts[s->n_mounts++];
        if (mount_from_json(it, m, err) < 0)
            return -1;
    }
    return 0;
}

static int get_rlimits(const cJSON *o, struct bt_rt_spec *s, struct bt_err **err)
{
    const cJSON *a = get(o, "rlimits"), *it;

    if (!a)
        return 0;
    if (!cJSON_IsArray(a))
        return bad(err, "rlimits", "an array of objects");
    size_t n = (size_t)cJSON_GetArraySize(a);
    if (n == 0)
        return 0;
    if (!(s->rlimits = calloc(n, sizeof(*s->rlimits))))
        return nomem(err);
    cJSON_ArrayForEach (it, a) {
        struct bt_rt_rlimit *r = &s->rlimits[s->n_rlimits++];
        if (!cJSON_IsObject(it))
            return bad(err, "rlimits", "an array of objects");
        if (!get(it, "resource"))
            return bad(err, "resource", "an integer in every rlimit");
        if (GET_INT(it, "resource", 0, INT_MAX, r->resource) < 0 ||
            get_u64(it, "soft", &r->soft, err) < 0 || get_u64(it, "hard", &r->hard, err) < 0)
            return -1;
    }
    return 0;
}

static int get_sysctls(const cJSON *o, struct bt_rt_spec *s, struct bt_err **err)
{
    const cJSON *m = get(o, "sysctls"), *it;

    if (!m)
        return 0;
    if (!cJSON_IsObject(m))
        return bad(err, "sysctls", "an object of strings");
    size_t n = (size_t)cJSON_GetArraySize(m);
    if (n == 0)
        return 0;
    if (!(s->sysctls = calloc(n, sizeof(*s->sysctls))))
        return nomem(err);
    cJSON_ArrayForEach (it, m) {
        if (!cJSON_IsString(it))
            return bad(err, "sysctls", "an object of strings");
        struct bt_kv *kv = &s->sysctls[s->n_sysctls];
        kv->key = strdup(it->string);
        kv->value = strdup(it->valuestring);
        s->n_sysctls++;
        if (!kv->key || !kv->value)
            return nomem(err);
    }
    return 0;
}

static int get_netns(const cJSON *o, struct bt_rt_spec *s, struct bt_err **err)
{
    const cJSON *v = get(o, "netns");
    if (!v)
        return 0;
    for (int i = 0; i < BT_RT_NETNS_MAX; i++)
        if (cJSON_IsString(v) && strcmp(v->valuestring, netns_names[i]) == 0) {
            s->netns = (enum bt_rt_netns)i;
            return 0;
        }
    return bad(err, "netns", "\"new\", \"host\" or \"path\"");
}

static int spec_from_json(const cJSON *o, struct bt_rt_spec *s, struct bt_err **err)
{
    if (get_str(o, "id", &s->id, err) < 0 || get_str(o, "run_dir", &s->run_dir, err) < 0 ||
        get_str(o, "log_path", &s->log_path, err) < 0 ||
        get_str(o, "log_attrs", &s->log_attrs, err) < 0 ||
        GET_INT(o, "log_max_size", 0, MAX_EXACT, s->log_max_size) < 0 ||
        GET_INT(o, "log_max_file", 0, INT_MAX, s->log_max_file) < 0 ||
        get_bool(o, "log_compress", &s->log_compress, err) < 0 ||
        get_bool(o, "tty", &s->tty, err) < 0 ||
        get_bool(o, "open_stdin", &s->open_stdin, err) < 0 ||
        get_bool(o, "stdin_once", &s->stdin_once, err) < 0 ||
        get_bool(o, "attach_wait", &s->attach_wait, err) < 0 ||
        GET_INT(o, "tty_rows", 0, USHRT_MAX, s->tty_rows) < 0 ||
        GET_INT(o, "tty_cols", 0, USHRT_MAX, s->tty_cols) < 0 ||
        get_str(o, "rootfs", &s->rootfs, err) < 0 ||
        get_bool(o, "readonly_rootfs", &s->readonly_rootfs, err) < 0 || get_netns(o, s, err) < 0 ||
        get_str(o, "netns_path", &s->netns_path, err) < 0 ||
        get_str(o, "hostname", &s->hostname, err) < 0 ||
        get_str(o, "domainname", &s->domainname, err) < 0 ||
        GET_INT(o, "shm_size", 0, MAX_EXACT, s->shm_size) < 0 || get_mounts(o, s, err) < 0 ||
        get_strv(o, "masked_paths", &s->masked_paths, err) < 0 ||
        get_strv(o, "readonly_paths", &s->readonly_paths, err) < 0 ||
        get_bool(o, "privileged", &s->privileged, err) < 0 ||
        get_strv(o, "cgroup_procs", &s->cgroup_procs, err) < 0 ||
        get_strv(o, "argv", &s->argv, err) < 0 || get_strv(o, "env", &s->env, err) < 0 ||
        get_str(o, "cwd", &s->cwd, err) < 0 || get_str(o, "user", &s->user, err) < 0 ||
        get_strv(o, "group_add", &s->group_add, err) < 0 ||
        get_bool(o, "init", &s->init, err) < 0 || get_rlimits(o, s, err) < 0 ||
        get_sysctls(o, s, err) < 0 || get_u64(o, "caps", &s->caps, err) < 0 ||
        get_bool(o, "no_new_privs", &s->no_new_privs, err) < 0 ||
        get_str(o, "seccomp_bpf", &s->seccomp_bpf, err) < 0 ||
        GET_INT(o, "oom_score_adj", -1000, 1000, s->oom_score_adj) < 0 ||
        GET_INT(o, "join_pid", 0, INT_MAX, s->join_pid) < 0)
        return -1;
    return 0;
}

int bt_rt_spec_decode(const char *text, size_t len, struct bt_rt_spec *ret, struct bt_err **err)
{
    memset(ret, 0, sizeof(*ret));
    _cleanup_json_ cJSON *o = cJSON_ParseWithLength(text, len);
    if (!o)
        return bt_err_set(err, BT_EINVAL, 0, "runtime spec: not valid JSON");
    if (!cJSON_IsObject(o))
        return bt_err_set(err, BT_EINVAL, 0, "runtime spec: not a JSON object");
    if (spec_from_json(o, ret, err) < 0) {
        bt_rt_spec_done(ret);
        return -1;
    }
    return 0;
}

void bt_rt_spec_done(struct bt_rt_spec *s)
{
    if (!s)
        return;
    free(s->id);
    free(s->run_dir);
    free(s->log_path);
    free(s->log_attrs);
    free(s->rootfs);
    free(s->netns_path);
    free(s->hostname);
    free(s->domainname);
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].source);
        free(s->mounts[i].target);
        free(s->mounts[i].fstype);
        free(s->mounts[i].data);
    }
    free(s->mounts);
    strv_free(s->masked_paths);
    strv_free(s->readonly_paths);
    strv_free(s->cgroup_procs);
    strv_free(s->argv);
    strv_free(s->env);
    free(s->cwd);
    free(s->user);
    strv_free(s->group_add);
    free(s->rlimits);
    for (size_t i = 0; i < s->n_sysctls; i++) {
        free(s->sysctls[i].key);
        free(s->sysctls[i].value);
    }
    free(s->sysctls);
    free(s->seccomp_bpf);
    memset(s, 0, sizeof(*s));
}
