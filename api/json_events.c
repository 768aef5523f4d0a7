#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "berth/events.h"

/* Field order, omitted empties and sorted attributes are those of Go's
 * encoding/json on moby's events.Message, so the bytes match dockerd's. */

static bool add_string_nonempty(cJSON *o, const char *key, const char *value)
{
    if (!value || !*value)
        return true;
    return cJSON_AddStringToObject(o, key, value) != NULL;
}

/* A raw integer: cJSON numbers are doubles and would round timeNano. */
static bool add_int_nonzero(cJSON *o, const char *key, int64_t value)
{
    char buf[24];

    if (value == 0)
        return true;
    (void)snprintf(buf, sizeof(buf), "%" PRId64, value);
    return cJSON_AddRawToObject(o, key, buf) != NULL;
}

static int kv_ptr_cmp(const void *a, const void *b)
{
    const struct bt_kv *x = *(const struct bt_kv *const *)a;
    const struct bt_kv *y = *(const struct bt_kv *const *)b;
    int r = strcmp(x->key, y->key);

    if (r)
        return r;
    return x < y ? -1 : x > y; /* keep publish order among duplicates */
}

/* Go prints map keys sorted; a key given twice keeps its last value. */
static bool add_sorted_attrs(cJSON *o, const struct bt_kv *attrs, size_t n)
{
    const struct bt_kv **sorted = calloc(n ? n : 1, sizeof(*sorted));
    bool ok = sorted != NULL;

    for (size_t i = 0; ok && i < n; i++)
        sorted[i] = &attrs[i];
    if (ok)
        qsort(sorted, n, sizeof(*sorted), kv_ptr_cmp);
    for (size_t i = 0; ok && i < n; i++) {
        if (i + 1 < n && strcmp(sorted[i]->key, sorted[i + 1]->key) == 0)
            continue;
        ok = cJSON_AddStringToObject(o, sorted[i]->key, sorted[i]->value) != NULL;
    }
    free(sorted);
    return ok;
}

static cJSON *json_actor(const struct bt_event *e)
{
    cJSON *actor = cJSON_CreateObject();
    cJSON *attrs = NULL;

    if (actor && cJSON_AddStringToObject(actor, "ID", e->actor_id))
        attrs = cJSON_AddObjectToObject(actor, "Attributes"); /* {} even when empty */
    if (!attrs || !add_sorted_attrs(attrs, e->attrs, e->n_attrs)) {
        cJSON_Delete(actor);
        return NULL;
    }
    return actor;
}

/* status/id/from: the pre-1.22 shape, kept by dockerd for containers and images. */
static bool add_legacy(cJSON *o, const struct bt_event *e)
{
    bool container = strcmp(e->type, "container") == 0;

    if (!container && strcmp(e->type, "image") != 0)
        return true;
    return add_string_nonempty(o, "status", e->action) &&
           add_string_nonempty(o, "id", e->actor_id) &&
           (!container || add_string_nonempty(o, "from", bt_kv_get(e->attrs, e->n_attrs, "image")));
}

static bool add_body(cJSON *o, const struct bt_event *e)
{
    cJSON *actor;

    if (!add_legacy(o, e) || !cJSON_AddStringToObject(o, "Type", e->type) ||
        !cJSON_AddStringToObject(o, "Action", e->action))
        return false;
    actor = json_actor(e);
    if (!actor || !cJSON_AddItemToObject(o, "Actor", actor)) {
        cJSON_Delete(actor);
        return false;
    }
    return add_string_nonempty(o, "scope", e->scope) &&
           add_int_nonzero(o, "time", e->time_nano / 1000000000) &&
           add_int_nonzero(o, "timeNano", e->time_nano);
}

cJSON *api_json_event(const struct bt_event *e)
{
    cJSON *o = cJSON_CreateObject();

    if (o && !add_body(o, e)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
