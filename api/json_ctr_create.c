/* POST /containers/create: the request body checked for shape, the values
 * dockerd checks at create, and HostConfig filled with dockerd's defaults.
 *
 * One table per Go struct (Config, HostConfig, its embedded Resources, ...)
 * in the struct's field order drives everything: Go's decoder matches keys
 * case-insensitively, ignores unknown ones and takes `null` as "leave the
 * zero value", and its encoder prints every field (but the omitempty ones)
 * in that order. Reproducing that gives inspect the exact key set and order
 * dockerd shows, whatever subset of keys a client sent. */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/json_ctr.h"
#include "berth/ports.h"

enum ftype {
    F_STR,
    F_BOOL,
    F_INT,      /* int / int64 */
    F_UINT16,
    F_UINT64,
    F_STRV,     /* []string: array of strings or null */
    F_STRSLICE, /* strslice.StrSlice: also a bare string */
    F_STRMAP,   /* map[string]string */
    F_OBJ,      /* any other map: PortBindings, ExposedPorts, Volumes, ... */
    F_ARR,      /* any other slice: Devices, Ulimits, Mounts, ... */
    F_PINT,     /* *int64: null stays null */
    F_PBOOL,    /* *bool */
    F_STRUCT,   /* a nested struct (value) */
    F_PSTRUCT,  /* a nested struct behind a pointer: null stays null */
    F_EMBED,    /* an embedded struct: its fields inline */
    F_CONSOLE,  /* [2]uint */
};

#define OMITEMPTY 1u

struct field {
    const char *name;
    enum ftype type;
    unsigned flags;
    const struct schema *sub;
};

struct schema {
    const char *name;
    const struct field *f;
    size_t n;
};

#define SCHEMA(var, label, ...)                                                                   \
    static const struct field var##_fields[] = {__VA_ARGS__};                                      \
    static const struct schema var = {label, var##_fields, ARRAY_SIZE(var##_fields)}

SCHEMA(health_schema, "HealthConfig", {"Test", F_STRV, OMITEMPTY, NULL},
       {"Interval", F_INT, OMITEMPTY, NULL}, {"Timeout", F_INT, OMITEMPTY, NULL},
       {"StartPeriod", F_INT, OMITEMPTY, NULL}, {"Retries", F_INT, OMITEMPTY, NULL});

SCHEMA(config_schema, "Config", {"Hostname", F_STR, 0, NULL}, {"Domainname", F_STR, 0, NULL},
       {"User", F_STR, 0, NULL}, {"AttachStdin", F_BOOL, 0, NULL},
       {"AttachStdout", F_BOOL, 0, NULL}, {"AttachStderr", F_BOOL, 0, NULL},
       {"ExposedPorts", F_OBJ, OMITEMPTY, NULL}, {"Tty", F_BOOL, 0, NULL},
       {"OpenStdin", F_BOOL, 0, NULL}, {"StdinOnce", F_BOOL, 0, NULL}, {"Env", F_STRV, 0, NULL},
       {"Cmd", F_STRSLICE, 0, NULL}, {"Healthcheck", F_PSTRUCT, OMITEMPTY, &health_schema},
       {"ArgsEscaped", F_BOOL, OMITEMPTY, NULL}, {"Image", F_STR, 0, NULL},
       {"Volumes", F_OBJ, 0, NULL}, {"WorkingDir", F_STR, 0, NULL},
       {"Entrypoint", F_STRSLICE, 0, NULL}, {"NetworkDisabled", F_BOOL, OMITEMPTY, NULL},
       {"MacAddress", F_STR, OMITEMPTY, NULL}, {"OnBuild", F_STRV, 0, NULL},
       {"Labels", F_STRMAP, 0, NULL}, {"StopSignal", F_STR, OMITEMPTY, NULL},
       {"StopTimeout", F_PINT, OMITEMPTY, NULL}, {"Shell", F_STRSLICE, OMITEMPTY, NULL});

SCHEMA(log_schema, "LogConfig", {"Type", F_STR, 0, NULL}, {"Config", F_STRMAP, 0, NULL});

SCHEMA(restart_schema, "RestartPolicy", {"Name", F_STR, 0, NULL},
       {"MaximumRetryCount", F_INT, 0, NULL});

SCHEMA(resources_schema, "Resources", {"CpuShares", F_INT, 0, NULL}, {"Memory", F_INT, 0, NULL},
       {"NanoCpus", F_INT, 0, NULL}, {"CgroupParent", F_STR, 0, NULL},
       {"BlkioWeight", F_UINT16, 0, NULL}, {"BlkioWeightDevice", F_ARR, 0, NULL},
       {"BlkioDeviceReadBps", F_ARR, 0, NULL}, {"BlkioDeviceWriteBps", F_ARR, 0, NULL},
       {"BlkioDeviceReadIOps", F_ARR, 0, NULL}, {"BlkioDeviceWriteIOps", F_ARR, 0, NULL},
       {"CpuPeriod", F_INT, 0, NULL}, {"CpuQuota", F_INT, 0, NULL},
       {"CpuRealtimePeriod", F_INT, 0, NULL}, {"CpuRealtimeRuntime", F_INT, 0, NULL},
       {"CpusetCpus", F_STR, 0, NULL}, {"CpusetMems", F_STR, 0, NULL},
       {"Devices", F_ARR, 0, NULL}, {"DeviceCgroupRules", F_STRV, 0, NULL},
       {"DeviceRequests", F_ARR, 0, NULL}, {"KernelMemory", F_INT, 0, NULL},
       {"KernelMemoryTCP", F_INT, 0, NULL}, {"MemoryReservation", F_INT, 0, NULL},
       {"MemorySwap", F_INT, 0, NULL}, {"MemorySwappiness", F_PINT, 0, NULL},
       {"OomKillDisable", F_PBOOL, 0, NULL}, {"PidsLimit", F_PINT, 0, NULL},
       {"Ulimits", F_ARR, 0, NULL}, {"CpuCount", F_INT, 0, NULL}, {"CpuPercent", F_INT, 0, NULL},
       {"IOMaximumIOps", F_UINT64, 0, NULL}, {"IOMaximumBandwidth", F_UINT64, 0, NULL});

SCHEMA(host_schema, "HostConfig", {"Binds", F_STRV, 0, NULL}, {"ContainerIDFile", F_STR, 0, NULL},
       {"LogConfig", F_STRUCT, 0, &log_schema}, {"NetworkMode", F_STR, 0, NULL},
       {"PortBindings", F_OBJ, 0, NULL}, {"RestartPolicy", F_STRUCT, 0, &restart_schema},
       {"AutoRemove", F_BOOL, 0, NULL}, {"VolumeDriver", F_STR, 0, NULL},
       {"VolumesFrom", F_STRV, 0, NULL}, {"CapAdd", F_STRSLICE, 0, NULL},
       {"CapDrop", F_STRSLICE, 0, NULL}, {"CgroupnsMode", F_STR, 0, NULL},
       {"Dns", F_STRV, 0, NULL}, {"DnsOptions", F_STRV, 0, NULL}, {"DnsSearch", F_STRV, 0, NULL},
       {"ExtraHosts", F_STRV, 0, NULL}, {"GroupAdd", F_STRV, 0, NULL},
       {"IpcMode", F_STR, 0, NULL}, {"Cgroup", F_STR, 0, NULL}, {"Links", F_STRV, 0, NULL},
       {"OomScoreAdj", F_INT, 0, NULL}, {"PidMode", F_STR, 0, NULL},
       {"Privileged", F_BOOL, 0, NULL}, {"PublishAllPorts", F_BOOL, 0, NULL},
       {"ReadonlyRootfs", F_BOOL, 0, NULL}, {"SecurityOpt", F_STRV, 0, NULL},
       {"StorageOpt", F_STRMAP, OMITEMPTY, NULL}, {"Tmpfs", F_STRMAP, OMITEMPTY, NULL},
       {"UTSMode", F_STR, 0, NULL}, {"UsernsMode", F_STR, 0, NULL}, {"ShmSize", F_INT, 0, NULL},
       {"Sysctls", F_STRMAP, OMITEMPTY, NULL}, {"Runtime", F_STR, OMITEMPTY, NULL},
       {"ConsoleSize", F_CONSOLE, 0, NULL}, {"Isolation", F_STR, 0, NULL},
       {"", F_EMBED, 0, &resources_schema}, {"Mounts", F_ARR, OMITEMPTY, NULL},
       {"MaskedPaths", F_STRV, 0, NULL}, {"ReadonlyPaths", F_STRV, 0, NULL},
       {"Init", F_PBOOL, OMITEMPTY, NULL});

SCHEMA(networking_schema, "NetworkingConfig", {"EndpointsConfig", F_OBJ, 0, NULL});

SCHEMA(update_schema, "UpdateConfig", {"", F_EMBED, 0, &resources_schema},
       {"RestartPolicy", F_STRUCT, 0, &restart_schema});

/* ---- shaping ------------------------------------------------------------------- */

static int nomem(struct bt_err **err)
{
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "container config");
}

/* Go's name for the JSON value it could not decode. */
static const char *json_kind(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsNumber(v))
        return "number";
    if (cJSON_IsBool(v))
        return "bool";
    if (cJSON_IsArray(v))
        return "array";
    return "object";
}

static const char *go_type(const struct field *f)
{
    static const char *const names[] = {
        [F_STR] = "string",       [F_BOOL] = "bool",
        [F_INT] = "int64",        [F_UINT16] = "uint16",
        [F_UINT64] = "uint64",    [F_STRV] = "[]string",
        [F_STRSLICE] = "[]string", [F_STRMAP] = "map[string]string",
        [F_OBJ] = "map",          [F_ARR] = "slice",
        [F_PINT] = "int64",       [F_PBOOL] = "bool",
        [F_CONSOLE] = "[2]uint",
    };
    if (f->type == F_STRUCT || f->type == F_PSTRUCT)
        return f->sub->name;
    return names[f->type] ? names[f->type] : "value";
}

static int type_error(const char *path, const struct field *f, const cJSON *v, struct bt_err **err)
{
    return bt_err_set(err, BT_EINVAL, 0,
                      "invalid JSON: cannot unmarshal %s into field %s.%s of type %s",
                      json_kind(v), path, f->name, go_type(f));
}

/* The member Go's decoder would pick: the exact key, else any case. */
static const cJSON *member(const cJSON *obj, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
    return m ? m : cJSON_GetObjectItem(obj, name);
}

static bool number_fits(const cJSON *v, double lo, double hi)
{
    double d = v->valuedouble;
    return cJSON_IsNumber(v) && d == floor(d) && d >= lo && d <= hi;
}

static bool all_strings(const cJSON *arr)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e))
            return false;
    }
    return true;
}

static int shape_object(const cJSON *in, const struct schema *s, const char *path, cJSON *out,
                        struct bt_err **err);

/* A copy of v checked against f, or the zero value when v is NULL or null. */
static int shape_value(const cJSON *v, const struct field *f, const char *path, cJSON **ret,
                       struct bt_err **err)
{
    bool null = !v || cJSON_IsNull(v);
    cJSON *o = NULL;

    switch (f->type) {
    case F_STR:
        if (!null && !cJSON_IsString(v))
            return type_error(path, f, v, err);
        o = cJSON_CreateString(null ? "" : v->valuestring);
        break;
    case F_BOOL:
        if (!null && !cJSON_IsBool(v))
            return type_error(path, f, v, err);
        o = cJSON_CreateBool(!null && cJSON_IsTrue(v));
        break;
    case F_INT:
    case F_PINT:
        if (!null && !number_fits(v, -9223372036854775807.0, 9223372036854775807.0))
            return type_error(path, f, v, err);
        o = null ? (f->type == F_PINT ? cJSON_CreateNull() : cJSON_CreateNumber(0))
                 : cJSON_CreateNumber(v->valuedouble);
        break;
    case F_UINT16:
    case F_UINT64:
        if (!null && !number_fits(v, 0, f->type == F_UINT16 ? 65535.0 : 18446744073709551615.0))
            return type_error(path, f, v, err);
        o = cJSON_CreateNumber(null ? 0 : v->valuedouble);
        break;
    case F_PBOOL:
        if (!null && !cJSON_IsBool(v))
            return type_error(path, f, v, err);
        o = null ? cJSON_CreateNull() : cJSON_CreateBool(cJSON_IsTrue(v));
        break;
    case F_STRSLICE:
        if (!null && cJSON_IsString(v)) { /* StrSlice takes "x" as ["x"] */
            o = cJSON_CreateArray();
            if (o)
                cJSON_AddItemToArray(o, cJSON_CreateString(v->valuestring));
            break;
        }
        /* fall through */
    case F_STRV:
        if (!null && (!cJSON_IsArray(v) || !all_strings(v)))
            return type_error(path, f, v, err);
        o = null ? cJSON_CreateNull() : cJSON_Duplicate(v, true);
        break;
    case F_STRMAP:
        if (!null && (!cJSON_IsObject(v) || !all_strings(v)))
            return type_error(path, f, v, err);
        o = null ? cJSON_CreateNull() : cJSON_Duplicate(v, true);
        break;
    case F_OBJ:
    case F_ARR:
        if (!null && (f->type == F_OBJ ? !cJSON_IsObject(v) : !cJSON_IsArray(v)))
            return type_error(path, f, v, err);
        o = null ? cJSON_CreateNull() : cJSON_Duplicate(v, true);
        break;
    case F_CONSOLE:
        if (!null && (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 2))
            return type_error(path, f, v, err);
        o = cJSON_CreateArray();
        for (int i = 0; o && i < 2; i++) {
            const cJSON *e = null ? NULL : cJSON_GetArrayItem(v, i);
            if (e && !number_fits(e, 0, 4294967295.0)) {
                cJSON_Delete(o);
                return type_error(path, f, v, err);
            }
            cJSON_AddItemToArray(o, cJSON_CreateNumber(e ? e->valuedouble : 0));
        }
        break;
    case F_STRUCT:
    case F_PSTRUCT:
        if (!null && !cJSON_IsObject(v))
            return type_error(path, f, v, err);
        if (null && f->type == F_PSTRUCT) {
            o = cJSON_CreateNull();
            break;
        }
        o = cJSON_CreateObject();
        if (o && shape_object(v, f->sub, f->sub->name, o, err) < 0) {
            cJSON_Delete(o);
            return -1;
        }
        break;
    case F_EMBED:
        break;
    }
    if (!o)
        return nomem(err);
    *ret = o;
    return 0;
}

/* Go's omitempty: false, 0, "", nil pointers, and empty maps and slices. */
static bool is_empty(const cJSON *v)
{
    if (cJSON_IsNull(v) || cJSON_IsFalse(v))
        return true;
    if (cJSON_IsNumber(v))
        return v->valuedouble == 0;
    if (cJSON_IsString(v))
        return !*v->valuestring;
    if (cJSON_IsArray(v) || cJSON_IsObject(v))
        return !v->child;
    return false;
}

/* Add s's fields to out, in order, from in (may be NULL). */
static int shape_object(const cJSON *in, const struct schema *s, const char *path, cJSON *out,
                        struct bt_err **err)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct field *f = &s->f[i];
        cJSON *v = NULL;

        if (f->type == F_EMBED) {
            if (shape_object(in, f->sub, path, out, err) < 0)
                return -1;
            continue;
        }
        if (shape_value(in ? member(in, f->name) : NULL, f, path, &v, err) < 0)
            return -1;
        if ((f->flags & OMITEMPTY) && is_empty(v)) {
            cJSON_Delete(v);
            continue;
        }
        if (!cJSON_AddItemToObject(out, f->name, v)) {
            cJSON_Delete(v);
            return nomem(err);
        }
    }
    return 0;
}

static int shape(const cJSON *in, const struct schema *s, cJSON **ret, struct bt_err **err)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return nomem(err);
    if (in && !cJSON_IsNull(in) && !cJSON_IsObject(in)) {
        cJSON_Delete(o);
        return bt_err_set(err, BT_EINVAL, 0, "invalid JSON: cannot unmarshal %s into %s",
                          json_kind(in), s->name);
    }
    if (shape_object(in, s, s->name, o, err) < 0) {
        cJSON_Delete(o);
        return -1;
    }
    *ret = o;
    return 0;
}

/* ---- values dockerd checks ---------------------------------------------------- */

static int64_t get_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static bool get_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static int set_item(cJSON *o, const char *key, cJSON *v, struct bt_err **err)
{
    if (!v || !cJSON_ReplaceItemInObjectCaseSensitive(o, key, v)) {
        cJSON_Delete(v);
        return nomem(err);
    }
    return 0;
}

int api_ctr_restart_policy_check(const char *name, int64_t max_retry, bool auto_remove,
                                 struct bt_err **err)
{
    if (strcmp(name, "on-failure") == 0) {
        if (max_retry < 0)
            return bt_err_set(err, BT_EINVAL, 0, "maximum retry count cannot be negative");
    } else if (strcmp(name, "always") == 0 || strcmp(name, "unless-stopped") == 0 ||
               strcmp(name, "no") == 0) {
        if (max_retry != 0)
            return bt_err_set(err, BT_EINVAL, 0,
                              "maximum retry count cannot be used with restart policy '%s'", name);
    } else if (*name) {
        return bt_err_set(err, BT_EINVAL, 0, "invalid restart policy '%s'", name);
    }
    if (auto_remove && *name && strcmp(name, "no") != 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "can't create 'AutoRemove' container with restart policy");
    return 0;
}

#define MIN_MEMORY (6 * 1024 * 1024)

/* dockerd's memory checks (daemon_unix.go); update relaxes one of them. */
static int check_memory(const cJSON *r, bool update, struct bt_err **err)
{
    int64_t mem = get_int(r, "Memory"), swap = get_int(r, "MemorySwap");
    int64_t resv = get_int(r, "MemoryReservation"), kmem = get_int(r, "KernelMemory");
    const cJSON *swappiness = cJSON_GetObjectItemCaseSensitive(r, "MemorySwappiness");

    if (mem != 0 && mem < MIN_MEMORY)
        return bt_err_set(err, BT_EINVAL, 0, "Minimum memory limit allowed is 6MB");
    if (mem > 0 && swap > 0 && swap < mem)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Minimum memoryswap limit should be larger than memory limit, see usage");
    if (mem == 0 && swap > 0 && !update)
        return bt_err_set(err, BT_EINVAL, 0, "You should always set the Memory limit when using "
                                             "Memoryswap limit, see usage");
    if (cJSON_IsNumber(swappiness) && swappiness->valuedouble != -1 &&
        (swappiness->valuedouble < 0 || swappiness->valuedouble > 100))
        return bt_err_set(err, BT_EINVAL, 0,
                          "Invalid value: %lld, valid memory swappiness range is 0-100",
                          (long long)swappiness->valuedouble);
    if (resv != 0 && resv < MIN_MEMORY)
        return bt_err_set(err, BT_EINVAL, 0, "Minimum memory reservation allowed is 6MB");
    if (mem > 0 && resv > 0 && mem < resv)
        return bt_err_set(err, BT_EINVAL, 0, "Minimum memory limit can not be less than memory "
                                             "reservation limit, see usage");
    if (kmem > 0 && kmem < 4 * 1024 * 1024)
        return bt_err_set(err, BT_EINVAL, 0, "Minimum kernel memory limit allowed is 4MB");
    return 0;
}

static int check_cpu(const cJSON *r, int ncpu, struct bt_err **err)
{
    int64_t nano = get_int(r, "NanoCpus"), period = get_int(r, "CpuPeriod");
    int64_t quota = get_int(r, "CpuQuota"), blkio = get_int(r, "BlkioWeight");

    if (nano > 0 && period > 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    if (nano > 0 && quota > 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    if (nano < 0 || (ncpu > 0 && nano > (int64_t)ncpu * 1000000000))
        return bt_err_set(err, BT_EINVAL, 0,
                          "Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs "
                          "available",
                          ncpu, ncpu);
    if (period != 0 && (period < 1000 || period > 1000000))
        return bt_err_set(err, BT_EINVAL, 0, "CPU cfs period can not be less than 1ms (i.e. 1000) "
                                             "or larger than 1s (i.e. 1000000)");
    if (quota > 0 && quota < 1000)
        return bt_err_set(err, BT_EINVAL, 0, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    if (blkio > 0 && (blkio < 10 || blkio > 1000))
        return bt_err_set(err, BT_EINVAL, 0, "Range of blkio weight is from 10 to 1000");
    return 0;
}

static int check_resources(const cJSON *r, bool update, int ncpu, struct bt_err **err)
{
    if (check_memory(r, update, err) < 0 || check_cpu(r, ncpu, err) < 0)
        return -1;
    return 0;
}

static int check_restart(const cJSON *hc, bool auto_remove, struct bt_err **err)
{
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(hc, "RestartPolicy");
    return api_ctr_restart_policy_check(get_str(rp, "Name"), get_int(rp, "MaximumRetryCount"),
                                        auto_remove, err);
}

/* "", host, private, shareable, none, container:<x> (IpcMode.Valid). */
static bool ipc_mode_valid(const char *m)
{
    static const char *const ok[] = {"", "host", "private", "shareable", "none"};
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
        if (strcmp(m, ok[i]) == 0)
            return true;
    return strncmp(m, "container:", 10) == 0 && m[10];
}

static int check_modes(const cJSON *hc, struct bt_err **err)
{
    const char *ipc = get_str(hc, "IpcMode"), *cgns = get_str(hc, "CgroupnsMode");
    const char *iso = get_str(hc, "Isolation");
    int64_t oom = get_int(hc, "OomScoreAdj");

    if (!ipc_mode_valid(ipc))
        return bt_err_set(err, BT_EINVAL, 0, "invalid IPC mode: %s", ipc);
    if (*cgns && strcmp(cgns, "host") != 0 && strcmp(cgns, "private") != 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid cgroup namespace mode: %s", cgns);
    if (*iso && strcasecmp(iso, "default") != 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid isolation '%s' on linux", iso);
    if (get_int(hc, "ShmSize") < 0)
        return bt_err_set(err, BT_EINVAL, 0, "SHM size can not be less than 0");
    if (oom < -1000 || oom > 1000)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Invalid value %lld, range for oom score adj is [-1000, 1000]",
                          (long long)oom);
    return 0;
}

static int check_log_config(const cJSON *lc, struct bt_err **err)
{
    const char *type = get_str(lc, "Type");
    const cJSON *opt;

    if (strcmp(type, "json-file") != 0 && strcmp(type, "none") != 0)
        return bt_err_set(err, BT_EINVAL, 0, "logger: no log driver named '%s' is registered",
                          type);
    cJSON_ArrayForEach(opt, cJSON_GetObjectItemCaseSensitive(lc, "Config"))
    {
        if (!bt_config_log_opt_known(type, opt->string))
            return bt_err_set(err, BT_EINVAL, 0, "unknown log opt '%s' for %s log driver",
                              opt->string, type);
    }
    return 0;
}

/* dockerd's mergeAndVerifyLogConfig: daemon.json's log-opts fill the keys a
 * container of the daemon's log driver left out; its own --log-opt wins. */
static int merge_log_opts(cJSON *lc, const struct api_ctr_defaults *dflt, struct bt_err **err)
{
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(lc, "Config");
    const char *drv = dflt->log_driver ? dflt->log_driver : "json-file";

    if (!dflt->log_opts || strcmp(get_str(lc, "Type"), drv) != 0)
        return 0;
    for (size_t i = 0; i < dflt->log_opts->n; i++) {
        const char *kv = dflt->log_opts->v[i];
        const char *eq = strchr(kv, '=');
        char key[64];
        if (!eq || (size_t)(eq - kv) >= sizeof(key))
            continue;
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        if (cJSON_GetObjectItemCaseSensitive(cfg, key))
            continue;
        if (!cJSON_AddStringToObject(cfg, key, eq + 1))
            return nomem(err);
    }
    return 0;
}

static cJSON *strv_new(const char *const *v)
{
    cJSON *a = cJSON_CreateArray();
    for (; a && *v; v++)
        cJSON_AddItemToArray(a, cJSON_CreateString(*v));
    return a;
}

/* The paths runc's default spec masks / makes read-only (dockerd's oci.DefaultSpec). */
static const char *const default_masked[] = {
    "/proc/asound",     "/proc/acpi",        "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",       "/sys/firmware",     NULL,
};
static const char *const default_readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                               "/proc/sysrq-trigger", NULL};

/* Add key before the member named `before` (keeps Go's field order). */
static int insert_before(cJSON *o, const char *before, const char *key, cJSON *v)
{
    cJSON *at = cJSON_GetObjectItemCaseSensitive(o, before);

    if (!v || !at || !cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        return -1;
    }
    cJSON_DetachItemViaPointer(o, v);
    v->next = at;
    v->prev = at->prev;
    if (at == o->child)
        o->child = v; /* v->prev is the tail already, as cJSON keeps it */
    else
        at->prev->next = v;
    at->prev = v;
    return 0;
}

static int fill_string(cJSON *hc, const char *key, const char *dflt, struct bt_err **err)
{
    if (*get_str(hc, key))
        return 0;
    return set_item(hc, key, cJSON_CreateString(dflt), err);
}

/* dockerd's adaptContainerSettings, mergeAndVerifyLogConfig and the create
 * defaults: what `inspect` shows for values the request left empty. */
static int fill_host_defaults(cJSON *hc, const struct api_ctr_defaults *dflt, struct bt_err **err)
{
    cJSON *lc = cJSON_GetObjectItemCaseSensitive(hc, "LogConfig");
    int64_t mem = get_int(hc, "MemorySwap") == 0 ? get_int(hc, "Memory") : 0;
    const cJSON *swappiness = cJSON_GetObjectItemCaseSensitive(hc, "MemorySwappiness");
    const cJSON *pids = cJSON_GetObjectItemCaseSensitive(hc, "PidsLimit");
    bool privileged = get_bool(hc, "Privileged");

    if (fill_string(hc, "NetworkMode", "default", err) < 0 ||
        fill_string(lc, "Type", dflt->log_driver ? dflt->log_driver : "json-file", err) < 0 ||
        fill_string(hc, "IpcMode", "private", err) < 0 ||
        /* berth always gives a container its own cgroup namespace (dockerd
         * does so only on v2): inspect says what happens. */
        fill_string(hc, "CgroupnsMode", "private", err) < 0)
        return -1;
    if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(lc, "Config")) &&
        set_item(lc, "Config", cJSON_CreateObject(), err) < 0)
        return -1;
    if (merge_log_opts(lc, dflt, err) < 0)
        return -1;
    if (get_int(hc, "ShmSize") == 0 &&
        set_item(hc, "ShmSize", cJSON_CreateNumber(64.0 * 1024 * 1024), err) < 0)
        return -1;
    /* By default swap is as large again as memory. */
    if (mem > 0 && set_item(hc, "MemorySwap", cJSON_CreateNumber((double)mem * 2), err) < 0)
        return -1;
    /* -1 swappiness and a 0 pids limit mean "unset": inspect shows null. */
    if (cJSON_IsNumber(swappiness) && swappiness->valuedouble == -1 &&
        set_item(hc, "MemorySwappiness", cJSON_CreateNull(), err) < 0)
        return -1;
    if (cJSON_IsNumber(pids) && pids->valuedouble == 0 &&
        set_item(hc, "PidsLimit", cJSON_CreateNull(), err) < 0)
        return -1;
    if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(hc, "OomKillDisable")) &&
        set_item(hc, "OomKillDisable", cJSON_CreateBool(false), err) < 0)
        return -1;
    if (!privileged && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(hc, "MaskedPaths")) &&
        set_item(hc, "MaskedPaths", strv_new(default_masked), err) < 0)
        return -1;
    if (!privileged && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(hc, "ReadonlyPaths")) &&
        set_item(hc, "ReadonlyPaths", strv_new(default_readonly), err) < 0)
        return -1;
    /* Runtime is omitempty in the request but always shown. */
    if (!cJSON_GetObjectItemCaseSensitive(hc, "Runtime")) {
        if (insert_before(hc, "ConsoleSize", "Runtime", cJSON_CreateString("runc")) < 0)
            return nomem(err);
    } else if (strcmp(get_str(hc, "Runtime"), "runc") != 0) {
        return bt_err_set(err, BT_EINVAL, 0, "Unknown runtime specified %s",
                          get_str(hc, "Runtime"));
    }
    return 0;
}

static int check_host_config(cJSON *hc, const struct api_ctr_defaults *dflt, cJSON *warnings,
                             struct bt_err **err)
{
    const cJSON *pb = cJSON_GetObjectItemCaseSensitive(hc, "PortBindings");

    if (check_restart(hc, get_bool(hc, "AutoRemove"), err) < 0 || check_modes(hc, err) < 0 ||
        check_resources(hc, false, dflt->ncpu, err) < 0)
        return -1;
    if (fill_host_defaults(hc, dflt, err) < 0)
        return -1;
    if (check_log_config(cJSON_GetObjectItemCaseSensitive(hc, "LogConfig"), err) < 0 ||
        bt_ports_check(pb, err) < 0)
        return -1;
    if (strcmp(get_str(hc, "NetworkMode"), "host") == 0 && pb && pb->child)
        cJSON_AddItemToArray(warnings,
                             cJSON_CreateString("Published ports are discarded when using host "
                                                "network mode"));
    return 0;
}

/* dockerd's validateHealthCheck: durations are nanoseconds, at least 1ms. */
static int check_health(const cJSON *h, struct bt_err **err)
{
    static const char *const durations[] = {"Interval", "Timeout", "StartPeriod"};

    if (!cJSON_IsObject(h))
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(durations); i++) {
        int64_t v = get_int(h, durations[i]);
        if (v != 0 && v < 1000000)
            return bt_err_set(err, BT_EINVAL, 0, "%s in Healthcheck cannot be less than 1ms",
                              durations[i]);
    }
    if (get_int(h, "Retries") < 0)
        return bt_err_set(err, BT_EINVAL, 0, "Retries in Healthcheck cannot be negative");
    return 0;
}

static int check_config(const cJSON *cfg, struct bt_err **err)
{
    const char *wd = get_str(cfg, "WorkingDir");
    const cJSON *e;

    if (*wd && wd[0] != '/')
        return bt_err_set(err, BT_EINVAL, 0,
                          "the working directory '%s' is invalid, it needs to be an absolute path",
                          wd);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(cfg, "Env"))
    {
        if (!*e->valuestring || e->valuestring[0] == '=')
            return bt_err_set(err, BT_EINVAL, 0, "invalid environment variable: %s",
                              e->valuestring);
    }
    return check_health(cJSON_GetObjectItemCaseSensitive(cfg, "Healthcheck"), err);
}

/* Go leaves the embedded *Config nil when no key of it is present. */
static bool has_config_key(const cJSON *req)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, req)
    {
        if (strcasecmp(m->string, "HostConfig") != 0 &&
            strcasecmp(m->string, "NetworkingConfig") != 0)
            return true;
    }
    return false;
}

void api_ctr_create_done(struct api_ctr_create *c)
{
    cJSON_Delete(c->config);
    cJSON_Delete(c->host_config);
    cJSON_Delete(c->networking);
    cJSON_Delete(c->warnings);
    *c = (struct api_ctr_create){0};
}

int api_ctr_create_parse(const cJSON *req, const struct api_ctr_defaults *dflt,
                         struct api_ctr_create *ret, struct bt_err **err)
{
    struct api_ctr_create c = {0};
    const cJSON *net;

    if (!req)
        return bt_err_set(err, BT_EINVAL, 0, "invalid JSON: got EOF while reading request body");
    if (!cJSON_IsObject(req))
        return bt_err_set(err, BT_EINVAL, 0, "invalid JSON: cannot unmarshal %s into Config",
                          json_kind(req));
    if (!has_config_key(req))
        return bt_err_set(err, BT_EINVAL, 0, "Config cannot be empty in order to create a container");
    net = member(req, "NetworkingConfig");
    c.warnings = cJSON_CreateArray();
    if (!c.warnings)
        return nomem(err);
    if (shape(req, &config_schema, &c.config, err) < 0 ||
        shape(member(req, "HostConfig"), &host_schema, &c.host_config, err) < 0 ||
        (net && !cJSON_IsNull(net) && shape(net, &networking_schema, &c.networking, err) < 0) ||
        check_config(c.config, err) < 0 || check_host_config(c.host_config, dflt, c.warnings, err) < 0) {
        api_ctr_create_done(&c);
        return -1;
    }
    *ret = c;
    return 0;
}

int api_ctr_update_check(const cJSON *body, int ncpu, struct bt_err **err)
{
    cJSON *u = NULL;
    int r;

    if (shape(body, &update_schema, &u, err) < 0)
        return -1;
    r = check_restart(u, false, err) < 0 || check_resources(u, true, ncpu, err) < 0 ? -1 : 0;
    cJSON_Delete(u);
    return r;
}
