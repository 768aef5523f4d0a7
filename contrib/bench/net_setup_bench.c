/* net-setup-bench: network set-up time per container start (issue 6's
 * target: under 5 ms), measured on berth's netlink layer (net/nl_*.c).
 *
 * Each iteration does what the daemon does for one bridged container:
 * net_netns_create (namespace bound at a file, lo up) + net_endpoint_add
 * (veth pair on the bridge, eth0 with MAC, MTU, address, default route);
 * then the teardown, net_endpoint_remove + net_netns_delete. It prints the
 * median and p90 of each phase over N iterations (after a short warm-up).
 *
 * Safe to run anywhere as root: the process first moves into a network and
 * mount namespace of its own, so the bridge (10.231.0.0/16), veths and netns
 * mounts never touch the host.
 *
 * Build and run:  make bench && ./berth-bench-net [-n ITERATIONS]
 * (or contrib/bench/net-setup-bench, which does both). */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "berth/err.h"
#include "berth/net_link.h"

enum { PH_NETNS, PH_ENDPOINT, PH_SETUP, PH_TEARDOWN, PH_MAX };
static const char *const phase_name[PH_MAX] = {"netns create", "endpoint add",
                                                "set-up total", "teardown"};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int die(struct bt_err *err, const char *what)
{
    fprintf(stderr, "net-setup-bench: %s: %s\n", what, err ? err->msg : strerror(errno));
    return 1;
}

/* One container's set-up and teardown; t[] gets each phase in microseconds. */
static int one(const char *dir, int i, double t[PH_MAX], struct bt_err **err)
{
    struct in_addr gw = {.s_addr = htonl(0x0ae70001)}; /* 10.231.0.1 */
    char path[256], host[NET_VETH_NAME_LEN];
    struct net_endpoint ep = {.bridge = "bt-bench0", .ifname = "eth0", .gateway = &gw,
                              .addr = {{htonl(0x0ae70000u + 2 + (unsigned)(i % 60000))}, 16}};
    double t0, t1, t2, t3;

    (void)snprintf(path, sizeof(path), "%s/ns-%d", dir, i);
    if (net_veth_name_new(host) < 0)
        return -1;
    ep.netns_path = path;
    ep.host_ifname = host;
    net_mac_from_ipv4(ep.addr.addr, ep.mac);
    t0 = now_us();
    if (net_netns_create(path, err) < 0)
        return -1;
    t1 = now_us();
    if (net_endpoint_add(&ep, err) < 0)
        return -1;
    t2 = now_us();
    if (net_endpoint_remove(host, err) < 0 || net_netns_delete(path, err) < 0)
        return -1;
    t3 = now_us();
    t[PH_NETNS] = t1 - t0;
    t[PH_ENDPOINT] = t2 - t1;
    t[PH_SETUP] = t2 - t0;
    t[PH_TEARDOWN] = t3 - t2;
    return 0;
}

int main(int argc, char **argv)
{
    struct net_ipv4_prefix gw = {.addr = {htonl(0x0ae70001)}, .prefix = 16};
    char dir[] = "/tmp/berth-net-bench-XXXXXX";
    struct bt_err *err = NULL;
    double *t[PH_MAX], x[PH_MAX];
    int n = 200, warm = 10, opt;

    while ((opt = getopt(argc, argv, "n:")) != -1) {
        if (opt != 'n' || (n = (int)strtol(optarg, NULL, 10)) <= 0) {
            fprintf(stderr, "usage: %s [-n ITERATIONS]\n", argv[0]);
            return 2;
        }
    }
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0 ||
        mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
        return die(NULL, "private network and mount namespace (run as root)");
    if (!mkdtemp(dir))
        return die(NULL, "mkdtemp");
    if (net_bridge_ensure("bt-bench0", 1500, &gw, &err) < 0)
        return die(err, "bridge");
    for (int p = 0; p < PH_MAX; p++)
        if (!(t[p] = calloc((size_t)n, sizeof(double))))
            return die(NULL, "calloc");
    for (int i = 0; i < warm + n; i++) {
        if (one(dir, i, x, &err) < 0)
            return die(err, "iteration");
        if (i >= warm)
            for (int p = 0; p < PH_MAX; p++)
                t[p][i - warm] = x[p];
    }
    (void)rmdir(dir);
    printf("net-setup-bench: %d containers (after %d warm-up), microseconds\n", n, warm);
    printf("%-14s %10s %10s %10s\n", "phase", "median", "p90", "max");
    for (int p = 0; p < PH_MAX; p++) {
        qsort(t[p], (size_t)n, sizeof(double), cmp_double);
        printf("%-14s %10.0f %10.0f %10.0f\n", phase_name[p], t[p][n / 2], t[p][(n * 9) / 10],
               t[p][n - 1]);
        free(t[p]);
    }
    return 0;
}
