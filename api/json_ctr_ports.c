/* Ports in container JSON: inspect's NetworkSettings.Ports and the list's
 * Ports, from the exposed ports and what the start published. IPv4 only:
 * dockerd 28 lists a "::" entry next to each 0.0.0.0 one; berth publishes
 * on IPv4 addresses only and lists only those. */
#include <config.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/json_ctr.h"
#include "berth/container.h"
#include "berth/ipam.h"
#include "berth/ports.h"

static bool live(const struct bt_ctr *c)
{
    return c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED;
}

static const char *proto_name(uint8_t p)
{
    return p == IPPROTO_UDP ? "udp" : "tcp";
}

cJSON *api_json_ctr_ports_map(struct bt_daemon *d, const struct bt_ctr *c)
{
    cJSON *o = cJSON_CreateObject();
    struct bt_port_bound *exp = NULL;
    const struct bt_port_bound *pub;
    size_t n_exp = 0, n_pub = 0;

    /* A container that is not running, or cannot publish, shows {}. */
    if (!o || !live(c) || !bt_ports_ctr_can_publish(d, c) ||
        bt_ports_exposed(c->config, c->host_config, &exp, &n_exp) < 0)
        return o;
    pub = bt_ports_published(d, c->id, &n_pub);
    for (size_t i = 0; i < n_exp; i++) {
        char key[16], ip[NET_ADDR_STRLEN], port[8];
        cJSON *arr = NULL;
        snprintf(key, sizeof(key), "%u/%s", exp[i].ctr_port, proto_name(exp[i].proto));
        for (size_t k = 0; k < n_pub; k++) {
            cJSON *b;
            if (pub[k].ctr_port != exp[i].ctr_port || pub[k].proto != exp[i].proto)
                continue;
            if (!arr && !(arr = cJSON_CreateArray()))
                break;
            if (!(b = cJSON_CreateObject()))
                break;
            net_addr_format(pub[k].host_ip, ip);
            snprintf(port, sizeof(port), "%u", pub[k].host_port);
            cJSON_AddStringToObject(b, "HostIp", ip);
            cJSON_AddStringToObject(b, "HostPort", port);
            cJSON_AddItemToArray(arr, b);
        }
        cJSON_AddItemToObject(o, key, arr ? arr : cJSON_CreateNull());
    }
    free(exp);
    return o;
}

cJSON *api_json_ctr_ports_list(struct bt_daemon *d, const struct bt_ctr *c)
{
    cJSON *a = cJSON_CreateArray();
    struct bt_port_bound *exp = NULL;
    const struct bt_port_bound *pub;
    size_t n_exp = 0, n_pub = 0;

    if (!a || !live(c) || !bt_ports_ctr_can_publish(d, c) ||
        bt_ports_exposed(c->config, c->host_config, &exp, &n_exp) < 0)
        return a;
    pub = bt_ports_published(d, c->id, &n_pub);
    for (size_t i = 0; i < n_exp; i++) {
        bool any = false;
        for (size_t k = 0; k <= n_pub; k++) {
            const struct bt_port_bound *p = k < n_pub ? &pub[k] : NULL;
            cJSON *o;
            char ip[NET_ADDR_STRLEN];
            if (p && (p->ctr_port != exp[i].ctr_port || p->proto != exp[i].proto))
                continue;
            if (!p && any)
                break;
            if (!(o = cJSON_CreateObject()))
                break;
            if (p) {
                net_addr_format(p->host_ip, ip);
                cJSON_AddStringToObject(o, "IP", ip);
            }
            cJSON_AddNumberToObject(o, "PrivatePort", exp[i].ctr_port);
            if (p)
                cJSON_AddNumberToObject(o, "PublicPort", p->host_port);
            cJSON_AddStringToObject(o, "Type", proto_name(exp[i].proto));
            cJSON_AddItemToArray(a, o);
            any = true;
        }
    }
    free(exp);
    return a;
}
