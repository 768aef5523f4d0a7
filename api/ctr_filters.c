/* GET /containers/json?filters=: dockerd's checks and its matching order
 * (daemon/list.go). name, id and isolation values are unanchored regular
 * expressions (an exact match counts too), as Args.Match treats them. */
#include <config.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/json_ctr.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/filters.h"
#include "berth/network.h"
#include "berth/image_ops.h"
#include "berth/images.h"
#include "berth/kv.h"

static const char *const accepted_keys[] = {
    "ancestor", "before", "exited", "health",  "id",     "isolation", "is-task", "label",
    "name",     "status", "publish", "expose", "since",  "volume",    "network", NULL,
};

/* One key's values as regular expressions (plus the values themselves). */
struct re_set {
    const char *key;
    regex_t *re;
    bool *ok; /* compiled; a value that is no valid regex only matches exactly */
    size_t n;
};

struct api_ctr_filter {
    const struct bt_filters *f;
    struct re_set name, id, isolation;
    int *exited;
    size_t n_exited;
    bool task_filter, is_task;
    char before[BT_CTR_ID_LEN + 1]; /* "" once passed */
    char since[BT_CTR_ID_LEN + 1];
    bool ancestor;
    struct bt_strv ancestors; /* image IDs */
    bool wants_all;
};

static int nomem(struct bt_err **err)
{
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "container filters");
}

static int re_set_init(struct re_set *s, const struct bt_filters *f, const char *key)
{
    s->key = key;
    s->n = bt_filters_count(f, key);
    if (s->n == 0)
        return 0;
    s->re = calloc(s->n, sizeof(*s->re));
    s->ok = calloc(s->n, sizeof(*s->ok));
    if (!s->re || !s->ok)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++)
        s->ok[i] = regcomp(&s->re[i], bt_filters_value(f, key, i), REG_EXTENDED | REG_NOSUB) == 0;
    return 0;
}

static void re_set_done(struct re_set *s)
{
    for (size_t i = 0; s->ok && i < s->n; i++)
        if (s->ok[i])
            regfree(&s->re[i]);
    free(s->re);
    free(s->ok);
}

/* True when the key has no value or one value matches source. */
static bool re_set_match(const struct re_set *s, const struct bt_filters *f, const char *source)
{
    if (s->n == 0)
        return true;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(bt_filters_value(f, s->key, i), source) == 0)
            return true;
        if (s->ok[i] && regexec(&s->re[i], source, 0, NULL, 0) == 0)
            return true;
    }
    return false;
}

void api_ctr_filter_free(struct api_ctr_filter *cf)
{
    if (!cf)
        return;
    re_set_done(&cf->name);
    re_set_done(&cf->id);
    re_set_done(&cf->isolation);
    free(cf->exited);
    bt_strv_done(&cf->ancestors);
    free(cf);
}

bool api_ctr_filter_wants_all(const struct api_ctr_filter *cf)
{
    return cf->wants_all;
}

static int parse_exited(struct api_ctr_filter *cf, struct bt_err **err)
{
    size_t n = bt_filters_count(cf->f, "exited");

    if (n && !(cf->exited = calloc(n, sizeof(*cf->exited))))
        return nomem(err);
    for (size_t i = 0; i < n; i++) {
        const char *v = bt_filters_value(cf->f, "exited", i);
        char *end;
        long code;
        errno = 0;
        code = strtol(v, &end, 10);
        if (!*v || *end || errno || code < -2147483648L || code > 2147483647L)
            return bt_err_set(err, BT_EINVAL, 0, "strconv.Atoi: parsing \"%s\": invalid syntax", v);
        cf->exited[cf->n_exited++] = (int)code;
    }
    return 0;
}

static bool word_in(const char *w, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(w, *words) == 0)
            return true;
    return false;
}

static int check_words(struct api_ctr_filter *cf, struct bt_err **err)
{
    static const char *const states[] = {"created", "restarting", "running", "removing",
                                         "paused",  "exited",     "dead",    NULL};
    static const char *const healths[] = {"starting", "healthy", "unhealthy", "none", NULL};
    const char *v;

    for (size_t i = 0; (v = bt_filters_value(cf->f, "status", i)); i++) {
        if (!word_in(v, states))
            return bt_err_set(err, BT_EINVAL, 0, "Invalid filter 'status=%s'", v);
        cf->wants_all = true;
    }
    if (bt_filters_has(cf->f, "is-task")) {
        bool t = bt_filters_count(cf->f, "is-task") == 1 &&
                 strcmp(bt_filters_value(cf->f, "is-task", 0), "true") == 0;
        bool f = bt_filters_count(cf->f, "is-task") == 1 &&
                 strcmp(bt_filters_value(cf->f, "is-task", 0), "false") == 0;
        if (!t && !f)
            return bt_err_set(err, BT_EINVAL, 0, "Invalid filter 'is-task=[%s]'",
                              bt_filters_value(cf->f, "is-task", 0)
                                  ? bt_filters_value(cf->f, "is-task", 0)
                                  : "");
        cf->task_filter = true;
        cf->is_task = t;
    }
    for (size_t i = 0; (v = bt_filters_value(cf->f, "health", i)); i++)
        if (!word_in(v, healths))
            return bt_err_set(err, BT_EINVAL, 0, "Unrecognised filter value for health: %s", v);
    return 0;
}

/* before/since name a container; the last value wins, as in dockerd. */
static int container_bound(struct bt_daemon *d, const struct bt_filters *f, const char *key,
                           char *ret, struct bt_err **err)
{
    const char *v;
    struct bt_ctr *c;

    for (size_t i = 0; (v = bt_filters_value(f, key, i)); i++) {
        if (bt_ctr_lookup(d, v, &c, err) < 0)
            return -1;
        memcpy(ret, c->id, sizeof(c->id));
    }
    return 0;
}

/* Images that cannot be found are skipped (dockerd logs and goes on). */
static int resolve_ancestors(struct api_ctr_filter *cf, struct bt_daemon *d, struct bt_err **err)
{
    const char *v;
    struct stor_image *img;

    cf->ancestor = bt_filters_has(cf->f, "ancestor");
    for (size_t i = 0; (v = bt_filters_value(cf->f, "ancestor", i)); i++) {
        if (!d->images || bt_image_lookup(d, v, &img, NULL) < 0)
            continue;
        if (bt_strv_push(&cf->ancestors, img->id) < 0)
            return nomem(err);
    }
    return 0;
}

int api_ctr_filter_new(struct bt_daemon *d, const struct bt_filters *f, struct api_ctr_filter **ret,
                       struct bt_err **err)
{
    struct api_ctr_filter *cf;

    if (bt_filters_validate(f, accepted_keys, err) < 0)
        return -1;
    cf = calloc(1, sizeof(*cf));
    if (!cf)
        return nomem(err);
    cf->f = f;
    if (re_set_init(&cf->name, f, "name") < 0 || re_set_init(&cf->id, f, "id") < 0 ||
        re_set_init(&cf->isolation, f, "isolation") < 0) {
        api_ctr_filter_free(cf);
        return nomem(err);
    }
    if (parse_exited(cf, err) < 0 || check_words(cf, err) < 0 ||
        container_bound(d, f, "before", cf->before, err) < 0 ||
        container_bound(d, f, "since", cf->since, err) < 0 || resolve_ancestors(cf, d, err) < 0) {
        api_ctr_filter_free(cf);
        return -1;
    }
    *ret = cf;
    return 0;
}

static bool labels_match(const struct bt_filters *f, const struct bt_ctr *c)
{
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(c->config, "Labels"), *l;
    struct bt_kv kv[64], *heap = NULL, *v = kv;
    size_t n = 0, cap = ARRAY_SIZE(kv);
    bool ok;

    if (!bt_filters_has(f, "label"))
        return true;
    if (cJSON_GetArraySize(labels) > (int)cap) {
        cap = (size_t)cJSON_GetArraySize(labels);
        v = heap = calloc(cap, sizeof(*heap));
        if (!heap)
            return false;
    }
    cJSON_ArrayForEach(l, labels)
    {
        if (cJSON_IsString(l) && n < cap)
            v[n++] = (struct bt_kv){l->string, l->valuestring};
    }
    ok = bt_filters_match_labels(f, "label", v, n);
    free(heap);
    return ok;
}

static bool is_running(const struct bt_ctr *c)
{
    return c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED ||
           c->state.status == BT_CTR_RESTARTING;
}

static bool exited_match(const struct api_ctr_filter *cf, const struct bt_ctr *c)
{
    if (cf->n_exited == 0)
        return true;
    for (size_t i = 0; i < cf->n_exited; i++)
        if (cf->exited[i] == c->state.exit_code && !is_running(c) && c->state.started_nano > 0)
            return true;
    return false;
}

static bool ancestor_match(const struct api_ctr_filter *cf, struct bt_daemon *d,
                           const struct bt_ctr *c)
{
    const char *id = c->image_id;

    if (!cf->ancestor)
        return true;
    /* The container's image or any image below it in the parent chain. */
    for (int depth = 0; id && depth < 128; depth++) {
        const struct stor_image *img;
        if (bt_strv_contains(&cf->ancestors, id))
            return true;
        img = d->images ? stor_images_get(d->images, id) : NULL;
        id = img ? img->parent : NULL;
    }
    return false;
}

/* network=X: the container has an endpoint on the network named X or
 * with ID X. */
static bool network_match(struct bt_daemon *d, const struct bt_filters *f, const struct bt_ctr *c)
{
    const struct bt_net *n;
    const char *v;

    if (bt_filters_count(f, "network") == 0)
        return true;
    for (size_t k = 0; (n = bt_net_ctr_net_at(d, c->id, k)); k++)
        for (size_t i = 0; (v = bt_filters_value(f, "network", i)); i++)
            if (strcmp(v, n->name) == 0 || strcmp(v, n->id) == 0)
                return true;
    return false;
}

/* volume, publish, expose: nothing has them before the volumes and
 * networking issues, so a value excludes every container. */
static bool later_keys_match(const struct bt_filters *f)
{
    return bt_filters_count(f, "volume") == 0 && bt_filters_count(f, "publish") == 0 &&
           bt_filters_count(f, "expose") == 0;
}

static bool isolation_match(const struct api_ctr_filter *cf, const struct bt_ctr *c)
{
    const cJSON *iso = cJSON_GetObjectItemCaseSensitive(c->host_config, "Isolation");
    char low[32] = "default";

    if (cJSON_IsString(iso) && *iso->valuestring) {
        snprintf(low, sizeof(low), "%s", iso->valuestring);
        for (char *p = low; *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    }
    return re_set_match(&cf->isolation, cf->f, low);
}

enum api_ctr_filter_result api_ctr_filter_match(struct api_ctr_filter *cf, struct bt_daemon *d,
                                                const struct bt_ctr *c, bool all)
{
    char slash_name[256];

    if (cf->before[0]) { /* everything down to and including it is newer */
        if (strcmp(c->id, cf->before) == 0)
            cf->before[0] = '\0';
        return API_CTR_EXCLUDE;
    }
    if (cf->since[0] && strcmp(c->id, cf->since) == 0)
        return API_CTR_STOP;
    if (!is_running(c) && !all && !cf->wants_all)
        return API_CTR_EXCLUDE;
    /* No filters (plain `docker ps`): none of the lookups below can exclude. */
    if (bt_filters_empty(cf->f))
        return API_CTR_INCLUDE;
    snprintf(slash_name, sizeof(slash_name), "/%s", c->name);
    if (!re_set_match(&cf->name, cf->f, slash_name) && !re_set_match(&cf->name, cf->f, c->name))
        return API_CTR_EXCLUDE;
    if (!re_set_match(&cf->id, cf->f, c->id))
        return API_CTR_EXCLUDE;
    if (cf->task_filter && cf->is_task) /* no container is a swarm task */
        return API_CTR_EXCLUDE;
    if (!labels_match(cf->f, c) || !isolation_match(cf, c) || !exited_match(cf, c))
        return API_CTR_EXCLUDE;
    if (!bt_filters_match_exact(cf->f, "status", bt_ctr_status_name(c->state.status)))
        return API_CTR_EXCLUDE;
    if (!bt_filters_match_exact(cf->f, "health", api_ctr_health(c)))
        return API_CTR_EXCLUDE;
    if (!later_keys_match(cf->f) || !network_match(d, cf->f, c) || !ancestor_match(cf, d, c))
        return API_CTR_EXCLUDE;
    return API_CTR_INCLUDE;
}
