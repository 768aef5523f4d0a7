/* GET /containers/json items and the strings dockerd computes for them:
 * the Status column (go-units HumanDuration), the Command column, times. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/json_ctr.h"
#include "api/json_net.h"
#include "berth/buf.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/image_ops.h"
#include "berth/images.h"

#define NS_PER_SEC 1000000000LL

void api_human_duration(int64_t nano, char *buf, size_t size)
{
    int64_t seconds = nano / NS_PER_SEC, minutes = seconds / 60;
    /* Hours round to the nearest, minutes and seconds truncate (go-units). */
    int64_t hours = (nano + 1800 * NS_PER_SEC) / (3600 * NS_PER_SEC);

    if (seconds < 1)
        snprintf(buf, size, "Less than a second");
    else if (seconds == 1)
        snprintf(buf, size, "1 second");
    else if (seconds < 60)
        snprintf(buf, size, "%lld seconds", (long long)seconds);
    else if (minutes == 1)
        snprintf(buf, size, "About a minute");
    else if (minutes < 60)
        snprintf(buf, size, "%lld minutes", (long long)minutes);
    else if (hours == 1)
        snprintf(buf, size, "About an hour");
    else if (hours < 48)
        snprintf(buf, size, "%lld hours", (long long)hours);
    else if (hours < 24 * 7 * 2)
        snprintf(buf, size, "%lld days", (long long)(hours / 24));
    else if (hours < 24 * 30 * 2)
        snprintf(buf, size, "%lld weeks", (long long)(hours / 24 / 7));
    else if (hours < 24 * 365 * 2)
        snprintf(buf, size, "%lld months", (long long)(hours / 24 / 30));
    else /* years use the truncated hours */
        snprintf(buf, size, "%lld years", (long long)(nano / (3600 * NS_PER_SEC) / 24 / 365));
}

const char *api_ctr_health(const struct bt_ctr *c)
{
    (void)c; /* TODO(health issue): the health monitor's status */
    return "none";
}

void api_ctr_status_text(const struct bt_ctr *c, int64_t now_nano, char *buf, size_t size)
{
    const struct bt_ctr_state *s = &c->state;
    char d[32];

    switch (s->status) {
    case BT_CTR_RUNNING:
    case BT_CTR_PAUSED:
        api_human_duration(now_nano - s->started_nano, d, sizeof(d));
        snprintf(buf, size, "Up %s%s", d, s->status == BT_CTR_PAUSED ? " (Paused)" : "");
        return;
    case BT_CTR_RESTARTING:
        api_human_duration(now_nano - s->finished_nano, d, sizeof(d));
        snprintf(buf, size, "Restarting (%d) %s ago", s->exit_code, d);
        return;
    case BT_CTR_REMOVING:
        snprintf(buf, size, "Removal In Progress");
        return;
    case BT_CTR_DEAD:
        snprintf(buf, size, "Dead");
        return;
    default:
        break;
    }
    if (s->started_nano <= 0)
        snprintf(buf, size, "Created");
    else if (s->finished_nano <= 0)
        snprintf(buf, size, "%s", "");
    else {
        api_human_duration(now_nano - s->finished_nano, d, sizeof(d));
        snprintf(buf, size, "Exited (%d) %s ago", s->exit_code, d);
    }
}

char *api_ctr_command(const struct bt_ctr *c)
{
    struct bt_buf b;

    bt_buf_init(&b, 0);
    if (bt_buf_append(&b, c->path ? c->path : "", c->path ? strlen(c->path) : 0) < 0)
        goto fail;
    for (char **a = c->args; a && *a; a++) {
        bool quote = strchr(*a, ' ') != NULL;
        if (bt_buf_appendf(&b, quote ? " '%s'" : " %s", *a) < 0)
            goto fail;
    }
    return b.p ? bt_buf_steal(&b, NULL) : strdup("");
fail:
    bt_buf_done(&b);
    return NULL;
}

void api_time_rfc3339(int64_t nano, char *buf, size_t size)
{
    time_t sec = (time_t)(nano / NS_PER_SEC);
    long frac = (long)(nano % NS_PER_SEC);
    struct tm tm;
    size_t n;
    int digits = 9;

    if (nano <= 0) {
        snprintf(buf, size, "0001-01-01T00:00:00Z");
        return;
    }
    gmtime_r(&sec, &tm);
    n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    while (frac && frac % 10 == 0) { /* Go drops trailing zeros */
        frac /= 10;
        digits--;
    }
    if (frac)
        snprintf(buf + n, size - n, ".%0*ldZ", digits, frac);
    else
        snprintf(buf + n, size - n, "Z");
}

const char *api_ctr_network_name(const struct bt_ctr *c)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c->host_config, "NetworkMode");
    const char *mode = cJSON_IsString(m) ? m->valuestring : "";

    if (!*mode || strcmp(mode, "default") == 0)
        return "bridge";
    if (strncmp(mode, "container:", 10) == 0)
        return NULL;
    return mode;
}

cJSON *api_json_endpoint_empty(void)
{
    cJSON *ep = cJSON_CreateObject();

    cJSON_AddNullToObject(ep, "IPAMConfig");
    cJSON_AddNullToObject(ep, "Links");
    cJSON_AddNullToObject(ep, "Aliases");
    for (const char *const *k = (const char *const[]){"NetworkID", "EndpointID", "Gateway",
                                                       "IPAddress", NULL};
         *k; k++)
        cJSON_AddStringToObject(ep, *k, "");
    cJSON_AddNumberToObject(ep, "IPPrefixLen", 0);
    cJSON_AddStringToObject(ep, "IPv6Gateway", "");
    cJSON_AddStringToObject(ep, "GlobalIPv6Address", "");
    cJSON_AddNumberToObject(ep, "GlobalIPv6PrefixLen", 0);
    cJSON_AddStringToObject(ep, "MacAddress", "");
    cJSON_AddNullToObject(ep, "DriverOpts");
    return ep;
}

static void add_i64(cJSON *o, const char *key, int64_t v)
{
    char n[32];
    snprintf(n, sizeof(n), "%lld", (long long)v);
    cJSON_AddRawToObject(o, key, n);
}

static cJSON *dup_or_null(const cJSON *v)
{
    return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

/* The image as typed, unless that name now points at another image (then
 * the ID, as dockerd shows it). */
static const char *summary_image(struct bt_daemon *d, const struct bt_ctr *c)
{
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(c->config, "Image");
    struct stor_image *now = NULL;

    if (!cJSON_IsString(img) || !*img->valuestring)
        return c->image_id;
    if (strcmp(img->valuestring, c->image_id) == 0 || !d->images)
        return img->valuestring;
    if (bt_image_lookup(d, img->valuestring, &now, NULL) < 0 || strcmp(now->id, c->image_id) != 0)
        return c->image_id;
    return img->valuestring;
}

static cJSON *summary_network(struct bt_daemon *d, const struct bt_ctr *c)
{
    cJSON *ns = cJSON_CreateObject();

    cJSON_AddItemToObject(ns, "Networks", api_json_ctr_networks(d, c));
    return ns;
}

cJSON *api_json_ctr_summary(struct bt_daemon *d, const struct bt_ctr *c, int64_t now_nano,
                            bool with_size)
{
    cJSON *o = cJSON_CreateObject(), *names, *hc;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(c->host_config, "NetworkMode");
    char *cmd = api_ctr_command(c), status[80], name[256];

    cJSON_AddStringToObject(o, "Id", c->id);
    names = cJSON_AddArrayToObject(o, "Names");
    snprintf(name, sizeof(name), "/%s", c->name);
    cJSON_AddItemToArray(names, cJSON_CreateString(name));
    cJSON_AddStringToObject(o, "Image", summary_image(d, c));
    cJSON_AddStringToObject(o, "ImageID", c->image_id);
    cJSON_AddStringToObject(o, "Command", cmd ? cmd : "");
    free(cmd);
    add_i64(o, "Created", c->created_nano / NS_PER_SEC);
    cJSON_AddItemToObject(o, "Ports", api_json_ctr_ports_list(d, c));
    if (with_size) {
        cJSON_AddNumberToObject(o, "SizeRw", 0);
        cJSON_AddNumberToObject(o, "SizeRootFs", 0);
    }
    cJSON_AddItemToObject(o, "Labels",
                          dup_or_null(cJSON_GetObjectItemCaseSensitive(c->config, "Labels")));
    cJSON_AddStringToObject(o, "State", bt_ctr_status_name(c->state.status));
    api_ctr_status_text(c, now_nano, status, sizeof(status));
    cJSON_AddStringToObject(o, "Status", status);
    hc = cJSON_AddObjectToObject(o, "HostConfig");
    if (cJSON_IsString(mode) && *mode->valuestring)
        cJSON_AddStringToObject(hc, "NetworkMode", mode->valuestring);
    cJSON_AddItemToObject(o, "NetworkSettings", summary_network(d, c));
    cJSON_AddArrayToObject(o, "Mounts"); /* TODO(volumes issue) */
    return o;
}

static void set_or_drop(cJSON *o, const char *key, int64_t v, bool omit_zero)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!it)
        return;
    if (v <= 0 && omit_zero) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, key);
        return;
    }
    cJSON_SetNumberValue(it, (double)(v < 0 ? 0 : v));
}

void api_json_ctr_set_sizes(cJSON *o, int64_t size_rw, int64_t size_rootfs, bool omit_zero)
{
    set_or_drop(o, "SizeRw", size_rw, omit_zero);
    set_or_drop(o, "SizeRootFs", size_rootfs, omit_zero);
}
