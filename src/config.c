/* Defaults and command-line flags of berthd. daemon.json: config_file.c. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/config.h"
#include "berth/macro.h"
#include "berth/version.h"

int bt_strv_push(struct bt_strv *s, const char *v)
{
    char **nv = realloc(s->v, (s->n + 2) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    s->v = nv;
    s->v[s->n] = strdup(v);
    if (!s->v[s->n])
        return -ENOMEM;
    s->v[++s->n] = NULL;
    return 0;
}

void bt_strv_done(struct bt_strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

bool bt_strv_contains(const struct bt_strv *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], v) == 0)
            return true;
    return false;
}

void bt_config_init(struct bt_config *c)
{
    memset(c, 0, sizeof(*c));
    c->data_root = strdup(BT_DEFAULT_DATA_ROOT);
    c->exec_root = strdup(BT_DEFAULT_EXEC_ROOT);
    c->config_file = strdup(BT_DEFAULT_CONFIG_FILE);
    c->group = strdup(BT_DEFAULT_GROUP);
    c->log_driver = strdup("json-file");
    c->log_level = BT_LOG_INFO;
    c->live_restore = true; /* containers outlive the daemon by default */
    c->max_concurrent_downloads = 3;
    c->max_concurrent_uploads = 5;
    c->shutdown_timeout = 15;
    c->max_connections = 4096;
    c->request_timeout = 60;
    c->idle_timeout = 300;
}

void bt_config_done(struct bt_config *c)
{
    bt_strv_done(&c->hosts);
    bt_strv_done(&c->labels);
    bt_strv_done(&c->registry_mirrors);
    bt_strv_done(&c->insecure_registries);
    bt_strv_done(&c->flag_keys);
    bt_strv_done(&c->log_opts);
    free(c->data_root);
    free(c->exec_root);
    free(c->config_file);
    free(c->pidfile);
    free(c->group);
    free(c->storage_driver);
    free(c->log_driver);
    free(c->bip);
    free(c->addr_pools);
    memset(c, 0, sizeof(*c));
}

static bool host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

int bt_config_check_host(const char *h, struct bt_err **err)
{
    char host[256];
    const char *p, *colon;
    size_t n;

    if (strncmp(h, "unix://", 7) == 0) {
        if (h[7] != '/')
            return bt_err_set(err, BT_EINVAL, 0, "invalid host %s: the socket path must be absolute", h);
        return 0;
    }
    if (strncmp(h, "tcp://", 6) != 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "invalid host %s: use unix:///path or tcp://127.0.0.1:PORT", h);
    p = h + 6;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (!end || end[1] != ':')
            return bt_err_set(err, BT_EINVAL, 0, "invalid host %s: expected tcp://[ADDR]:PORT", h);
        n = (size_t)(end - p - 1);
        p++;
        colon = end + 1;
    } else {
        colon = strrchr(p, ':');
        if (!colon)
            return bt_err_set(err, BT_EINVAL, 0, "invalid host %s: a tcp host needs a port", h);
        n = (size_t)(colon - p);
    }
    if (n == 0 || n >= sizeof(host))
        return bt_err_set(err, BT_EINVAL, 0,
                          "refusing to listen on %s: berthd has no TLS yet, so tcp:// is accepted "
                          "only on a loopback address (127.0.0.1, ::1, localhost)", h);
    memcpy(host, p, n);
    host[n] = '\0';
    {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || end == colon + 1 || port < 1 || port > 65535)
            return bt_err_set(err, BT_EINVAL, 0, "invalid host %s: bad port", h);
    }
    if (!host_is_loopback(host))
        return bt_err_set(err, BT_EINVAL, 0,
                          "refusing to listen on %s: berthd has no TLS yet, so tcp:// is accepted "
                          "only on a loopback address (127.0.0.1, ::1, localhost)", h);
    return 0;
}

static int parse_int_arg(const char *name, const char *s, int min, int *ret, struct bt_err **err)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > INT_MAX)
        return bt_err_set(err, BT_EINVAL, 0, "invalid value \"%s\" for flag --%s: expected an "
                          "integer >= %d", s, name, min);
    *ret = (int)v;
    return 0;
}

static int set_str(char **dst, const char *v)
{
    char *n = strdup(v);
    if (!n)
        return -ENOMEM;
    free(*dst);
    *dst = n;
    return 0;
}

static void print_usage(void)
{
    printf("Usage: berthd [OPTIONS]\n\n"
           "berth: a container engine that serves the Docker Engine API.\n\n"
           "Options:\n"
           "  -H, --host HOST              Socket to listen on, repeatable (default %s);\n"
           "                               tcp:// only on loopback addresses\n"
           "      --data-root DIR          Root of persistent state (default %s)\n"
           "      --exec-root DIR          Root of runtime state (default %s)\n"
           "      --config-file FILE       daemon.json (default %s)\n"
           "  -l, --log-level LEVEL        error, warn, info, debug or trace (default info)\n"
           "  -D, --debug                  Enable debug mode\n"
           "  -p, --pidfile FILE           Write the daemon's pid to FILE\n"
           "  -G, --group GROUP            Group owning unix sockets (default %s, if it exists)\n"
           "      --label KEY=VALUE        Daemon label, repeatable\n"
           "  -s, --storage-driver NAME    overlay2 or vfs\n"
           "      --max-connections N      API connections served at once (default 4096)\n"
           "      --request-timeout SECS   Time allowed to send one request (default 60)\n"
           "      --idle-timeout SECS      Idle keep-alive connections close after (default 300)\n"
           "      --shutdown-timeout SECS  Grace for in-flight work at shutdown (default 15)\n"
           "      --bip ADDR/LEN           Default bridge's address and subnet (10.99.0.1/24)\n"
           "  -b, --bridge none            No default bridge: its containers get lo only\n"
           "  -v, --version                Print version and exit\n"
           "  -h, --help                   Print this help and exit\n",
           BT_DEFAULT_HOST, BT_DEFAULT_DATA_ROOT, BT_DEFAULT_EXEC_ROOT, BT_DEFAULT_CONFIG_FILE,
           BT_DEFAULT_GROUP);
}

enum {
    OPT_DATA_ROOT = 256,
    OPT_EXEC_ROOT,
    OPT_CONFIG_FILE,
    OPT_LABEL,
    OPT_MAX_CONNS,
    OPT_REQ_TIMEOUT,
    OPT_IDLE_TIMEOUT,
    OPT_SHUTDOWN_TIMEOUT,
    OPT_BIP,
};
#define OPT_BRIDGE 'b'

static const struct option long_opts[] = {
    {"host", required_argument, NULL, 'H'},
    {"data-root", required_argument, NULL, OPT_DATA_ROOT},
    {"exec-root", required_argument, NULL, OPT_EXEC_ROOT},
    {"config-file", required_argument, NULL, OPT_CONFIG_FILE},
    {"log-level", required_argument, NULL, 'l'},
    {"debug", no_argument, NULL, 'D'},
    {"pidfile", required_argument, NULL, 'p'},
    {"group", required_argument, NULL, 'G'},
    {"label", required_argument, NULL, OPT_LABEL},
    {"storage-driver", required_argument, NULL, 's'},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
    {"request-timeout", required_argument, NULL, OPT_REQ_TIMEOUT},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
    {"bip", required_argument, NULL, OPT_BIP},
    {"bridge", required_argument, NULL, OPT_BRIDGE},
    {"version", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The daemon.json key each flag corresponds to, for the "set twice" check. */
static const char *flag_key(int opt)
{
    switch (opt) {
    case 'H': return "hosts";
    case OPT_DATA_ROOT: return "data-root";
    case OPT_EXEC_ROOT: return "exec-root";
    case 'l': return "log-level";
    case 'D': return "debug";
    case 'p': return "pidfile";
    case 'G': return "group";
    case OPT_LABEL: return "labels";
    case 's': return "storage-driver";
    case OPT_MAX_CONNS: return "max-connections";
    case OPT_REQ_TIMEOUT: return "request-timeout";
    case OPT_IDLE_TIMEOUT: return "idle-timeout";
    case OPT_SHUTDOWN_TIMEOUT: return "shutdown-timeout";
    case OPT_BIP: return "bip";
    case OPT_BRIDGE: return "bridge";
    default: return NULL;
    }
}

static int apply_flag(struct bt_config *c, int opt, const char *arg, struct bt_err **err)
{
    switch (opt) {
    case 'H':
        if (bt_config_check_host(arg, err) < 0)
            return -1;
        return bt_strv_push(&c->hosts, arg);
    case OPT_DATA_ROOT: return set_str(&c->data_root, arg);
    case OPT_EXEC_ROOT: return set_str(&c->exec_root, arg);
    case OPT_CONFIG_FILE:
        c->config_file_explicit = true;
        return set_str(&c->config_file, arg);
    case 'l':
        if (bt_log_level_parse(arg, &c->log_level) < 0)
            return bt_err_set(err, BT_EINVAL, 0, "unable to parse logging level: %s", arg);
        return 0;
    case 'D': c->debug = true; return 0;
    case 'p': return set_str(&c->pidfile, arg);
    case 'G': return set_str(&c->group, arg);
    case OPT_LABEL: return bt_strv_push(&c->labels, arg);
    case 's': return set_str(&c->storage_driver, arg);
    case OPT_MAX_CONNS: return parse_int_arg("max-connections", arg, 1, &c->max_connections, err);
    case OPT_REQ_TIMEOUT: return parse_int_arg("request-timeout", arg, 1, &c->request_timeout, err);
    case OPT_IDLE_TIMEOUT: return parse_int_arg("idle-timeout", arg, 1, &c->idle_timeout, err);
    case OPT_SHUTDOWN_TIMEOUT:
        return parse_int_arg("shutdown-timeout", arg, 0, &c->shutdown_timeout, err);
    case OPT_BIP: {
        struct net_ipam_config bip;
        if (net_bip_parse(arg, &bip, err) < 0)
            return bt_err_wrap(err, "flag --bip");
        return set_str(&c->bip, arg);
    }
    case OPT_BRIDGE:
        /* dockerd's -b none: no default bridge (tests run daemons so when
         * they must leave the host's network alone). */
        if (strcmp(arg, "none") != 0)
            return bt_err_set(err, BT_EINVAL, 0, "flag --bridge: only \"none\" is supported");
        c->bridge_none = true;
        return 0;
    default:
        return bt_err_set(err, BT_EINVAL, 0, "unknown flag; see berthd --help");
    }
}

static int read_file(const char *path, char **ret, size_t *ret_len, struct bt_err **err)
{
    FILE *f = fopen(path, "re");
    char *data = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        if (errno == ENOENT) {
            *ret = NULL;
            return 0;
        }
        return bt_err_set(err, BT_EINVAL, errno, "unable to read config file %s", path);
    }
    for (;;) {
        if (cap - len < 4096) {
            char *n;
            if (cap > (1u << 20)) {
                free(data);
                fclose(f);
                return bt_err_set(err, BT_EINVAL, 0, "config file %s is larger than 1 MiB", path);
            }
            cap = cap ? cap * 2 : 8192;
            n = realloc(data, cap);
            if (!n) {
                free(data);
                fclose(f);
                return bt_err_set(err, BT_EINTERNAL, ENOMEM, "read %s", path);
            }
            data = n;
        }
        size_t r = fread(data + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    data[len] = '\0';
    *ret = data;
    *ret_len = len;
    return 0;
}

bool bt_config_log_opt_known(const char *driver, const char *key)
{
    static const char *const json_file_opts[] = {"max-file", "max-size", "compress", "labels",
                                                 "labels-regex", "env", "env-regex", "tag"};

    if (strcmp(driver, "json-file") != 0)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(json_file_opts); i++)
        if (strcmp(key, json_file_opts[i]) == 0)
            return true;
    return false;
}

/* Checks that hold whichever way a value was given. */
static int config_validate(const struct bt_config *c, struct bt_err **err)
{
    if (c->storage_driver && strcmp(c->storage_driver, "overlay2") != 0 &&
        strcmp(c->storage_driver, "overlay") != 0 && strcmp(c->storage_driver, "vfs") != 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid storage driver \"%s\": berth supports "
                          "overlay2 (overlay) and vfs", c->storage_driver);
    if (c->log_driver && strcmp(c->log_driver, "json-file") != 0 &&
        strcmp(c->log_driver, "none") != 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid log driver \"%s\": berth supports "
                          "json-file and none", c->log_driver);
    for (size_t i = 0; i < c->log_opts.n; i++) {
        const char *kv = c->log_opts.v[i];
        size_t kl = strcspn(kv, "=");
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)kl, kv);
        if (!bt_config_log_opt_known(c->log_driver ? c->log_driver : "json-file", key))
            return bt_err_set(err, BT_EINVAL, 0, "failed to set log opts: unknown log opt '%s' "
                              "for %s log driver", key, c->log_driver ? c->log_driver : "json-file");
    }
    if (c->data_root[0] != '/' || c->exec_root[0] != '/')
        return bt_err_set(err, BT_EINVAL, 0, "data-root and exec-root must be absolute paths");
    return 0;
}

int bt_config_load(struct bt_config *c, int argc, char **argv, enum bt_config_parse *ret,
                   struct bt_err **err)
{
    struct bt_strv *flag_set = &c->flag_keys;
    _cleanup_free_ char *json = NULL;
    size_t json_len = 0;
    int opt, r = 0;

    *ret = BT_CONFIG_RUN;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":H:l:Dp:G:s:b:vh", long_opts, NULL)) != -1) {
        const char *key;
        if (opt == 'h') {
            print_usage();
            *ret = BT_CONFIG_EXIT_OK;
            goto out;
        }
        if (opt == 'v') {
            printf("berthd version %s, build %s (Engine API %s)\n", BT_VERSION, BT_GIT_COMMIT,
                   BT_API_VERSION);
            *ret = BT_CONFIG_EXIT_OK;
            goto out;
        }
        if (opt == '?' || opt == ':') {
            r = bt_err_set(err, BT_EINVAL, 0, "%s flag: %s (see berthd --help)",
                           opt == ':' ? "missing argument for" : "unknown",
                           argv[optind - 1]);
            goto out;
        }
        r = apply_flag(c, opt, optarg, err);
        if (r < 0) {
            if (!*err)
                bt_err_set(err, BT_EINTERNAL, -r, "flag");
            goto out;
        }
        key = flag_key(opt);
        if (key && !bt_strv_contains(flag_set, key))
            bt_strv_push(flag_set, key);
    }
    if (optind < argc) {
        r = bt_err_set(err, BT_EINVAL, 0, "unexpected argument: %s (see berthd --help)",
                       argv[optind]);
        goto out;
    }
    r = read_file(c->config_file, &json, &json_len, err);
    if (r < 0)
        goto out;
    if (!json && c->config_file_explicit) {
        r = bt_err_set(err, BT_EINVAL, ENOENT, "unable to read config file %s", c->config_file);
        goto out;
    }
    if (json) {
        r = bt_config_apply_json(c, json, json_len, flag_set, err);
        if (r < 0) {
            bt_err_wrap(err, "config file %s", c->config_file);
            goto out;
        }
    }
    r = config_validate(c, err);
    if (r < 0)
        goto out;
    if (c->hosts.n == 0)
        bt_strv_push(&c->hosts, BT_DEFAULT_HOST);
    if (c->debug && c->log_level < BT_LOG_DEBUG)
        c->log_level = BT_LOG_DEBUG;
out:
    return r;
}

int bt_config_reload(const struct bt_config *cur, struct bt_config *ret, struct bt_err **err)
{
    _cleanup_free_ char *json = NULL;
    size_t len = 0;

    bt_config_init(ret);
    if (read_file(cur->config_file, &json, &len, err) < 0)
        return -1;
    if (json && bt_config_apply_json(ret, json, len, &cur->flag_keys, err) < 0) {
        bt_err_wrap(err, "config file %s", cur->config_file);
        bt_config_done(ret);
        return -1;
    }
    return 0;
}
