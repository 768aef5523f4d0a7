/* The embedded DNS's answers over the network and container records
 * (src/net_dns_names.c): names, aliases, short IDs, hostnames and
 * NAME.NETWORK on the asker's user networks only, running containers only,
 * several holders of an alias, and what is ours (NXDOMAIN) or forwarded.
 *
 * The records are real: network record files loaded by bt_nets_open and
 * container records in the store. The process moves into a private network
 * namespace first, so whatever the network driver does at load stays there. */
#include <config.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/hexid.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/network.h"
#include "src/ctr-internal.h"
#include "src/net-dns.h"

static char root[64], data_root[96], exec_root[96];
static uv_loop_t loop;
static struct bt_daemon dm;

struct ep_spec {
    char hex; /* the container's ID: 64 of this hex digit */
    const char *ip;
    const char *aliases[3];
};

static void write_net(const char *name, const char *subnet, const struct ep_spec *eps, size_t n)
{
    struct bt_net *net = bt_net_new();
    char path[256], *text;
    FILE *f;

    assert_non_null(net);
    free(net->name), net->name = strdup(name);
    free(net->driver), net->driver = strdup("bridge");
    net->ipam = calloc(1, sizeof(*net->ipam));
    net->n_ipam = 1;
    net->ipam[0].subnet = strdup(subnet);
    net->ipam[0].gateway = strdup("");
    net->ipam[0].ip_range = strdup("");
    net->eps = calloc(n, sizeof(*net->eps));
    net->n_eps = n;
    for (size_t i = 0; i < n; i++) {
        struct bt_net_ep *ep = &net->eps[i];
        size_t k = 0;

        memset(ep->ctr_id, eps[i].hex, BT_NET_ID_LEN);
        assert_int_equal(bt_hexid_random(ep->id), 0);
        ep->ctr_name = strdup("as-connected");
        ep->ipam_ipv4 = strdup("");
        snprintf(ep->ipv4, sizeof(ep->ipv4), "%s", eps[i].ip);
        ep->prefix = 24;
        while (k < 3 && eps[i].aliases[k])
            k++;
        if (k) {
            ep->aliases = calloc(k + 1, sizeof(char *));
            for (size_t a = 0; a < k; a++)
                ep->aliases[a] = strdup(eps[i].aliases[a]);
        }
    }
    text = bt_net_encode(net);
    assert_non_null(text);
    snprintf(path, sizeof(path), "%s/networks/%s.json", data_root, net->id);
    f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
    bt_net_free(net);
}

static void add_ctr(char hex, const char *name, const char *hostname, enum bt_ctr_status st)
{
    struct bt_ctr *c = bt__ctr_new();
    char cfg[128];

    assert_non_null(c);
    memset(c->id, hex, BT_CTR_ID_LEN);
    c->id[BT_CTR_ID_LEN] = 0;
    c->name = strdup(name);
    snprintf(cfg, sizeof(cfg), "{\"Hostname\":\"%s\"}", hostname);
    c->config = cJSON_Parse(cfg);
    c->state.status = st;
    assert_int_equal(bt__ctrs_add(&dm, c), 0);
}

static int setup(void **state)
{
    struct bt_err *err = NULL;
    char dir[160];

    (void)state;
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "# no private network namespace: skipping\n");
        return 0;
    }
    snprintf(root, sizeof(root), "/tmp/berth-dnsnames-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(data_root, sizeof(data_root), "%s/data", root);
    snprintf(exec_root, sizeof(exec_root), "%s/run", root);
    snprintf(dir, sizeof(dir), "%s/networks", data_root);
    assert_int_equal(mkdir(data_root, 0700), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    dm.loop = &loop;
    dm.cfg.data_root = data_root;
    dm.cfg.exec_root = exec_root;
    dm.ctrs = bt__ctrs_new();

    /* a: web (hostname webhost, aliases pool, wa); b: db (pool) on both
     * networks; c: cli, the asker; d: stopped; e: far, on n2 only;
     * f: a dotted name. */
    const struct ep_spec n1[] = {
        {'a', "10.50.0.2", {"pool", "wa", NULL}}, {'b', "10.50.0.3", {"pool", NULL}},
        {'c', "10.50.0.4", {NULL}},               {'d', "10.50.0.5", {"gone", NULL}},
        {'f', "10.50.0.6", {NULL}},
    };
    const struct ep_spec n2[] = {{'b', "10.60.0.3", {NULL}}, {'e', "10.60.0.2", {NULL}}};
    write_net("n1", "10.50.0.0/24", n1, 5);
    write_net("n2", "10.60.0.0/24", n2, 2);
    assert_int_equal(bt_nets_open(&dm, &err), 0);
    add_ctr('a', "web", "webhost", BT_CTR_RUNNING);
    add_ctr('b', "db", "b", BT_CTR_PAUSED);
    add_ctr('c', "cli", "c", BT_CTR_RUNNING);
    add_ctr('d', "stopped", "d", BT_CTR_EXITED);
    add_ctr('e', "far", "e", BT_CTR_RUNNING);
    add_ctr('f', "my.dotted", "f", BT_CTR_RUNNING);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)f;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown(void **state)
{
    (void)state;
    if (!dm.ctrs)
        return 0;
    uv_run(&loop, UV_RUN_DEFAULT); /* record writes of the predefined networks */
    bt_ctrs_free(&dm);
    bt_nets_free(&dm);
    uv_loop_close(&loop);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static const char *id_of(char hex)
{
    static char id[BT_CTR_ID_LEN + 1];

    memset(id, hex, BT_CTR_ID_LEN);
    return id;
}

/* Resolve name as asker; the addresses as "a b c" in *out. */
static enum net_dns_lookup ask(char asker, const char *name, char *out, size_t size)
{
    struct in_addr v[NET_DNS_ADDRS_MAX];
    size_t n = 99;
    enum net_dns_lookup r = bt__net_dns_resolve(&dm, id_of(asker), name, v, NET_DNS_ADDRS_MAX, &n);

    out[0] = 0;
    for (size_t i = 0; i < n && r == NET_DNS_FOUND; i++) {
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &v[i], a, sizeof(a));
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", a);
    }
    if (r != NET_DNS_FOUND)
        assert_int_equal(n, 0);
    return r;
}

#define FOUND(asker, name, want)                                                                   \
    do {                                                                                           \
        char got_[256];                                                                            \
        assert_int_equal(ask(asker, name, got_, sizeof(got_)), NET_DNS_FOUND);                     \
        assert_string_equal(got_, want);                                                           \
    } while (0)
#define NOT(asker, name, want)                                                                     \
    do {                                                                                           \
        char got_[256];                                                                            \
        assert_int_equal(ask(asker, name, got_, sizeof(got_)), want);                              \
    } while (0)

static void names(void **state)
{
    char a[256], b[256];

    (void)state;
    if (!dm.ctrs)
        skip();
    FOUND('c', "web", "10.50.0.2");
    FOUND('c', "WEB", "10.50.0.2");
    FOUND('c', "webhost", "10.50.0.2");
    FOUND('c', "wa", "10.50.0.2");
    FOUND('c', "aaaaaaaaaaaa", "10.50.0.2"); /* short ID */
    NOT('c', "aaaaaaaaaaa", NET_DNS_UNKNOWN);
    FOUND('c', "cli", "10.50.0.4");
    FOUND('c', "wa.n1", "10.50.0.2");
    FOUND('c', "my.dotted", "10.50.0.6");
    FOUND('c', "my.dotted.n1", "10.50.0.6");
    /* Paused still answers; stopped does not, nor under its alias. */
    FOUND('c', "db", "10.50.0.3");
    NOT('c', "stopped", NET_DNS_UNKNOWN);
    NOT('c', "gone", NET_DNS_UNKNOWN);
    /* Other networks: not seen; a name under a network of the asker's is
     * ours, under another one it is not. */
    NOT('c', "far", NET_DNS_UNKNOWN);
    NOT('c', "nosuch.n1", NET_DNS_UNKNOWN);
    NOT('c', "far.n2", NET_DNS_FORWARD);
    NOT('c', "www.example.org", NET_DNS_FORWARD);
    FOUND('e', "db", "10.60.0.3");
    NOT('e', "web", NET_DNS_UNKNOWN);
    /* A container on no user network asks nothing of ours. */
    NOT('9', "web", NET_DNS_UNKNOWN);

    /* An alias of two: both, in turns. */
    assert_int_equal(ask('c', "pool", a, sizeof(a)), NET_DNS_FOUND);
    assert_int_equal(ask('c', "pool", b, sizeof(b)), NET_DNS_FOUND);
    assert_true(!strcmp(a, "10.50.0.2 10.50.0.3") || !strcmp(a, "10.50.0.3 10.50.0.2"));
    assert_true(!strcmp(b, "10.50.0.2 10.50.0.3") || !strcmp(b, "10.50.0.3 10.50.0.2"));
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
