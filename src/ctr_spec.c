/* From a container record to what starting it needs: the runtime spec, the
 * cgroup limits and the security settings. Every policy decision Docker makes
 * at start (defaults, which sysctls are allowed, tmpfs options, log options)
 * is made here, so the monitor only carries the spec out. Loop thread: pure
 * memory work on the record. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "berth/caps.h"
#include "berth/cgroup.h"
#include "berth/daemon.h"
#include "berth/rt_spec.h"
#include "src/ctr-spec.h"

/* ---- small helpers ---------------------------------------------------------- */

static char **strv_from_json(const cJSON *arr, struct bt_err **err)
{
    int n = cJSON_GetArraySize(arr);
    char **v = calloc((size_t)n + 1, sizeof(*v));
    const cJSON *it;
    size_t i = 0;

    if (!v) {
        bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        return NULL;
    }
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it))
            continue;
        if (!(v[i++] = strdup(it->valuestring))) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
            return NULL;
        }
    }
    return v;
}

/* "10m", "1g", "512k", "100" (bytes): Docker's RAMInBytes units, base 1024. */
int ctr_parse_size(const char *s, int64_t *ret)
{
    char *end;
    double v;
    int64_t mult = 1;

    if (!s || !*s)
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -EINVAL;
    switch (tolower((unsigned char)*end)) {
    case 0: break;
    case 'b': mult = 1; break;
    case 'k': mult = 1024; break;
    case 'm': mult = 1024 * 1024; break;
    case 'g': mult = 1024LL * 1024 * 1024; break;
    case 't': mult = 1024LL * 1024 * 1024 * 1024; break;
    default: return -EINVAL;
    }
    if (*end) {
        end++;
        if (tolower((unsigned char)*end) == 'i')
            end++;
        if (tolower((unsigned char)*end) == 'b')
            end++;
        if (*end)
            return -EINVAL;
    }
    *ret = (int64_t)(v * (double)mult);
    return 0;
}

/* ---- sysctls ---------------------------------------------------------------- */

/* The sysctls that live in a namespace the container owns (Docker's list). */
static int sysctl_check(const char *key, bool host_net, struct bt_err **err)
{
    static const char *const ipc_exact[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
                                            "kernel.sem", "kernel.shmall", "kernel.shmmax",
                                            "kernel.shmmni", "kernel.shm_rmid_forced"};

    for (size_t i = 0; i < sizeof(ipc_exact) / sizeof(ipc_exact[0]); i++)
        if (strcmp(key, ipc_exact[i]) == 0)
            return 0;
    if (strncmp(key, "fs.mqueue.", 10) == 0)
        return 0;
    if (strncmp(key, "net.", 4) == 0) {
        if (host_net)
            return bt_err_set(err, BT_EINVAL, 0,
                              "sysctl \"%s\" not allowed in host network namespace", key);
        return 0;
    }
    /* The container always has its own UTS namespace; its hostname has a
     * field of its own (Config.Hostname). */
    if (strcmp(key, "kernel.domainname") == 0)
        return 0;
    if (strcmp(key, "kernel.hostname") == 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "sysctl \"%s\" is not allowed as it conflicts with the OCI "
                          "\"hostname\" field", key);
    return bt_err_set(err, BT_EINVAL, 0, "sysctl \"%s\" is not in a separate kernel namespace",
                      key);
}

/* ---- ulimits ---------------------------------------------------------------- */

static int rlimit_from_name(const char *name)
{
    static const struct {
        const char *name;
        int res;
    } names[] = {
        {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},       {"data", RLIMIT_DATA},
        {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},   {"memlock", RLIMIT_MEMLOCK},
        {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},     {"nofile", RLIMIT_NOFILE},
        {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},       {"rtprio", RLIMIT_RTPRIO},
        {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
        {"stack", RLIMIT_STACK},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].res;
    return -1;
}

/* ---- tmpfs ------------------------------------------------------------------ */

/* "--tmpfs /run:rw,size=1m,mode=1777": flags for the words mount(2) knows,
 * the rest as data. Docker's defaults: noexec, nosuid, nodev. */
static int tmpfs_mount(const char *target, const char *opts, struct bt_rt_mount *m,
                       struct bt_err **err)
{
    static const struct {
        const char *word;
        unsigned long set, clear;
    } words[] = {
        {"ro", MS_RDONLY, 0},  {"rw", 0, MS_RDONLY},     {"exec", 0, MS_NOEXEC},
        {"noexec", MS_NOEXEC, 0}, {"suid", 0, MS_NOSUID}, {"nosuid", MS_NOSUID, 0},
        {"dev", 0, MS_NODEV},  {"nodev", MS_NODEV, 0},   {"sync", MS_SYNCHRONOUS, 0},
        {"async", 0, MS_SYNCHRONOUS}, {"noatime", MS_NOATIME, 0}, {"atime", 0, MS_NOATIME},
        {"nodiratime", MS_NODIRATIME, 0}, {"relatime", MS_RELATIME, 0},
        {"strictatime", MS_STRICTATIME, 0},
    };
    _cleanup_free_ char *copy = strdup(opts ? opts : "");
    char data[1024] = "";
    size_t dlen = 0;
    char *save = NULL;

    if (!copy)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (target[0] != '/')
        return bt_err_set(err, BT_EINVAL, 0, "invalid mount path %s: not an absolute path",
                          target);
    m->flags = MS_NOEXEC | MS_NOSUID | MS_NODEV;
    for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
            if (strcmp(w, words[i].word) == 0) {
                m->flags = (m->flags | words[i].set) & ~words[i].clear;
                known = true;
                break;
            }
        }
        if (known)
            continue;
        if (strncmp(w, "size=", 5) && strncmp(w, "mode=", 5) && strncmp(w, "uid=", 4) &&
            strncmp(w, "gid=", 4) && strncmp(w, "nr_inodes=", 10) && strncmp(w, "nr_blocks=", 10))
            return bt_err_set(err, BT_EINVAL, 0, "invalid tmpfs option %s", w);
        int r = snprintf(data + dlen, sizeof(data) - dlen, "%s%s", dlen ? "," : "", w);
        if (r < 0 || (size_t)r >= sizeof(data) - dlen)
            return bt_err_set(err, BT_EINVAL, 0, "tmpfs options too long");
        dlen += (size_t)r;
    }
    m->source = strdup("tmpfs");
    m->fstype = strdup("tmpfs");
    m->target = strdup(target);
    m->data = dlen ? strdup(data) : NULL;
    if (!m->source || !m->fstype || !m->target || (dlen && !m->data))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    return 0;
}

/* ---- the environment ---------------------------------------------------------- */

#define DEFAULT_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Docker's process environment: PATH (default), HOSTNAME and, with a TTY,
 * TERM=xterm first, then Config.Env replacing a default of the same name or
 * appended. Only the process sees the defaults; Config.Env stays as merged. */
static char **process_env(const struct bt_ctr *c, struct bt_err **err)
{
    const cJSON *cfg_env = ctr_cfg(c, "Env"), *it;
    const char *hostname = ctr_cfg_str(c, "Hostname");
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(cfg_env) + 4;
    char **v = calloc(cap, sizeof(*v));

    if (!v)
        goto oom;
    if (!(v[n++] = strdup(DEFAULT_PATH_ENV)))
        goto oom;
    if (asprintf(&v[n], "HOSTNAME=%s", hostname ? hostname : "") < 0) {
        v[n] = NULL;
        goto oom;
    }
    n++;
    if (cJSON_IsTrue(ctr_cfg(c, "Tty")) && !(v[n++] = strdup("TERM=xterm")))
        goto oom;
    cJSON_ArrayForEach(it, cfg_env) {
        const char *kv = cJSON_IsString(it) ? it->valuestring : NULL;
        size_t klen, i;

        if (!kv)
            continue;
        klen = strcspn(kv, "=");
        for (i = 0; i < n; i++)
            if (strncmp(v[i], kv, klen) == 0 && v[i][klen] == '=')
                break;
        if (i < n)
            free(v[i]);
        else
            n++;
        if (!(v[i] = strdup(kv)))
            goto oom;
    }
    return v;

oom:
    for (size_t i = 0; v && i < cap; i++)
        free(v[i]);
    free(v);
    bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    return NULL;
}

/* ---- security ---------------------------------------------------------------- */

static int security_opts(const struct bt_ctr *c, struct ctr_start_plan *p, struct bt_err **err)
{
    const cJSON *opts = ctr_hc(c, "SecurityOpt");
    const cJSON *o;

    p->seccomp = p->spec.privileged ? CTR_SECCOMP_NONE : CTR_SECCOMP_DEFAULT;
    cJSON_ArrayForEach(o, opts) {
        const char *s = cJSON_IsString(o) ? o->valuestring : "";
        const char *eq = strchr(s, '=');
        const char *sep = strchr(s, ':');

        /* Old form "seccomp:unconfined" is still accepted by dockerd. */
        if (!eq || (sep && sep < eq))
            eq = sep;
        if (strcmp(s, "no-new-privileges") == 0) {
            p->spec.no_new_privs = true;
            continue;
        }
        if (!eq)
            return bt_err_set(err, BT_EINVAL, 0,
                              "Invalid --security-opt 1: \"%s\"", s);
        size_t klen = (size_t)(eq - s);
        const char *val = eq + 1;
        if (klen == 17 && strncmp(s, "no-new-privileges", klen) == 0) {
            if (strcmp(val, "true") && strcmp(val, "false"))
                return bt_err_set(err, BT_EINVAL, 0,
                                  "invalid --security-opt 2: \"%s\"", s);
            p->spec.no_new_privs = strcmp(val, "true") == 0;
        } else if (klen == 7 && strncmp(s, "seccomp", klen) == 0) {
            if (strcmp(val, "unconfined") == 0) {
                p->seccomp = CTR_SECCOMP_NONE;
            } else if (!p->spec.privileged) {
                p->seccomp = CTR_SECCOMP_PROFILE;
                free(p->seccomp_profile);
                if (!(p->seccomp_profile = strdup(val)))
                    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
            }
        } else if ((klen == 8 && strncmp(s, "apparmor", klen) == 0) ||
                   (klen == 5 && strncmp(s, "label", klen) == 0)) {
            /* No AppArmor or SELinux here: accepted and ignored, as dockerd
             * does on a host without them. */
        } else {
            return bt_err_set(err, BT_EINVAL, 0, "invalid --security-opt 2: \"%s\"", s);
        }
    }
    return 0;
}

static int caps_of(const struct bt_ctr *c, bool privileged, uint64_t *ret, struct bt_err **err)
{
    const cJSON *add = ctr_hc(c, "CapAdd"), *drop = ctr_hc(c, "CapDrop");
    _cleanup_free_ const char **a = calloc((size_t)cJSON_GetArraySize(add) + 1, sizeof(char *));
    _cleanup_free_ const char **dr = calloc((size_t)cJSON_GetArraySize(drop) + 1, sizeof(char *));
    size_t na = 0, nd = 0;
    const cJSON *it;

    if (!a || !dr)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, add) if (cJSON_IsString(it)) a[na++] = it->valuestring;
    cJSON_ArrayForEach(it, drop) if (cJSON_IsString(it)) dr[nd++] = it->valuestring;
    return bt_caps_compute(a, na, dr, nd, privileged, ret, err);
}

/* ---- resources --------------------------------------------------------------- */

int ctr_resources(const cJSON *hc, struct bt_cg_resources *r)
{
    const cJSON *v;

#define NUM(key) (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(hc, key)) ? (int64_t)v->valuedouble : 0)
    memset(r, 0, sizeof(*r));
    r->memory = NUM("Memory");
    r->memory_swap = NUM("MemorySwap");
    r->memory_reservation = NUM("MemoryReservation");
    r->nano_cpus = NUM("NanoCpus");
    r->cpu_shares = NUM("CpuShares");
    r->cpu_quota = NUM("CpuQuota");
    r->cpu_period = NUM("CpuPeriod");
    r->pids_limit = NUM("PidsLimit");
    r->blkio_weight = (int)NUM("BlkioWeight");
#undef NUM
    v = cJSON_GetObjectItemCaseSensitive(hc, "CpusetCpus");
    if (cJSON_IsString(v) && *v->valuestring && !(r->cpuset_cpus = strdup(v->valuestring)))
        return -ENOMEM;
    v = cJSON_GetObjectItemCaseSensitive(hc, "CpusetMems");
    if (cJSON_IsString(v) && *v->valuestring && !(r->cpuset_mems = strdup(v->valuestring)))
        return -ENOMEM;
    r->privileged = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(hc, "Privileged"));
    return 0;
}

void ctr_resources_done(struct bt_cg_resources *r)
{
    free(r->cpuset_cpus);
    free(r->cpuset_mems);
    memset(r, 0, sizeof(*r));
}

/* ---- the plan ------------------------------------------------------------------ */

static int add_mount(struct bt_rt_spec *s, struct bt_rt_mount *m)
{
    struct bt_rt_mount *n = realloc(s->mounts, (s->n_mounts + 1) * sizeof(*n));

    if (!n)
        return -ENOMEM;
    s->mounts = n;
    s->mounts[s->n_mounts++] = *m;
    memset(m, 0, sizeof(*m));
    return 0;
}

static int bind_file(struct bt_rt_spec *s, const char *src, const char *target)
{
    struct bt_rt_mount m = {0};

    m.source = strdup(src);
    m.target = strdup(target);
    m.fstype = strdup("bind");
    m.flags = MS_BIND;
    m.propagation = MS_PRIVATE;
    if (!m.source || !m.target || !m.fstype || add_mount(s, &m) < 0) {
        free(m.source);
        free(m.target);
        free(m.fstype);
        return -ENOMEM;
    }
    return 0;
}

static int log_opts(const struct bt_ctr *c, struct bt_rt_spec *s, struct bt_err **err)
{
    const cJSON *lc = ctr_hc(c, "LogConfig");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(lc, "Type");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(lc, "Config");
    const cJSON *v;

    if (cJSON_IsString(type) && strcmp(type->valuestring, "none") == 0)
        return 0;
    if (cJSON_IsString(type) && *type->valuestring && strcmp(type->valuestring, "json-file"))
        return bt_err_set(err, BT_EINVAL, 0,
                          "failed to create logger: logger: no log driver named '%s' is "
                          "registered", type->valuestring);
    if (!(s->log_path = strdup(c->log_path)))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    s->log_max_file = 1;
    v = cJSON_GetObjectItemCaseSensitive(cfg, "max-size");
    if (cJSON_IsString(v) && *v->valuestring && strcmp(v->valuestring, "-1") &&
        ctr_parse_size(v->valuestring, &s->log_max_size) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "failed to initialize logging driver: invalid size: "
                          "'%s'", v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(cfg, "max-file");
    if (cJSON_IsString(v) && *v->valuestring) {
        char *end;
        long n = strtol(v->valuestring, &end, 10);
        if (*end || n < 1)
            return bt_err_set(err, BT_EINVAL, 0, "invalid value for max-file: %s",
                              v->valuestring);
        if (n > 1 && s->log_max_size <= 0)
            return bt_err_set(err, BT_EINVAL, 0,
                              "max-file cannot be greater than 1 when max-size is not set");
        s->log_max_file = (int)n;
    }
    v = cJSON_GetObjectItemCaseSensitive(cfg, "compress");
    if (cJSON_IsString(v))
        s->log_compress = strcmp(v->valuestring, "true") == 0 || strcmp(v->valuestring, "1") == 0;
    return ctr_log_attrs(c, cfg, &s->log_attrs, err);
}

int ctr_plan_build(struct bt_daemon *d, const struct bt_ctr *c, const char *run_dir,
                   const char *rootfs, struct ctr_start_plan *p, struct bt_err **err)
{
    struct bt_rt_spec *s = &p->spec;
    const char *netmode = ctr_hc_str(c, "NetworkMode");
    const cJSON *v, *it;
    const char *str;
    int r;

    memset(p, 0, sizeof(*p));
    s->privileged = ctr_hc_bool(c, "Privileged");
    if (!(s->id = strdup(c->id)) || !(s->run_dir = strdup(run_dir)) || !(s->rootfs = strdup(rootfs)))
        goto oom;
    if ((r = log_opts(c, s, err)) < 0)
        return r;
    s->tty = cJSON_IsTrue(ctr_cfg(c, "Tty"));
    s->open_stdin = cJSON_IsTrue(ctr_cfg(c, "OpenStdin"));
    s->stdin_once = cJSON_IsTrue(ctr_cfg(c, "StdinOnce"));
    v = ctr_hc(c, "ConsoleSize");
    if (cJSON_GetArraySize(v) == 2) {
        s->tty_rows = (unsigned short)cJSON_GetArrayItem(v, 0)->valuedouble;
        s->tty_cols = (unsigned short)cJSON_GetArrayItem(v, 1)->valuedouble;
    }
    s->readonly_rootfs = ctr_hc_bool(c, "ReadonlyRootfs");

    /* host or a namespace of its own; the start path replaces this with
     * the prepared one (src/net_ctr.c: bridge networks, container:x). */
    s->netns = netmode && strcmp(netmode, "host") == 0 ? BT_RT_NETNS_HOST : BT_RT_NETNS_NEW;
    if ((str = ctr_cfg_str(c, "Hostname")) && !(s->hostname = strdup(str)))
        goto oom;
    if ((str = ctr_cfg_str(c, "Domainname")) && *str && !(s->domainname = strdup(str)))
        goto oom;

    s->shm_size = ctr_hc_int(c, "ShmSize", 0);
    if (s->shm_size <= 0)
        s->shm_size = 64 * 1024 * 1024;
    if (bind_file(s, c->hostname_path, "/etc/hostname") < 0 ||
        bind_file(s, c->hosts_path, "/etc/hosts") < 0 ||
        bind_file(s, c->resolv_conf_path, "/etc/resolv.conf") < 0)
        goto oom;
    cJSON_ArrayForEach(it, ctr_hc(c, "Tmpfs")) {
        struct bt_rt_mount m = {0};
        if ((r = tmpfs_mount(it->string, cJSON_IsString(it) ? it->valuestring : "", &m, err)) < 0 ||
            add_mount(s, &m) < 0) {
            free(m.source), free(m.target), free(m.fstype), free(m.data);
            return r < 0 ? r : bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        }
    }
    if (!s->privileged) {
        if (!(s->masked_paths = strv_from_json(ctr_hc(c, "MaskedPaths"), err)) ||
            !(s->readonly_paths = strv_from_json(ctr_hc(c, "ReadonlyPaths"), err)))
            return -1;
    }

    /* The process. */
    {
        size_t n = 0;
        while (c->args && c->args[n])
            n++;
        if (!(s->argv = calloc(n + 2, sizeof(char *))) || !(s->argv[0] = strdup(c->path)))
            goto oom;
        for (size_t i = 0; i < n; i++)
            if (!(s->argv[i + 1] = strdup(c->args[i])))
                goto oom;
    }
    if (!(s->env = process_env(c, err)))
        return -1;
    str = ctr_cfg_str(c, "WorkingDir");
    if (!(s->cwd = strdup(str && *str ? str : "/")))
        goto oom;
    if (!(s->user = strdup(ctr_cfg_str(c, "User") ? ctr_cfg_str(c, "User") : "")))
        goto oom;
    if (!(s->group_add = strv_from_json(ctr_hc(c, "GroupAdd"), err)))
        return -1;
    s->init = ctr_hc_bool(c, "Init");
    s->oom_score_adj = (int)ctr_hc_int(c, "OomScoreAdj", 0);

    cJSON_ArrayForEach(it, ctr_hc(c, "Ulimits")) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "Name");
        const cJSON *soft = cJSON_GetObjectItemCaseSensitive(it, "Soft");
        const cJSON *hard = cJSON_GetObjectItemCaseSensitive(it, "Hard");
        int res = cJSON_IsString(name) ? rlimit_from_name(name->valuestring) : -1;
        struct bt_rt_rlimit *nl;

        if (res < 0)
            return bt_err_set(err, BT_EINVAL, 0, "invalid ulimit type: %s",
                              cJSON_IsString(name) ? name->valuestring : "?");
        if (!(nl = realloc(s->rlimits, (s->n_rlimits + 1) * sizeof(*nl))))
            goto oom;
        s->rlimits = nl;
        nl[s->n_rlimits].resource = res;
        nl[s->n_rlimits].soft = cJSON_IsNumber(soft) && soft->valuedouble >= 0 ? (uint64_t)soft->valuedouble : RLIM_INFINITY;
        nl[s->n_rlimits].hard = cJSON_IsNumber(hard) && hard->valuedouble >= 0 ? (uint64_t)hard->valuedouble : RLIM_INFINITY;
        if (nl[s->n_rlimits].soft > nl[s->n_rlimits].hard)
            return bt_err_set(err, BT_EINVAL, 0,
                              "ulimit soft limit must be less than or equal to hard limit: %s",
                              name->valuestring);
        s->n_rlimits++;
    }
    cJSON_ArrayForEach(it, ctr_hc(c, "Sysctls")) {
        struct bt_kv *nk;
        if (!cJSON_IsString(it))
            continue;
        if ((r = sysctl_check(it->string, s->netns == BT_RT_NETNS_HOST, err)) < 0)
            return r;
        if (!(nk = realloc(s->sysctls, (s->n_sysctls + 1) * sizeof(*nk))))
            goto oom;
        s->sysctls = nk;
        nk[s->n_sysctls].key = strdup(it->string);
        nk[s->n_sysctls].value = strdup(it->valuestring);
        if (!nk[s->n_sysctls].key || !nk[s->n_sysctls].value) {
            free(nk[s->n_sysctls].key), free(nk[s->n_sysctls].value);
            goto oom;
        }
        s->n_sysctls++;
    }
    if ((r = caps_of(c, s->privileged, &s->caps, err)) < 0)
        return r;
    if ((r = security_opts(c, p, err)) < 0)
        return r;
    if (ctr_resources(c->host_config, &p->res) < 0)
        goto oom;
    if ((r = bt_cg_check(d->cgroups, &p->res, false, NULL, err)) < 0)
        return r;
    return 0;
oom:
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
}

void ctr_plan_done(struct ctr_start_plan *p)
{
    bt_rt_spec_done(&p->spec);
    ctr_resources_done(&p->res);
    free(p->seccomp_profile);
    memset(p, 0, sizeof(*p));
}
