/* A container's /etc/hosts and /etc/resolv.conf, as Docker writes them. */
#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/daemon.h"
#include "berth/dns.h"
#include "berth/fdio.h"
#include "berth/network.h"
#include "src/ctr-etc.h"
#include "src/ctr-lifecycle.h"

#define HOST_FILE_MAX (64u << 10)

/* Text built line by line; the first failure sticks. */
struct out {
    struct bt_buf b;
    int r;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    if (o->r < 0)
        return;
    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->r = -ENOMEM;
        return;
    }
    o->r = bt_buf_append(&o->b, s, (size_t)n);
    free(s);
}

static int out_end(struct out *o, char **ret)
{
    if (o->r < 0) {
        bt_buf_done(&o->b);
        return o->r;
    }
    *ret = bt_buf_steal(&o->b, NULL);
    if (!*ret && !(*ret = strdup("")))
        return -ENOMEM;
    return 0;
}

static char *read_host_file(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char *text = NULL;
    size_t len;

    if (fd < 0 || bt_read_fd_all(fd, HOST_FILE_MAX, &text, &len) < 0)
        return NULL;
    return text;
}

/* ---- /etc/hosts ----------------------------------------------------------------- */

static const char *default_gateway(const struct bt_daemon *d)
{
    struct bt_net *n;

    if (bt_net_lookup(d, "bridge", &n, NULL) < 0 || n->n_ipam == 0 || !*n->ipam[0].gateway)
        return NULL;
    return n->ipam[0].gateway;
}

int ctr_etc_hosts(const struct bt_daemon *d, const struct bt_ctr *c, bool host_net, char **ret)
{
    const cJSON *extra = ctr_hc(c, "ExtraHosts"), *it;
    const char *hn = ctr_cfg_str(c, "Hostname"), *dn = ctr_cfg_str(c, "Domainname");
    const struct bt_net *n = bt_net_ctr_net_at(d, c->id, 0);
    const struct bt_net_ep *ep = n ? bt_net_ep_of(n, c->id) : NULL;
    struct out o = {0};

    if (host_net && (*ret = read_host_file("/etc/hosts")))
        return 0;
    bt_buf_init(&o.b, 0);
    put(&o, "127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\n"
            "ff00::0\tip6-mcastprefix\n"
            "ff02::1\tip6-allnodes\n"
            "ff02::2\tip6-allrouters\n");
    /* "name:ip" as the API carries it ("name=ip" too, the CLI's newer
     * spelling); an IPv6 address holds colons, so the first one splits. */
    cJSON_ArrayForEach(it, extra) {
        const char *s = cJSON_IsString(it) ? it->valuestring : "", *sep = strchr(s, '=');
        const char *ip;

        if (!sep)
            sep = strchr(s, ':');
        if (!sep || sep == s)
            continue;
        ip = sep + 1;
        if (strcmp(ip, "host-gateway") == 0 && !(ip = default_gateway(d)))
            continue;
        put(&o, "%s\t%.*s\n", ip, (int)(sep - s), s);
    }
    if (ep && *ep->ipv4 && hn && *hn) {
        if (dn && *dn)
            put(&o, "%s\t%s.%s %s\n", ep->ipv4, hn, dn, hn);
        else
            put(&o, "%s\t%s\n", ep->ipv4, hn);
    }
    return out_end(&o, ret);
}

/* ---- /etc/resolv.conf --------------------------------------------------------------- */

/* The keyword a resolv.conf line starts with, and where its value begins. */
static bool keyword(const char *line, size_t len, const char *kw, const char **ret_val)
{
    size_t k = strlen(kw);

    while (len && (*line == ' ' || *line == '\t'))
        line++, len--;
    if (len <= k || strncmp(line, kw, k) != 0 || (line[k] != ' ' && line[k] != '\t'))
        return false;
    for (line += k; *line == ' ' || *line == '\t'; line++)
        ;
    *ret_val = line;
    return true;
}

/* A nameserver that means the host's own loopback, unreachable from
 * another network namespace. */
static bool loopback_ns(const char *val)
{
    return strncmp(val, "127.", 4) == 0 || strncmp(val, "::1", 3) == 0;
}

static bool has_items(const cJSON *a)
{
    return cJSON_GetArraySize(a) > 0;
}

/* Every string of a, space-separated, on one line after kw (glibc keeps
 * only the last "search" line: never write two). */
static void put_list(struct out *o, const char *kw, const cJSON *a, const char *tail)
{
    const cJSON *it;

    put(o, "%s", kw);
    cJSON_ArrayForEach(it, a) {
        if (cJSON_IsString(it))
            put(o, " %s", it->valuestring);
    }
    put(o, "%s\n", tail);
}

/* Each line of text (no newline), for f. */
static void each_line(const char *text, void (*f)(const char *line, size_t len, void *arg),
                      void *arg)
{
    for (const char *l = text; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);

        f(l, len, arg);
        l = e ? e + 1 : NULL;
    }
}

struct resolv_ctx {
    struct out *o;
    const struct bt_ctr *c;
    bool host_net, user_net, have_ns, have_ndots;
};

/* The host's lines a default-bridge container keeps. */
static void bridge_line(const char *line, size_t len, void *arg)
{
    struct resolv_ctx *x = arg;
    const char *v;

    if (keyword(line, len, "nameserver", &v)) {
        if (has_items(ctr_hc(x->c, "Dns")) || (!x->host_net && loopback_ns(v)))
            return;
        x->have_ns = true;
    } else if (keyword(line, len, "search", &v) || keyword(line, len, "domain", &v)) {
        if (has_items(ctr_hc(x->c, "DnsSearch")))
            return;
    } else if (keyword(line, len, "options", &v)) {
        if (has_items(ctr_hc(x->c, "DnsOptions")))
            return;
    }
    put(x->o, "%.*s\n", (int)len, line);
}

/* What a user-network container keeps of the host's file: its search line. */
static void user_search_line(const char *line, size_t len, void *arg)
{
    struct resolv_ctx *x = arg;
    const char *v;

    if (keyword(line, len, "search", &v))
        put(x->o, "search %.*s\n", (int)(line + len - v), v);
}

/* ... and its options, on the one options line being written. */
static void user_options_line(const char *line, size_t len, void *arg)
{
    struct resolv_ctx *x = arg;
    const char *v;

    if (!keyword(line, len, "options", &v))
        return;
    put(x->o, " %.*s", (int)(line + len - v), v);
    for (const char *p = v; (p = strstr(p, "ndots:")) && p < line + len; p++)
        x->have_ndots = true;
}

int ctr_etc_resolv(const struct bt_daemon *d, const struct bt_ctr *c, bool host_net, char **ret)
{
    _cleanup_free_ char *host = read_host_file(bt_net_resolv_conf_path());
    const cJSON *dns = ctr_hc(c, "Dns"), *search = ctr_hc(c, "DnsSearch");
    const cJSON *options = ctr_hc(c, "DnsOptions"), *it;
    struct out o = {0};
    struct resolv_ctx x = {.o = &o, .c = c, .host_net = host_net};

    if (host_net && host && !has_items(dns) && !has_items(search) && !has_items(options)) {
        *ret = TAKE_PTR(host);
        return 0;
    }
    bt_buf_init(&o.b, 0);
    if (!host_net && bt_net_dns_wanted(d, c)) {
        /* The embedded server answers; the host's (or --dns) nameservers
         * are its upstreams, so they are not written here. */
        put(&o, "nameserver %s\n", NET_DNS_ADDR);
        if (has_items(search))
            put_list(&o, "search", search, "");
        else
            each_line(host, user_search_line, &x);
        put(&o, "options");
        if (has_items(options)) {
            cJSON_ArrayForEach(it, options) {
                if (!cJSON_IsString(it))
                    continue;
                put(&o, " %s", it->valuestring);
                x.have_ndots |= strncmp(it->valuestring, "ndots:", 6) == 0;
            }
        } else {
            each_line(host, user_options_line, &x);
        }
        /* Names without a dot go to the embedded server first, as asked. */
        put(&o, "%s\n", x.have_ndots ? "" : " ndots:0");
        return out_end(&o, ret);
    }
    each_line(host, bridge_line, &x);
    if (has_items(search))
        put_list(&o, "search", search, "");
    cJSON_ArrayForEach(it, dns) {
        if (cJSON_IsString(it)) {
            x.have_ns = true;
            put(&o, "nameserver %s\n", it->valuestring);
        }
    }
    if (has_items(options))
        put_list(&o, "options", options, "");
    if (!x.have_ns)
        put(&o, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    return out_end(&o, ret);
}
