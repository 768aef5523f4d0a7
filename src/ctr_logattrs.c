/* The json-file driver's "attrs": the container labels and environment
 * variables its --log-opt labels=, labels-regex=, env=, env-regex= name, and
 * tag=, resolved once at start (as dockerd's logger Info.ExtraAttributes
 * does) into a JSON object the monitor writes verbatim into every entry.
 * `docker logs --details` shows them. Regexes are POSIX extended ones (Go's
 * RE2 agrees with them on the usual patterns). */
#include <config.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/container.h"
#include "src/ctr-spec.h"

static const char *opt(const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

/* Keep the object's keys sorted, as Go's json.Marshal writes a map. */
static int put_sorted(cJSON *o, const char *k, const char *v)
{
    cJSON *at, *item;

    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    if (!(item = cJSON_CreateString(v)))
        return -ENOMEM;
    for (at = o->child; at && strcmp(at->string, k) < 0; at = at->next)
        ;
    if (!cJSON_AddItemToObject(o, k, item)) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    if (at) { /* AddItem appended it: move it before `at` */
        cJSON_DetachItemViaPointer(o, item);
        item->next = at;
        item->prev = at->prev;
        if (at == o->child)
            o->child = item;
        else
            at->prev->next = item;
        at->prev = item;
    }
    return 0;
}

/* Names listed in a comma-separated option, looked up with get(). */
static int add_listed(cJSON *o, const char *list, const char *(*get)(const struct bt_ctr *,
                                                                       const char *, size_t),
                      const struct bt_ctr *c)
{
    while (list && *list) {
        size_t n = strcspn(list, ",");
        const char *v = get(c, list, n);
        if (v) {
            char *k = strndup(list, n);
            int r = k ? put_sorted(o, k, v) : -ENOMEM;
            free(k);
            if (r < 0)
                return r;
        }
        list += n + (list[n] == ',');
    }
    return 0;
}

static const char *label_of(const struct bt_ctr *c, const char *k, size_t n)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(c->config, "Labels"))
        if (cJSON_IsString(l) && strlen(l->string) == n && strncmp(l->string, k, n) == 0)
            return l->valuestring;
    return NULL;
}

static const char *env_of(const struct bt_ctr *c, const char *k, size_t n)
{
    const cJSON *e;
    const char *found = NULL;
    /* The last definition wins, as in Go's map filled in order. */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c->config, "Env"))
        if (cJSON_IsString(e) && strncmp(e->valuestring, k, n) == 0 && e->valuestring[n] == '=')
            found = e->valuestring + n + 1;
    return found;
}

static int add_matching(cJSON *o, const char *re_text, bool env, const struct bt_ctr *c,
                        struct bt_err **err)
{
    regex_t re;
    const cJSON *it;
    int r = 0;

    if (regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB) != 0)
        return bt_err_set(err, BT_EINVAL, 0, "error parsing regexp: %s", re_text);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(c->config, env ? "Env" : "Labels"))
    {
        if (!cJSON_IsString(it))
            continue;
        if (!env) {
            if (regexec(&re, it->string, 0, NULL, 0) == 0 &&
                (r = put_sorted(o, it->string, it->valuestring)) < 0)
                break;
            continue;
        }
        const char *eq = strchr(it->valuestring, '=');
        char *k = eq ? strndup(it->valuestring, (size_t)(eq - it->valuestring)) : NULL;
        if (k && regexec(&re, k, 0, NULL, 0) == 0)
            r = put_sorted(o, k, eq + 1);
        free(k);
        if (r < 0)
            break;
    }
    regfree(&re);
    return r < 0 ? bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory") : 0;
}

/* dockerd's log tag template, for the fields a tag usually names:
 * {{.ID}} (12 hex), {{.FullID}}, {{.Name}}, {{.ImageName}}, {{.ImageID}}
 * (12 hex); other text is kept as it is. */
static char *expand_tag(const struct bt_ctr *c, const char *t)
{
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(c->config, "Image");
    const char *hex = strncmp(c->image_id, "sha256:", 7) == 0 ? c->image_id + 7 : c->image_id;
    struct {
        const char *field, *value;
        int len;
    } f[] = {
        {"{{.ID}}", c->id, 12},
        {"{{.FullID}}", c->id, -1},
        {"{{.Name}}", c->name ? c->name : "", -1},
        {"{{.ImageName}}", cJSON_IsString(img) ? img->valuestring : "", -1},
        {"{{.ImageID}}", hex, 12},
    };
    size_t cap = strlen(t) * 8 + 256, n = 0;
    char *out = malloc(cap);

    if (!out)
        return NULL;
    while (*t) {
        size_t i;
        for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
            if (strncmp(t, f[i].field, strlen(f[i].field)) == 0)
                break;
        if (i == sizeof(f) / sizeof(f[0])) {
            if (n + 1 >= cap)
                break;
            out[n++] = *t++;
            continue;
        }
        size_t vl = strlen(f[i].value);
        if (f[i].len >= 0 && vl > (size_t)f[i].len)
            vl = (size_t)f[i].len;
        if (n + vl + 1 >= cap)
            break;
        memcpy(out + n, f[i].value, vl);
        n += vl;
        t += strlen(f[i].field);
    }
    out[n] = '\0';
    return out;
}

int ctr_log_attrs(const struct bt_ctr *c, const cJSON *cfg, char **ret, struct bt_err **err)
{
    cJSON *o = cJSON_CreateObject();
    const char *v;
    int r = 0;

    *ret = NULL;
    if (!o)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (add_listed(o, opt(cfg, "labels"), label_of, c) < 0 ||
        add_listed(o, opt(cfg, "env"), env_of, c) < 0)
        r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (r == 0 && (v = opt(cfg, "labels-regex")))
        r = add_matching(o, v, false, c, err);
    if (r == 0 && (v = opt(cfg, "env-regex")))
        r = add_matching(o, v, true, c, err);
    if (r == 0 && (v = opt(cfg, "tag"))) {
        char *tag = expand_tag(c, v);
        if (!tag || put_sorted(o, "tag", tag) < 0)
            r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        free(tag);
    }
    if (r == 0 && o->child && !(*ret = cJSON_PrintUnformatted(o)))
        r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    cJSON_Delete(o);
    return r;
}
