/* JSON shapes of containers: the create request checked and normalised, the
 * list item, the inspect object, and the pure helpers behind them (Docker's
 * HumanDuration, Status and Command strings). Loop thread unless it says
 * ANY. */
#ifndef BERTH_API_JSON_CTR_H
#define BERTH_API_JSON_CTR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/config.h"
#include "berth/err.h"

struct bt_ctr;
struct bt_daemon;
struct bt_filters;

/* ---- create (json_ctr_create.c) --------------------------------------------- */

/* What the daemon decides for a HostConfig the request leaves empty. */
struct api_ctr_defaults {
    const char *log_driver; /* NULL: "json-file" */
    const struct bt_strv *log_opts; /* daemon.json log-opts ("key=value"), may be NULL */
    int ncpu;               /* NanoCpus upper bound; 0: do not check */
};

struct api_ctr_create {
    cJSON *config;      /* Config in Docker's key order, zero values filled */
    cJSON *host_config; /* HostConfig with dockerd's defaults */
    cJSON *networking;  /* NetworkingConfig, NULL when the request has none */
    cJSON *warnings;    /* array of strings (possibly empty) */
};

/* Check the shape and the values dockerd checks at create, and normalise:
 * keys are matched case-insensitively as Go does, unknown keys dropped,
 * missing ones filled with their zero value, so the trees echo what
 * dockerd's inspect shows. req NULL (empty body) or without any Config key:
 * BT_EINVAL. ANY. On success the caller owns the four trees. */
int api_ctr_create_parse(const cJSON *req, const struct api_ctr_defaults *dflt,
                         struct api_ctr_create *ret, struct bt_err **err);
void api_ctr_create_done(struct api_ctr_create *c);

/* POST /containers/{id}/update: the body is Resources plus RestartPolicy.
 * Types and values are checked as at create; nothing is filled. ANY. */
int api_ctr_update_check(const cJSON *body, int ncpu, struct bt_err **err);

/* Docker's RestartPolicy rules (Name "" counts as "no"). ANY. */
int api_ctr_restart_policy_check(const char *name, int64_t max_retry, bool auto_remove,
                                 struct bt_err **err);

/* ---- ports (json_ctr_ports.c) ------------------------------------------------ */

/* NetworkSettings.Ports: {"80/tcp":[{"HostIp","HostPort"}],"81/tcp":null};
 * {} unless the container runs and can publish. */
cJSON *api_json_ctr_ports_map(struct bt_daemon *d, const struct bt_ctr *c);
/* The list item's Ports: [{"IP","PrivatePort","PublicPort","Type"}] per
 * published binding, [{"PrivatePort","Type"}] per exposed-only port. */
cJSON *api_json_ctr_ports_list(struct bt_daemon *d, const struct bt_ctr *c);

/* ---- list and status (json_ctr_list.c) ---------------------------------------- */

/* go-units HumanDuration: "Less than a second", "1 second", "N seconds",
 * "About a minute", ... "N years". ANY. */
void api_human_duration(int64_t nano, char *buf, size_t size);
/* The Status column: "Up 5 seconds", "Exited (3) 2 minutes ago", ... at now_nano. ANY. */
void api_ctr_status_text(const struct bt_ctr *c, int64_t now_nano, char *buf, size_t size);
/* Path and Args joined, arguments with spaces in 'quotes'. malloc'd; NULL on ENOMEM. ANY. */
char *api_ctr_command(const struct bt_ctr *c);
/* RFC 3339 with nanoseconds, trailing zeros cut, as Go prints time.Time;
 * nano <= 0 is "0001-01-01T00:00:00Z". ANY. */
void api_time_rfc3339(int64_t nano, char *buf, size_t size);
/* The network name a container's NetworkMode puts it on ("default" is
 * "bridge"); NULL for container:<x>. ANY. */
const char *api_ctr_network_name(const struct bt_ctr *c);
/* One endpoint with every value empty (networking fills them later). */
cJSON *api_json_endpoint_empty(void);
/* Health word of a container for filters and Status: "none" until health
 * checks exist (TODO(health issue)). ANY. */
const char *api_ctr_health(const struct bt_ctr *c);

/* One item of GET /containers/json. with_size adds SizeRw/SizeRootFs
 * placeholders (api_json_ctr_set_sizes fills or drops them). */
cJSON *api_json_ctr_summary(struct bt_daemon *d, const struct bt_ctr *c, int64_t now_nano,
                            bool with_size);
/* Fill the placeholders; omit_zero drops zero values (list: omitempty). */
void api_json_ctr_set_sizes(cJSON *o, int64_t size_rw, int64_t size_rootfs, bool omit_zero);

/* ---- inspect (json_ctr_inspect.c) --------------------------------------------- */

cJSON *api_json_ctr_inspect(struct bt_daemon *d, const struct bt_ctr *c, bool with_size);

/* ---- list filters (ctr_filters.c) --------------------------------------------- */

struct api_ctr_filter;
/* Check the filters as dockerd does (keys, status words, exit codes,
 * is-task, health values, before/since containers, ancestor images) and
 * prepare the matcher. *ret is freed with api_ctr_filter_free. */
int api_ctr_filter_new(struct bt_daemon *d, const struct bt_filters *f, struct api_ctr_filter **ret,
                       struct bt_err **err);
void api_ctr_filter_free(struct api_ctr_filter *cf);
/* True when the filters ask for stopped containers too (a status filter). */
bool api_ctr_filter_wants_all(const struct api_ctr_filter *cf);
enum api_ctr_filter_result {
    API_CTR_INCLUDE,
    API_CTR_EXCLUDE,
    API_CTR_STOP, /* since=<x> reached: nothing older is listed */
};
/* Walk containers newest first and ask for each; `all` is the query's. */
enum api_ctr_filter_result api_ctr_filter_match(struct api_ctr_filter *cf, struct bt_daemon *d,
                                                const struct bt_ctr *c, bool all);

#endif
