/* The route table. Order matters only among patterns that overlap: the
 * first match wins. */
#include <config.h>

#include "api/handlers.h"
#include "api/router.h"

const struct api_route api_routes[] = {
    {"GET", "/_ping", h_ping, 0},
    {"HEAD", "/_ping", h_ping, 0},
    {"GET", "/version", h_version, 0},
    {"GET", "/info", h_info, 0},
    {"GET", "/events", h_events, 0},
    {"POST", "/auth", h_auth, 0},
    {"GET", "/images/json", h_images_list, 0},
    {"POST", "/images/create", h_images_create, API_BODY_STREAM},
    {"POST", "/images/prune", h_images_prune, 0},
    {"GET", "/images/get", h_images_save, 0},
    {"POST", "/images/load", h_images_load, API_BODY_STREAM},
    {"GET", "/images/{name*}/get", h_images_save, 0},
    {"GET", "/images/{name*}/json", h_image_inspect, 0},
    {"GET", "/images/{name*}/history", h_image_history, 0},
    {"POST", "/images/{name*}/tag", h_image_tag, 0},
    {"POST", "/images/{name*}/push", h_image_push, 0},
    {"DELETE", "/images/{name*}", h_image_delete, 0},
    {"POST", "/containers/create", h_ctr_create, 0},
    {"GET", "/containers/json", h_ctrs_list, 0},
    {"POST", "/containers/prune", h_ctrs_prune, 0},
    {"GET", "/containers/{id}/json", h_ctr_inspect, 0},
    {"GET", "/containers/{id}/top", h_ctr_top, 0},
    {"GET", "/containers/{id}/logs", h_ctr_logs, 0},
    {"POST", "/containers/{id}/start", h_ctr_start, 0},
    {"POST", "/containers/{id}/stop", h_ctr_stop, 0},
    {"POST", "/containers/{id}/restart", h_ctr_restart, 0},
    {"POST", "/containers/{id}/kill", h_ctr_kill, 0},
    {"POST", "/containers/{id}/wait", h_ctr_wait, 0},
    {"POST", "/containers/{id}/attach", h_ctr_attach, 0},
    {"POST", "/containers/{id}/rename", h_ctr_rename, 0},
    {"POST", "/containers/{id}/pause", h_ctr_pause, 0},
    {"POST", "/containers/{id}/unpause", h_ctr_unpause, 0},
    {"POST", "/containers/{id}/update", h_ctr_update, 0},
    {"POST", "/containers/{id}/resize", h_ctr_resize, 0},
    {"POST", "/containers/{id}/exec", h_exec_create, 0},
    {"POST", "/exec/{id}/start", h_exec_start, 0},
    {"POST", "/exec/{id}/resize", h_exec_resize, 0},
    {"GET", "/exec/{id}/json", h_exec_inspect, 0},
    {"DELETE", "/containers/{id}", h_ctr_delete, 0},
    {"GET", "/networks", h_nets_list, 0},
    {"POST", "/networks/create", h_net_create, 0},
    {"POST", "/networks/prune", h_nets_prune, 0},
    {"GET", "/networks/{id}", h_net_inspect, 0},
    {"POST", "/networks/{id}/connect", h_net_connect, 0},
    {"POST", "/networks/{id}/disconnect", h_net_disconnect, 0},
    {"DELETE", "/networks/{id}", h_net_delete, 0},
};

const size_t api_routes_n = ARRAY_SIZE(api_routes);
