/* Networks: the daemon's network records, their endpoints and the store.
 *
 * A network record is what `docker network inspect` shows (Docker's fields)
 * plus the Linux bridge name and the endpoints: one per container connected,
 * with the address reserved for it. Records live in
 * data-root/networks/<id>.json, written atomically on the pool; the three
 * predefined networks (bridge, host, none) always exist and keep their IDs.
 *
 * An endpoint is recorded when a container is created on a network or
 * connected to one; as with dockerd, its address is taken when the
 * container starts (the requested --ip, else the next free one) and given
 * back when it stops, so a stopped container shows empty values. Wiring
 * the container (netns, veth, routes) is src/net_ctr.c's business.
 *
 * Loop thread only, unless a function says ANY. */
#ifndef BERTH_NETWORK_H
#define BERTH_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/rt_spec.h"

struct bt_daemon;
struct bt_ctr;
struct bt_filters;
struct bt_kv;
struct net_ipam;

#define BT_NET_ID_LEN 64
#define BT_NET_IP_MAX 16  /* "255.255.255.255" + NUL */
#define BT_NET_MAC_MAX 18 /* "02:42:ac:11:00:02" + NUL */
#define BT_NET_DEFAULT_BRIDGE "berth0"

/* One IPAM.Config entry. Strings are never NULL ("" when unset). */
struct bt_net_ipam {
    char *subnet;   /* "172.18.0.0/16" */
    char *gateway;  /* "172.18.0.1" */
    char *ip_range; /* a sub-range containers' addresses come from */
};

/* A container on the network. */
struct bt_net_ep {
    char ctr_id[BT_NET_ID_LEN + 1];
    char *ctr_name;                 /* without '/', as at connect time */
    char id[BT_NET_ID_LEN + 1];     /* EndpointID */
    char mac[BT_NET_MAC_MAX];       /* "" on host/none */
    char ipv4[BT_NET_IP_MAX];       /* "" on host/none and while the container is not running */
    int prefix;                     /* of ipv4's subnet */
    char *ipam_ipv4;                /* IPAMConfig.IPv4Address asked for, "" none */
    char **aliases;                 /* NULL-terminated, NULL when none */
    char ifname[16];                /* "eth0".. inside the container while wired, else "" */
};

struct bt_net {
    char id[BT_NET_ID_LEN + 1];
    char *name;
    int64_t created_nano;
    char *driver;        /* "bridge", "host", "null" */
    bool enable_ipv6, internal, attachable;
    char *ipam_driver;   /* "default" */
    struct bt_kv *ipam_options;
    size_t n_ipam_options;
    bool ipam_options_set; /* false: shown as null */
    struct bt_net_ipam *ipam;
    size_t n_ipam;
    bool subnet_auto;    /* the pool was chosen by berth, not the user: no --ip */
    struct bt_kv *options; /* exactly the user's (compose compares them) */
    size_t n_options;
    struct bt_kv *labels;
    size_t n_labels;
    char *bridge;        /* Linux bridge name, "" for host/null */
    struct bt_net_ep *eps;
    size_t n_eps;
    struct net_ipam *alloc; /* the driver's allocator (src/net_driver.c); not in the file */
};

/* ---- records (src/net_record.c) ------------------------------------------ */

/* A zeroed record with a fresh random ID and created_nano = now; every
 * string "" (never NULL). NULL on ENOMEM. ANY. */
struct bt_net *bt_net_new(void);
void bt_net_free(struct bt_net *n);
void bt_net_ep_done(struct bt_net_ep *ep);
/* bridge, host or none. ANY. */
bool bt_net_name_predefined(const char *name);
/* The record file's JSON (our own format, see net_record.c). malloc'd
 * text, NULL on ENOMEM. ANY. */
char *bt_net_encode(const struct bt_net *n);
/* BT_EINVAL naming what is wrong. ANY. */
int bt_net_decode(const char *text, size_t len, struct bt_net **ret, struct bt_err **err);

/* ---- the store (src/net_store.c) ----------------------------------------- */

/* Start-up, blocking: load data-root/networks/ *.json (a file that does not
 * parse is renamed aside and logged) and make the predefined networks that
 * are missing. */
int bt_nets_open(struct bt_daemon *d, struct bt_err **err);
/* After the containers are loaded: drop endpoints whose container is gone
 * (a crash between the two writes), releasing their addresses. */
void bt_nets_reconcile(struct bt_daemon *d);
void bt_nets_free(struct bt_daemon *d);

size_t bt_nets_count(const struct bt_daemon *d);
/* Creation order. */
struct bt_net *bt_nets_at(const struct bt_daemon *d, size_t i);
/* dockerd's order: full ID, exact name, unique ID prefix. BT_ENOTFOUND
 * "network x not found"; an ambiguous prefix is BT_EINVAL
 * "network x is ambiguous (N matches found based on ID prefix)". */
int bt_net_lookup(const struct bt_daemon *d, const char *term, struct bt_net **ret,
                  struct bt_err **err);
const struct bt_net_ep *bt_net_ep_of(const struct bt_net *n, const char *ctr_id);

typedef void (*bt_net_done_fn)(void *arg, struct bt_net *n, const struct bt_err *err);

/* Create from proto (taken whatever the result): name, driver, flags,
 * options, labels and the user's IPAM config; the subnet is chosen when the
 * user gave none, the bridge named. Checks names (409 "network with name x
 * already exists", 403 for predefined names), drivers, IPAM config (400),
 * overlaps (403 "Pool overlaps with other one on this address space").
 * done runs once the record is on disk. Emits "create". */
int bt_net_create(struct bt_daemon *d, struct bt_net *proto, bt_net_done_fn done, void *arg,
                  struct bt_err **err);
/* Remove: 403 for predefined networks and networks with endpoints. done
 * runs once the file is gone (n is freed by then: done gets NULL). Emits
 * "destroy". */
int bt_net_remove(struct bt_daemon *d, struct bt_net *n, bt_net_done_fn done, void *arg,
                  struct bt_err **err);
/* Remove every custom network without endpoints that matches f (until,
 * label, label!). *ret_names: the removed names (malloc'd strv, NULL when
 * none). Files are removed in the background. */
int bt_nets_prune(struct bt_daemon *d, const struct bt_filters *f, char ***ret_names,
                  size_t *ret_n, struct bt_err **err);

/* Connect c with the requested address (NULL or "") and aliases
 * (NULL-terminated, may be NULL); a running container gets its endpoint
 * live (ethN) on the pool. Connecting to a network c is already on does
 * nothing, as dockerd. Emits "connect". Returns -1 with err when refused at
 * once (done is not called); else done runs once, maybe before the return,
 * with n or the error. */
int bt_net_connect(struct bt_daemon *d, struct bt_net *n, struct bt_ctr *c, const char *ipv4,
                   char *const *aliases, bt_net_done_fn done, void *arg, struct bt_err **err);
/* Disconnect c (a running one loses the interface live); BT_EINTERNAL
 * "container x is not connected to the network y" when it is not. Emits
 * "disconnect". Same calling convention as bt_net_connect. */
int bt_net_disconnect(struct bt_daemon *d, struct bt_net *n, struct bt_ctr *c, bool force,
                      bt_net_done_fn done, void *arg, struct bt_err **err);

/* ---- containers ----------------------------------------------------------- */

/* At create (c is indexed, not yet written): resolve HostConfig.NetworkMode
 * (default/bridge, host, none, a network name or ID; container:x has none)
 * and its EndpointsConfig entry, check them as dockerd (404 "network x not
 * found", aliases and addresses only on user networks) and reserve the
 * endpoint. Nothing is left reserved on failure. */
int bt_net_ctr_attach(struct bt_daemon *d, struct bt_ctr *c, struct bt_err **err);
/* At rm (or a failed create): drop c's endpoints everywhere and release
 * their addresses. No events (dockerd emits none for a never-wired
 * container). */
void bt_net_ctr_detach(struct bt_daemon *d, const struct bt_ctr *c);
/* The networks c has an endpoint on, in creation order: the i-th, NULL past
 * the end. */
struct bt_net *bt_net_ctr_net_at(const struct bt_daemon *d, const char *ctr_id, size_t i);

/* ---- wiring containers (src/net_ctr.c) ------------------------------------- */

/* What a start needs to make the container's network: built on the loop,
 * used on the pool. */
struct bt_net_wire;

/* Loop, at start: the namespace mode and path (host, a fresh one for
 * "none", RUN_DIR/netns for bridge networks, the joined one for
 * container:x, which must be running) and, for bridge networks, each
 * endpoint's address (the requested --ip, else the next free one), MAC and
 * interface name (eth0 for NetworkMode's network, with the default route
 * unless internal; eth1.. for the others), recorded in the network
 * records. Nothing is held on failure. */
int bt_net_wire_plan(struct bt_daemon *d, struct bt_ctr *c, const char *run_dir,
                     struct bt_net_wire **ret, struct bt_err **err);
enum bt_rt_netns bt_net_wire_mode(const struct bt_net_wire *w); /* enum of rt_spec.h */
const char *bt_net_wire_path(const struct bt_net_wire *w);      /* NULL unless PATH */
void bt_net_wire_free(struct bt_net_wire *w);
/* ANY thread (the pool): make the namespace and its endpoints. On failure
 * nothing is left. */
int bt_net_wire_up(const struct bt_net_wire *w, struct bt_err **err);
/* ANY thread (the pool): unmount and remove RUN_DIR/netns if there is one;
 * the kernel then drops the endpoints in the background. */
void bt_net_wire_down(const char *run_dir);
/* Loop: give back the addresses of c's endpoints (c stopped or its start
 * failed): they show empty values until the next start. */
void bt_net_ctr_release(struct bt_daemon *d, const struct bt_ctr *c);
/* Whether c's network mode gives it a namespace of its own (RUN_DIR/netns). */
bool bt_net_ctr_own_netns(const struct bt_ctr *c);
/* SandboxKey: c's RUN_DIR/netns while it runs with one, else NULL. */
char *bt_net_ctr_sandbox_key(const struct bt_daemon *d, const struct bt_ctr *c);
/* "RUN_DIR/netns", malloc'd. ANY. */
char *bt_net_netns_path(const char *run_dir);

/* One endpoint of a running container, added (connect) or removed
 * (disconnect) on the pool: prepared on the loop (wire takes the address
 * and interface name), run on the pool, freed on the loop. */
struct bt_net_ep_job;
int bt_net_ep_wire(struct bt_daemon *d, struct bt_net *n, struct bt_ctr *c,
                   struct bt_net_ep_job **ret, struct bt_err **err);
int bt_net_ep_unwire(struct bt_daemon *d, const struct bt_net *n, const struct bt_ctr *c,
                     struct bt_net_ep_job **ret, struct bt_err **err);
void bt_net_ep_job_run(struct bt_net_ep_job *j); /* ANY */
const struct bt_err *bt_net_ep_job_err(const struct bt_net_ep_job *j);
void bt_net_ep_job_free(struct bt_net_ep_job *j);

/* The head of Docker's EndpointSettings for ep: IPAMConfig, Links and
 * Aliases (the container's EndpointsConfig, and the start of inspect's
 * Networks entries). NULL on ENOMEM. ANY. */
struct cJSON *bt_net_ep_config_json(const struct bt_net_ep *ep);

/* ---- embedded DNS (src/net_dns.c) ------------------------------------------- */

/* The host's resolv.conf: /etc/resolv.conf, or $BERTH_RESOLV_CONF when set
 * (tests give the daemon a resolver of their own without touching the
 * host's file). ANY. */
const char *bt_net_resolv_conf_path(void);
/* Its text (malloc'd), NULL when unreadable. Blocking: start-up or pool. */
char *bt_net_resolv_conf_read(void);

/* Start-up, blocking, after bt_nets_open and before the containers are
 * restored: the daemon's one DNS server, forwarding to the nameservers of
 * the host's resolv.conf (loopback ones too: it forwards from the daemon's
 * own namespace). */
int bt_net_dns_open(struct bt_daemon *d, struct bt_err **err);
/* SIGHUP: read the host's resolv.conf again (on the pool); forwarded
 * queries use its nameservers from then on. */
void bt_net_dns_reload(struct bt_daemon *d);
/* Shutdown: stop serving every container and free the server (its handles
 * close on the loop's next turns). */
void bt_net_dns_close(struct bt_daemon *d);

/* Whether c gets the embedded DNS: it has an endpoint on at least one
 * user-defined network (not the default bridge, as Docker). */
bool bt_net_dns_wanted(const struct bt_daemon *d, const struct bt_ctr *c);

/* err NULL: c's DNS is served; else why not (c keeps running without it).
 * c is NULL if the record went away meanwhile. */
typedef void (*bt_net_dns_done_fn)(void *arg, struct bt_ctr *c, const struct bt_err *err);
/* The start path's hook, to call once c's network namespace exists (bound
 * at netns_path) and BEFORE its process runs, so its first query finds the
 * server: 127.0.0.11:53 (UDP and TCP) is opened in that namespace on a
 * short-lived thread and served by the loop. Forwarding goes to c's --dns
 * servers when it has some, nowhere when all its networks are internal,
 * else to the host's. Returns 0 when c does not get DNS (done is never
 * called), 1 when under way (done is called once on the loop, unless
 * bt_net_dns_detach comes first; done may be NULL), < 0 with err. An
 * earlier attach of c is detached first. */
int bt_net_dns_attach(struct bt_daemon *d, struct bt_ctr *c, const char *netns_path,
                      bt_net_dns_done_fn done, void *arg, struct bt_err **err);
/* Start-up: serve a container found running again (its namespace is its
 * RUN_DIR/netns), logging a failure (it runs on without DNS). */
void bt_net_dns_restore(struct bt_daemon *d, struct bt_ctr *c, const char *run_dir);
/* The teardown path's hook: stop serving c (sockets closed, forwarded
 * queries dropped). Nothing when c is not served. */
void bt_net_dns_detach(struct bt_daemon *d, const struct bt_ctr *c);

#endif
