/* Docker's seccomp profile format (--security-opt seccomp=FILE; the CLI
 * sends the file's content):
 *   {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
 *    "architectures": ["SCMP_ARCH_X86_64", ...] | "archMap": [{"architecture",
 *    "subArchitectures"}],
 *    "syscalls": [{"names": [...] | "name": "...", "action", "errnoRet",
 *                  "args": [{"index", "value", "valueTwo", "op"}],
 *                  "includes": {"caps", "arches", "minKernel"},
 *                  "excludes": {"caps", "arches"}}]}
 * Keys match case-insensitively, as Go's decoder does. */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "berth/caps.h"
#include "seccomp-internal.h"

#define BAD(err, ...) bt_err_set(err, BT_EINVAL, 0, "decoding seccomp profile failed: " __VA_ARGS__)

struct sc_name {
    const char *name;
    uint32_t value;
};

static const struct sc_name arches[] = {
    {"SCMP_ARCH_X86", SCMP_ARCH_X86},
    {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
    {"SCMP_ARCH_X32", SCMP_ARCH_X32},
    {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
    {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
    {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
    {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
    {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
    {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
    {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
    {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
    {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
    {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
    {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
    {"SCMP_ARCH_S390", SCMP_ARCH_S390},
    {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
    {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
};

static const struct sc_name ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static int lookup(const struct sc_name *t, size_t n, const char *s, uint32_t *ret)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, s) == 0) {
            *ret = t[i].value;
            return 0;
        }
    return -1;
}

/* The one place keys are looked up: case-insensitive, like Go's decoder. A
 * JSON null counts as absent. */
static const cJSON *jget(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);

    return cJSON_IsNull(v) ? NULL : v;
}

static int jstring(const cJSON *o, const char *key, const char **ret, struct bt_err **err)
{
    const cJSON *v = jget(o, key);

    *ret = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return BAD(err, "%s: expected a string", key);
    *ret = v->valuestring;
    return 0;
}

/* An unsigned number: present (1), absent (0) or wrong (-1). */
static int juint(const cJSON *o, const char *key, uint64_t max, uint64_t *ret, struct bt_err **err)
{
    const cJSON *v = jget(o, key);
    double d;

    if (!v)
        return 0;
    d = cJSON_GetNumberValue(v);
    if (!cJSON_IsNumber(v) || d < 0 || d != floor(d) || d > (double)max)
        return BAD(err, "%s: expected an unsigned integer", key);
    *ret = d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)d;
    return 1;
}

/* An array (or absent: *ret NULL) whose items are all strings. */
static int jstrings(const cJSON *o, const char *key, const cJSON **ret, struct bt_err **err)
{
    const cJSON *v = jget(o, key), *it;

    *ret = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return BAD(err, "%s: expected an array of strings", key);
    cJSON_ArrayForEach(it, v) if (!cJSON_IsString(it)) return BAD(
        err, "%s: expected an array of strings", key);
    *ret = v;
    return 0;
}

static bool strings_have(const cJSON *list, const char *s)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, list) if (strcmp(it->valuestring, s) == 0) return true;
    return false;
}

static int parse_action(const char *s, bool has_errno, uint64_t errno_ret, uint32_t *ret,
                        struct bt_err **err)
{
    /* Without errnoRet, ERRNO and TRACE carry EPERM, as runc does. */
    uint32_t data = has_errno ? (uint32_t)errno_ret : EPERM;

    if (!s)
        return BAD(err, "missing action");
    if (strcmp(s, "SCMP_ACT_ALLOW") == 0)
        *ret = SCMP_ACT_ALLOW;
    else if (strcmp(s, "SCMP_ACT_ERRNO") == 0)
        *ret = SCMP_ACT_ERRNO(data);
    else if (strcmp(s, "SCMP_ACT_KILL") == 0 || strcmp(s, "SCMP_ACT_KILL_THREAD") == 0)
        *ret = SCMP_ACT_KILL_THREAD;
    else if (strcmp(s, "SCMP_ACT_KILL_PROCESS") == 0)
        *ret = SCMP_ACT_KILL_PROCESS;
    else if (strcmp(s, "SCMP_ACT_TRAP") == 0)
        *ret = SCMP_ACT_TRAP;
    else if (strcmp(s, "SCMP_ACT_TRACE") == 0)
        *ret = SCMP_ACT_TRACE(data);
    else if (strcmp(s, "SCMP_ACT_LOG") == 0)
        *ret = SCMP_ACT_LOG;
    else
        return BAD(err, "unknown action \"%s\"", s);
    return 0;
}

/* Reads "4.8" (or "5.10.0"); a bad version is an error, as in Docker. */
static int parse_kernel(const char *s, unsigned *major, unsigned *minor, struct bt_err **err)
{
    int n = 0;

    if (sscanf(s, "%u.%u%n", major, minor, &n) != 2 || (s[n] != '\0' && s[n] != '.'))
        return BAD(err, "invalid kernel version \"%s\"", s);
    return 0;
}

/* Docker's includes/excludes: does this rule apply to this container? */
static int rule_applies(const cJSON *rule, uint64_t caps, bool *ret, struct bt_err **err)
{
    const cJSON *inc = jget(rule, "includes"), *exc = jget(rule, "excludes");
    const cJSON *list, *it;
    const char *arch = bt__sc_go_arch(), *kver;
    unsigned ma, mi;

    *ret = false;
    if (exc) {
        if (jstrings(exc, "arches", &list, err) < 0)
            return -1;
        if (list && strings_have(list, arch))
            return 0;
        if (jstrings(exc, "caps", &list, err) < 0)
            return -1;
        cJSON_ArrayForEach(it, list)
        {
            int c = bt_caps_from_name(it->valuestring);
            if (c >= 0 && (caps & (UINT64_C(1) << c)))
                return 0;
        }
    }
    if (inc) {
        if (jstrings(inc, "arches", &list, err) < 0)
            return -1;
        if (list && cJSON_GetArraySize(list) > 0 && !strings_have(list, arch))
            return 0;
        if (jstrings(inc, "caps", &list, err) < 0)
            return -1;
        cJSON_ArrayForEach(it, list)
        {
            int c = bt_caps_from_name(it->valuestring);
            if (c < 0 || !(caps & (UINT64_C(1) << c)))
                return 0;
        }
        if (jstring(inc, "minKernel", &kver, err) < 0)
            return -1;
        if (kver && *kver) {
            if (parse_kernel(kver, &ma, &mi, err) < 0)
                return -1;
            if (!bt__sc_kernel_at_least(ma, mi))
                return 0;
        }
    }
    *ret = true;
    return 0;
}

static int parse_args(const cJSON *rule, struct scmp_arg_cmp *args, unsigned *ret_n,
                      struct bt_err **err)
{
    const cJSON *list = jget(rule, "args"), *a;
    unsigned n = 0;

    *ret_n = 0;
    if (!list)
        return 0;
    if (!cJSON_IsArray(list))
        return BAD(err, "args: expected an array");
    cJSON_ArrayForEach(a, list)
    {
        uint64_t index = 0, value = 0, two = 0;
        const char *op;
        uint32_t opv;

        if (n == 6)
            return BAD(err, "args: more than 6 conditions");
        if (!cJSON_IsObject(a))
            return BAD(err, "args: expected objects");
        if (juint(a, "index", 5, &index, err) < 0 ||
            juint(a, "value", UINT64_MAX, &value, err) < 0 ||
            juint(a, "valueTwo", UINT64_MAX, &two, err) < 0 || jstring(a, "op", &op, err) < 0)
            return -1;
        if (!op || lookup(ops, ARRAY_SIZE(ops), op, &opv) < 0)
            return BAD(err, "unknown operator \"%s\"", op ? op : "");
        args[n++] = (struct scmp_arg_cmp){(unsigned)index, (enum scmp_compare)opv, value, two};
    }
    *ret_n = n;
    return 0;
}

/* Several conditions on one argument cannot all hold in one libseccomp rule;
 * Docker's runtime reads them as alternatives (one rule each), and so do we. */
static int add_name(struct bt__sc *f, const char *name, uint32_t action,
                    const struct scmp_arg_cmp *args, unsigned n, struct bt_err **err)
{
    bool same_index = n > 1;

    for (unsigned i = 1; i < n; i++)
        if (args[i].arg != args[0].arg)
            same_index = false;
    if (!same_index)
        return bt__sc_add(f, name, action, args, n, err);
    for (unsigned i = 0; i < n; i++)
        if (bt__sc_add(f, name, action, &args[i], 1, err) < 0)
            return -1;
    return 0;
}

static int add_rule(struct bt__sc *f, const cJSON *rule, uint64_t caps, struct bt_err **err)
{
    struct scmp_arg_cmp args[6];
    const cJSON *names, *it;
    const char *name, *action_s;
    uint64_t eret = 0;
    uint32_t action;
    unsigned n_args;
    bool applies;
    int has_errno;

    if (!cJSON_IsObject(rule))
        return BAD(err, "syscalls: expected objects");
    if (jstrings(rule, "names", &names, err) < 0 || jstring(rule, "name", &name, err) < 0 ||
        jstring(rule, "action", &action_s, err) < 0)
        return -1;
    if (name && names && cJSON_GetArraySize(names) > 0)
        return BAD(err, "'name' and 'names' were specified in the seccomp profile, use either "
                        "'name' or 'names'");
    has_errno = juint(rule, "errnoRet", 4095, &eret, err);
    if (has_errno < 0 || parse_action(action_s, has_errno, eret, &action, err) < 0 ||
        parse_args(rule, args, &n_args, err) < 0 || rule_applies(rule, caps, &applies, err) < 0)
        return -1;
    if (name && *name) {
        if (!applies) {
            (void)bt__sc_note(f, name);
            return 0;
        }
        return add_name(f, name, action, args, n_args, err);
    }
    cJSON_ArrayForEach(it, names)
    {
        if (!applies)
            (void)bt__sc_note(f, it->valuestring);
        else if (add_name(f, it->valuestring, action, args, n_args, err) < 0)
            return -1;
    }
    return 0;
}

static int add_arch_name(struct bt__sc *f, const char *s, struct bt_err **err)
{
    uint32_t arch;

    if (lookup(arches, ARRAY_SIZE(arches), s, &arch) < 0)
        return BAD(err, "unknown architecture \"%s\"", s);
    return bt__sc_add_arch(f, arch, err);
}

/* "architectures" lists them all; "archMap" lists sub-architectures per
 * native one, of which only this machine's entry counts. */
static int add_arches(struct bt__sc *f, const cJSON *root, struct bt_err **err)
{
    const cJSON *list, *map = jget(root, "archMap"), *e, *it;
    uint32_t native = seccomp_arch_native();

    if (jstrings(root, "architectures", &list, err) < 0)
        return -1;
    if (list && cJSON_GetArraySize(list) > 0 && map && cJSON_GetArraySize(map) > 0)
        return BAD(err, "'architectures' and 'archMap' were specified in the seccomp profile, "
                        "use either 'architectures' or 'archMap'");
    cJSON_ArrayForEach(it, list) if (add_arch_name(f, it->valuestring, err) < 0) return -1;
    if (map && !cJSON_IsArray(map))
        return BAD(err, "archMap: expected an array");
    cJSON_ArrayForEach(e, map)
    {
        const char *a;
        const cJSON *subs;
        uint32_t v;

        if (jstring(e, "architecture", &a, err) < 0 ||
            jstrings(e, "subArchitectures", &subs, err) < 0)
            return -1;
        if (!a || lookup(arches, ARRAY_SIZE(arches), a, &v) < 0)
            return BAD(err, "unknown architecture \"%s\"", a ? a : "");
        if (v != native)
            continue;
        cJSON_ArrayForEach(it, subs) if (add_arch_name(f, it->valuestring, err) < 0) return -1;
    }
    return 0;
}

static int build(struct bt__sc *f, const cJSON *root, uint64_t caps, struct bt_err **err)
{
    const cJSON *calls, *rule;
    const char *def_s;
    uint64_t def_errno = 0;
    uint32_t def;
    int has;

    if (!cJSON_IsObject(root))
        return BAD(err, "expected a JSON object");
    if (jstring(root, "defaultAction", &def_s, err) < 0)
        return -1;
    has = juint(root, "defaultErrnoRet", 4095, &def_errno, err);
    if (has < 0 || parse_action(def_s, has, def_errno, &def, err) < 0)
        return -1;
    calls = jget(root, "syscalls");
    if (calls && !cJSON_IsArray(calls))
        return BAD(err, "syscalls: expected an array");
    if (bt__sc_init(f, def, err) < 0 || add_arches(f, root, err) < 0)
        return -1;
    cJSON_ArrayForEach(rule, calls) if (add_rule(f, rule, caps, err) < 0) return -1;
    return 0;
}

int bt__sc_json(struct bt__sc *f, const char *json, size_t len, uint64_t caps, struct bt_err **err)
{
    const char *end = NULL;
    cJSON *root;
    int r;

    /* The _Opts form reports where parsing stopped without cJSON's global
     * error pointer, which other pool threads may be writing. */
    root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!root)
        return BAD(err, "invalid JSON near byte %td", end ? end - json : (ptrdiff_t)0);
    r = build(f, root, caps, err);
    cJSON_Delete(root);
    if (r < 0)
        bt__sc_done(f);
    return r;
}
