/* What the container lifecycle files share: the per-record bookkeeping,
 * callback lists, events, paths and readers of the normalised JSON. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/daemon.h"
#include "berth/events.h"
#include "berth/kv.h"
#include "src/ctr-lifecycle.h"

struct bt_ctr_rt *ctr_rt(struct bt_daemon *d, struct bt_ctr *c)
{
    if (!c->rt) {
        c->rt = calloc(1, sizeof(*c->rt));
        if (!c->rt)
            return NULL;
        c->rt->d = d;
        c->rt->c = c;
    }
    return c->rt;
}

int ctr_cbs_add(struct ctr_cb **list, bt_ctr_done_fn fn, void *arg)
{
    struct ctr_cb *cb;

    if (!fn)
        return 0;
    cb = calloc(1, sizeof(*cb));
    if (!cb)
        return -1;
    cb->fn = fn;
    cb->arg = arg;
    while (*list)
        list = &(*list)->next;
    *list = cb;
    return 0;
}

void ctr_cbs_run(struct ctr_cb **list, struct bt_ctr *c, const struct bt_err *err)
{
    struct ctr_cb *cb = *list;

    /* Detach first: a callback may start another operation on c. */
    *list = NULL;
    while (cb) {
        struct ctr_cb *next = cb->next;
        cb->fn(cb->arg, c, err);
        free(cb);
        cb = next;
    }
}

void ctr_event(struct bt_daemon *d, const struct bt_ctr *c, const char *action,
               const char *extra_key, const char *extra_value)
{
    struct bt_kv extra = {(char *)extra_key, (char *)(extra_value ? extra_value : "")};

    ctr_event_attrs(d, c, action, &extra, extra_key ? 1 : 0);
}

void ctr_event_attrs(struct bt_daemon *d, const struct bt_ctr *c, const char *action,
                     const struct bt_kv *extra, size_t n_extra)
{
    const cJSON *labels = ctr_cfg(c, "Labels");
    size_t n = 0, max = 2 + n_extra + (size_t)cJSON_GetArraySize(labels);
    struct bt_kv *attrs = calloc(max, sizeof(*attrs));
    const cJSON *l;
    const char *image = ctr_cfg_str(c, "Image");

    if (!attrs)
        return;
    for (size_t i = 0; i < n_extra; i++)
        attrs[n++] = extra[i];
    attrs[n].key = "image";
    attrs[n++].value = (char *)(image ? image : c->image_id);
    cJSON_ArrayForEach(l, labels) {
        if (cJSON_IsString(l) && n < max - 1) {
            attrs[n].key = l->string;
            attrs[n++].value = l->valuestring;
        }
    }
    attrs[n].key = "name";
    attrs[n++].value = c->name;
    bt_events_publish(d->events, "container", action, c->id, attrs, n);
    free(attrs);
}

char *ctr_path(const struct bt_daemon *d, const struct bt_ctr *c, const char *leaf)
{
    char *p;

    if (asprintf(&p, "%s/containers/%s%s%s", d->cfg.data_root, c->id, leaf ? "/" : "",
                 leaf ? leaf : "") < 0)
        return NULL;
    return p;
}

char *ctr_run_path(const struct bt_daemon *d, const struct bt_ctr *c, const char *leaf)
{
    char *p;

    if (asprintf(&p, "%s/%s%s%s", d->cfg.exec_root, c->id, leaf ? "/" : "", leaf ? leaf : "") < 0)
        return NULL;
    return p;
}

const cJSON *ctr_hc(const struct bt_ctr *c, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(c->host_config, key);
}

const cJSON *ctr_cfg(const struct bt_ctr *c, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(c->config, key);
}

int64_t ctr_hc_int(const struct bt_ctr *c, const char *key, int64_t dflt)
{
    const cJSON *v = ctr_hc(c, key);

    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

bool ctr_hc_bool(const struct bt_ctr *c, const char *key)
{
    return cJSON_IsTrue(ctr_hc(c, key));
}

const char *ctr_hc_str(const struct bt_ctr *c, const char *key)
{
    const cJSON *v = ctr_hc(c, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *ctr_cfg_str(const struct bt_ctr *c, const char *key)
{
    const cJSON *v = ctr_cfg(c, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}
