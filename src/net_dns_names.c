/* Names for the embedded DNS: what a container on user-defined networks
 * may resolve, read straight from the network records and the container
 * records on each query (no second copy of the names to keep in step with
 * connects, renames, starts and stops). A query walks the asker's networks
 * and their endpoints: a few hundred comparisons at most on a busy host,
 * cheaper than any index's upkeep. */
#include <config.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <string.h>
#include <strings.h>

#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/network.h"
#include "src/net-dns.h"

/* Containers find each other on user-defined bridge networks only, as with
 * Docker: the default bridge has no embedded DNS. */
static bool dns_net(const struct bt_net *n)
{
    return !bt_net_name_predefined(n->name) && strcmp(n->driver, "bridge") == 0;
}

/* The record of ctr_id while its process runs; NULL otherwise (a stopped
 * container keeps its endpoint but must not be answered). */
static const struct bt_ctr *live_ctr(const struct bt_daemon *d, const char *ctr_id)
{
    struct bt_ctr *c;

    if (bt_ctr_lookup(d, ctr_id, &c, NULL) < 0 || strcmp(c->id, ctr_id) != 0)
        return NULL;
    if (c->state.status != BT_CTR_RUNNING && c->state.status != BT_CTR_PAUSED)
        return NULL;
    return c;
}

static bool same(const char *s, const char *name, size_t len)
{
    return s && strlen(s) == len && strncasecmp(s, name, len) == 0;
}

/* Whether the endpoint ep of c answers to name[0..len). */
static bool ep_named(const struct bt_ctr *c, const struct bt_net_ep *ep, const char *name,
                     size_t len)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(c->config, "Hostname");

    if (same(c->name, name, len))
        return true;
    if (len == 12 && strncasecmp(ep->ctr_id, name, 12) == 0)
        return true;
    for (char **a = ep->aliases; a && *a; a++)
        if (same(*a, name, len))
            return true;
    return cJSON_IsString(h) && same(h->valuestring, name, len);
}

struct found {
    struct in_addr *v;
    size_t n, max;
    bool matched;
};

/* Add the addresses of n's live endpoints named name[0..len). */
static void collect(const struct bt_daemon *d, const struct bt_net *n, const char *name,
                    size_t len, struct found *f)
{
    for (size_t i = 0; i < n->n_eps; i++) {
        const struct bt_net_ep *ep = &n->eps[i];
        const struct bt_ctr *c = live_ctr(d, ep->ctr_id);
        struct in_addr a;
        bool dup = false;

        if (!c || !ep_named(c, ep, name, len))
            continue;
        f->matched = true;
        if (!*ep->ipv4 || inet_pton(AF_INET, ep->ipv4, &a) != 1)
            continue;
        for (size_t k = 0; k < f->n; k++)
            dup = dup || f->v[k].s_addr == a.s_addr;
        if (!dup && f->n < f->max)
            f->v[f->n++] = a;
    }
}

enum net_dns_lookup bt__net_dns_resolve(const struct bt_daemon *d, const char *asker_id,
                                        const char *name, struct in_addr *ret, size_t max,
                                        size_t *ret_n)
{
    static unsigned turn; /* rotates several addresses across answers */
    struct found f = {.v = ret, .max = max};
    size_t len = strlen(name);
    bool ours = strchr(name, '.') == NULL;

    *ret_n = 0;
    for (size_t i = 0; i < bt_nets_count(d); i++) {
        const struct bt_net *n = bt_nets_at(d, i);
        if (dns_net(n) && bt_net_ep_of(n, asker_id))
            collect(d, n, name, len, &f);
    }
    /* NAME.NETWORK: "web.backend" is web on backend. Dots may sit in both
     * container and network names: try every split, the longest name first. */
    for (size_t cut = len; !f.matched && cut-- > 0;) {
        if (name[cut] != '.')
            continue;
        for (size_t i = 0; i < bt_nets_count(d); i++) {
            const struct bt_net *n = bt_nets_at(d, i);
            if (!dns_net(n) || !bt_net_ep_of(n, asker_id) || strcasecmp(n->name, name + cut + 1))
                continue;
            ours = true;
            collect(d, n, name, cut, &f);
        }
    }
    if (!f.matched)
        return ours ? NET_DNS_UNKNOWN : NET_DNS_FORWARD;
    if (f.n > 1) {
        size_t k = turn++ % f.n;
        struct in_addr tmp[NET_DNS_ADDRS_MAX];

        if (f.n <= NET_DNS_ADDRS_MAX) {
            memcpy(tmp, f.v, f.n * sizeof(*tmp));
            for (size_t i = 0; i < f.n; i++)
                f.v[i] = tmp[(i + k) % f.n];
        }
    }
    *ret_n = f.n;
    return NET_DNS_FOUND;
}
