/* JSON shapes of networks: the create request, the inspect / list object,
 * a container's endpoint settings, and the list filters. Loop thread. */
#ifndef BERTH_API_JSON_NET_H
#define BERTH_API_JSON_NET_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "berth/err.h"

struct bt_daemon;
struct bt_net;
struct bt_net_ep;
struct bt_ctr;
struct bt_filters;

/* POST /networks/create body -> a new record (bt_net_create checks the
 * values). BT_EINVAL for wrong types. */
int api_net_create_parse(const cJSON *body, struct bt_net **ret, struct bt_err **err);
/* The network as GET /networks/{id} shows it; with_containers false gives
 * the list form ("Containers":{}). */
cJSON *api_json_net(struct bt_daemon *d, const struct bt_net *n, bool with_containers);
/* Whether ep is live: an address taken (bridge networks) or c running. */
bool api_ep_live(const struct bt_net *n, const struct bt_net_ep *ep, const struct bt_ctr *c);
/* One NetworkSettings.Networks entry of a container. */
cJSON *api_json_ctr_endpoint(const struct bt_net *n, const struct bt_net_ep *ep);
/* NetworkSettings.Networks of c, by network name. */
cJSON *api_json_ctr_networks(struct bt_daemon *d, const struct bt_ctr *c);

/* GET /networks filters: check (400 as dockerd) and match. */
int api_net_filters_check(const struct bt_filters *f, struct bt_err **err);
bool api_net_filters_match(const struct bt_filters *f, const struct bt_net *n);

#endif
