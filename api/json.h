/* JSON shapes of API objects (cJSON <-> core structs). Loop thread. */
#ifndef BERTH_API_JSON_H
#define BERTH_API_JSON_H

#include <cjson/cJSON.h>

#include "berth/err.h"

struct bt_event;
struct bt_filters;

/* One event as dockerd 20.10 sends it on GET /events: status, id, from
 * (legacy: container events; image events get status and id only), Type,
 * Action, Actor{ID,Attributes} (attributes sorted by key, {} when none), scope,
 * time, timeNano (exact 64-bit integers). Empty legacy fields are omitted as
 * Go's omitempty does. NULL on ENOMEM. */
cJSON *api_json_event(const struct bt_event *e);

/* Parse a `filters` query value: the CLI's map of sets
 * {"k":{"v":true}} (only the keys count, false included) and docker-py's
 * lists {"k":["v"]} (and a bare string value). {"k":{}}, {"k":[]} and
 * {"k":null} leave k present with no value. NULL, "" or "null" give empty
 * filters. Malformed JSON, a non-object, or values of another shape:
 * BT_EINVAL "invalid filter: ..." (newer dockerd says "invalid filter"). On
 * success *ret is a new object the caller frees. */
int api_filters_parse(const char *json, struct bt_filters **ret, struct bt_err **err);

#endif
