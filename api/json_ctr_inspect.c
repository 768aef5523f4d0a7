/* GET /containers/{id}/json: ContainerJSON in dockerd 20.10's key order. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_ctr.h"
#include "api/json_net.h"
#include "api/json_images.h"
#include "api/json_system.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/network.h"
#include "berth/storage.h"
#include "berth/sysinfo.h"

static void add_time(cJSON *o, const char *key, int64_t nano)
{
    char buf[48];
    api_time_rfc3339(nano, buf, sizeof(buf));
    cJSON_AddStringToObject(o, key, buf);
}

static cJSON *json_state(const struct bt_ctr *c)
{
    const struct bt_ctr_state *s = &c->state;
    cJSON *o = cJSON_CreateObject();
    /* Paused and restarting containers are Running too, as in dockerd. */
    bool running = s->status == BT_CTR_RUNNING || s->status == BT_CTR_PAUSED ||
                   s->status == BT_CTR_RESTARTING;

    cJSON_AddStringToObject(o, "Status", bt_ctr_status_name(s->status));
    cJSON_AddBoolToObject(o, "Running", running);
    cJSON_AddBoolToObject(o, "Paused", s->status == BT_CTR_PAUSED);
    cJSON_AddBoolToObject(o, "Restarting", s->status == BT_CTR_RESTARTING);
    cJSON_AddBoolToObject(o, "OOMKilled", s->oom_killed);
    cJSON_AddBoolToObject(o, "Dead", s->status == BT_CTR_DEAD);
    cJSON_AddNumberToObject(o, "Pid", s->pid);
    cJSON_AddNumberToObject(o, "ExitCode", s->exit_code);
    cJSON_AddStringToObject(o, "Error", s->error ? s->error : "");
    add_time(o, "StartedAt", s->started_nano);
    add_time(o, "FinishedAt", s->finished_nano);
    /* TODO(health issue): Health{Status,FailingStreak,Log} when a check is configured. */
    return o;
}

static cJSON *strv_json(char **v)
{
    cJSON *a;

    if (!v)
        return cJSON_CreateNull();
    a = cJSON_CreateArray();
    for (; *v; v++)
        cJSON_AddItemToArray(a, cJSON_CreateString(*v));
    return a;
}

static const char *driver_name(const struct bt_daemon *d)
{
    static const struct bt_sysinfo none;
    return d->driver ? api_storage_driver_name(d, &none) : "";
}

/* overlay2's four directories, as dockerd shows them; vfs has none. */
static cJSON *json_graph_driver(struct bt_daemon *d, const struct bt_ctr *c)
{
    cJSON *o = cJSON_CreateObject(), *data;
    char *lower = NULL, *path = NULL;

    if (!d->driver || strcmp(stor_driver_name(d->driver), "overlay") != 0 ||
        !(data = cJSON_AddObjectToObject(o, "Data"))) {
        cJSON_AddNullToObject(o, "Data");
        cJSON_AddStringToObject(o, "Name", driver_name(d));
        return o;
    }
    if (c->top_chain[0] && (lower = api_layer_lower_dirs(d, c->top_chain, true)))
        cJSON_AddStringToObject(data, "LowerDir", lower);
    free(lower);
#define CTR_DIR(key, leaf)                                                                          \
    if (asprintf(&path, "%s/containers/%s/%s", d->cfg.data_root, c->id, leaf) >= 0) {            \
        cJSON_AddStringToObject(data, key, path);                                                 \
        free(path);                                                                               \
    }
    CTR_DIR("MergedDir", "rootfs")
    CTR_DIR("UpperDir", "rw/upper")
    CTR_DIR("WorkDir", "rw/work")
#undef CTR_DIR
    cJSON_AddStringToObject(o, "Name", driver_name(d));
    return o;
}

/* dockerd's NetworkSettings: the endpoints of every network the container
 * is on; the top-level address keys are the default bridge's endpoint. */
static cJSON *json_network_settings(struct bt_daemon *d, const struct bt_ctr *c)
{
    cJSON *o = cJSON_CreateObject();
    struct bt_net *bridge = NULL;
    const struct bt_net_ep *ep = NULL;
    char gw[BT_NET_IP_MAX] = "";

    if (bt_net_lookup(d, "bridge", &bridge, NULL) == 0 && (ep = bt_net_ep_of(bridge, c->id)) &&
        *ep->ipv4 && bridge->n_ipam)
        snprintf(gw, sizeof(gw), "%s", bridge->ipam[0].gateway);
    char *key = bt_net_ctr_sandbox_key(d, c);

    if (ep && !*ep->ipv4)
        ep = NULL; /* stopped: empty values, as dockerd */
    cJSON_AddStringToObject(o, "Bridge", "");
    /* One sandbox per container: its ID stands for the sandbox's. */
    cJSON_AddStringToObject(o, "SandboxID", key ? c->id : "");
    cJSON_AddBoolToObject(o, "HairpinMode", false);
    cJSON_AddStringToObject(o, "LinkLocalIPv6Address", "");
    cJSON_AddNumberToObject(o, "LinkLocalIPv6PrefixLen", 0);
    cJSON_AddItemToObject(o, "Ports", api_json_ctr_ports_map(d, c));
    cJSON_AddStringToObject(o, "SandboxKey", key ? key : "");
    free(key);
    cJSON_AddNullToObject(o, "SecondaryIPAddresses");
    cJSON_AddNullToObject(o, "SecondaryIPv6Addresses");
    cJSON_AddStringToObject(o, "EndpointID", ep ? ep->id : "");
    cJSON_AddStringToObject(o, "Gateway", gw);
    cJSON_AddStringToObject(o, "GlobalIPv6Address", "");
    cJSON_AddNumberToObject(o, "GlobalIPv6PrefixLen", 0);
    cJSON_AddStringToObject(o, "IPAddress", ep ? ep->ipv4 : "");
    cJSON_AddNumberToObject(o, "IPPrefixLen", ep && *ep->ipv4 ? ep->prefix : 0);
    cJSON_AddStringToObject(o, "IPv6Gateway", "");
    cJSON_AddStringToObject(o, "MacAddress", ep ? ep->mac : "");
    cJSON_AddItemToObject(o, "Networks", api_json_ctr_networks(d, c));
    return o;
}

static cJSON *dup_or_null(const cJSON *v)
{
    return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

cJSON *api_json_ctr_inspect(struct bt_daemon *d, const struct bt_ctr *c, bool with_size)
{
    cJSON *o = cJSON_CreateObject();
    char name[256];

    cJSON_AddStringToObject(o, "Id", c->id);
    add_time(o, "Created", c->created_nano);
    cJSON_AddStringToObject(o, "Path", c->path ? c->path : "");
    cJSON_AddItemToObject(o, "Args", c->args ? strv_json(c->args) : cJSON_CreateArray());
    cJSON_AddItemToObject(o, "State", json_state(c));
    cJSON_AddStringToObject(o, "Image", c->image_id);
    cJSON_AddStringToObject(o, "ResolvConfPath", c->resolv_conf_path ? c->resolv_conf_path : "");
    cJSON_AddStringToObject(o, "HostnamePath", c->hostname_path ? c->hostname_path : "");
    cJSON_AddStringToObject(o, "HostsPath", c->hosts_path ? c->hosts_path : "");
    cJSON_AddStringToObject(o, "LogPath", c->log_path ? c->log_path : "");
    snprintf(name, sizeof(name), "/%s", c->name);
    cJSON_AddStringToObject(o, "Name", name);
    cJSON_AddNumberToObject(o, "RestartCount", c->restart_count);
    cJSON_AddStringToObject(o, "Driver", driver_name(d));
    cJSON_AddStringToObject(o, "Platform", "linux");
    cJSON_AddStringToObject(o, "MountLabel", "");
    cJSON_AddStringToObject(o, "ProcessLabel", "");
    cJSON_AddStringToObject(o, "AppArmorProfile", "");
    cJSON_AddItemToObject(o, "ExecIDs", strv_json(c->exec_ids));
    cJSON_AddItemToObject(o, "HostConfig", dup_or_null(c->host_config));
    cJSON_AddItemToObject(o, "GraphDriver", json_graph_driver(d, c));
    if (with_size) { /* filled by api_json_ctr_set_sizes */
        cJSON_AddNumberToObject(o, "SizeRw", 0);
        cJSON_AddNumberToObject(o, "SizeRootFs", 0);
    }
    cJSON_AddArrayToObject(o, "Mounts"); /* TODO(volumes issue) */
    cJSON_AddItemToObject(o, "Config", dup_or_null(c->config));
    cJSON_AddItemToObject(o, "NetworkSettings", json_network_settings(d, c));
    return o;
}
