#include <config.h>

#include <stdio.h>
#include <string.h>

#include "berth/events.h"
#include "berth/filters.h"

/* Matching follows moby's daemon/events/filter.go (dockerd 20.10). */

const char *const bt_event_filter_keys[] = {
    "config", "container", "daemon", "event",   "image", "label", "network",
    "node",   "plugin",    "scope",  "secret",  "service", "type", "volume", NULL,
};

/* Keys matched against the actor ID or its "name" attribute, by prefix. */
static const char *const name_keys[] = {
    "daemon", "container", "plugin", "volume", "network", "node", "service", "secret", "config",
};

static const char *event_attr(const struct bt_event *e, const char *key)
{
    const char *v = bt_kv_get(e->attrs, e->n_attrs, key);

    return v ? v : ""; /* a missing attribute reads as "" in dockerd */
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- event ----------------------------------------------------------------- */

/* "exec_start: sh -c ls" also answers to "exec_start" (moby #25798; dockerd
 * switches to prefix matching when such a value is present, we compare the
 * part before ": ", which gives the same answer for every real action). */
static bool action_matches(const char *action, const char *value)
{
    const char *sep = strstr(action, ": ");

    if (strcmp(action, value) == 0)
        return true;
    return sep && strlen(value) == (size_t)(sep - action) &&
           strncmp(action, value, (size_t)(sep - action)) == 0;
}

static bool match_action(const struct bt_filters *f, const char *action)
{
    size_t n = bt_filters_count(f, "event");

    for (size_t i = 0; i < n; i++) {
        if (action_matches(action, bt_filters_value(f, "event", i)))
            return true;
    }
    return n == 0;
}

/* ---- container, network, volume, daemon ... -------------------------------- */

static bool match_name_key(const struct bt_filters *f, const char *key, const struct bt_event *e)
{
    size_t n = bt_filters_count(f, key);
    const char *name = event_attr(e, "name");

    for (size_t i = 0; i < n; i++) {
        const char *v = bt_filters_value(f, key, i);

        if (has_prefix(e->actor_id, v) || has_prefix(name, v))
            return true;
    }
    return n == 0;
}

static bool match_name_keys(const struct bt_filters *f, const struct bt_event *e)
{
    for (size_t i = 0; i < sizeof(name_keys) / sizeof(name_keys[0]); i++) {
        if (!match_name_key(f, name_keys[i], e))
            return false;
    }
    return true;
}

/* ---- image references ------------------------------------------------------ */

#define REF_MAX 512

/* An image reference split the way the distribution library reads it. */
struct ref {
    const char *domain;
    size_t domain_len;
    const char *path; /* repository path without the domain */
    size_t path_len;
    const char *tag; /* NULL when absent */
    size_t tag_len;
    const char *digest; /* NULL when absent; runs to the end of the string */
};

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

/* A bare or sha256: image ID is compared as is, never read as a name. */
static bool is_image_id(const char *s)
{
    if (strncmp(s, "sha256:", 7) == 0)
        s += 7;
    return strlen(s) == 64 && is_hex(s, 64);
}

static bool is_domain(const char *s, size_t n)
{
    return (n == 9 && strncmp(s, "localhost", 9) == 0) || memchr(s, '.', n) || memchr(s, ':', n);
}

static bool valid_chars(const char *s, size_t n, const char *allowed)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || !strchr(allowed, s[i]))
            return false;
    }
    return true;
}

static bool valid_path(const char *p, size_t n)
{
    if (n == 0 || p[0] == '/' || p[n - 1] == '/')
        return false;
    for (size_t i = 1; i < n; i++) {
        if (p[i] == '/' && p[i - 1] == '/')
            return false;
    }
    return valid_chars(p, n, "abcdefghijklmnopqrstuvwxyz0123456789._-/");
}

static bool valid_tag(const char *t, size_t n)
{
    return n >= 1 && n <= 128 &&
           valid_chars(t, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
}

static void ref_split_domain(struct ref *r, const char *name, size_t name_len)
{
    const char *slash = memchr(name, '/', name_len);

    r->domain = "docker.io";
    r->domain_len = 9;
    r->path = name;
    if (slash && is_domain(name, (size_t)(slash - name))) {
        r->domain = name;
        r->domain_len = (size_t)(slash - name);
        r->path = slash + 1;
    }
    if (r->domain_len == 15 && strncmp(r->domain, "index.docker.io", 15) == 0) {
        r->domain = "docker.io";
        r->domain_len = 9;
    }
    r->path_len = name_len - (size_t)(r->path - name);
}

static void ref_split_tag(struct ref *r)
{
    const char *colon = memrchr(r->path, ':', r->path_len);

    if (!colon)
        return;
    r->tag = colon + 1;
    r->tag_len = r->path_len - (size_t)(r->tag - r->path);
    r->path_len = (size_t)(colon - r->path);
}

static bool ref_parse(const char *s, struct ref *r)
{
    const char *at = strchr(s, '@');
    size_t name_len = at ? (size_t)(at - s) : strlen(s);

    *r = (struct ref){.digest = at ? at + 1 : NULL};
    if (is_image_id(s) || (at && !strchr(at + 1, ':')))
        return false;
    ref_split_domain(r, s, name_len);
    ref_split_tag(r);
    return valid_path(r->path, r->path_len) && (!r->tag || valid_tag(r->tag, r->tag_len));
}

static bool ref_is_docker_hub(const struct ref *r)
{
    return r->domain_len == 9 && strncmp(r->domain, "docker.io", 9) == 0;
}

/* docker.io/library/busybox:1.36: domain, path, tag and digest as given. No
 * tag is assumed: a bare "alpine" is the repository name that pull and push
 * events carry, not alpine:latest. False if it does not fit. */
static bool ref_full(const struct ref *r, char *buf, size_t size)
{
    bool library = ref_is_docker_hub(r) && !memchr(r->path, '/', r->path_len);
    int n;

    n = snprintf(buf, size, "%.*s/%s%.*s%s%.*s%s%s", (int)r->domain_len, r->domain,
                 library ? "library/" : "", (int)r->path_len, r->path, r->tag ? ":" : "",
                 (int)r->tag_len, r->tag ? r->tag : "", r->digest ? "@" : "",
                 r->digest ? r->digest : "");
    return n > 0 && (size_t)n < size;
}

/* The name the CLI shows, without tag or digest: busybox, user/app, quay.io/x/y. */
static bool ref_familiar(const struct ref *r, char *buf, size_t size)
{
    const char *path = r->path;
    size_t len = r->path_len;
    int n;

    if (!ref_is_docker_hub(r))
        n = snprintf(buf, size, "%.*s/%.*s", (int)r->domain_len, r->domain, (int)len, path);
    else {
        if (len > 8 && strncmp(path, "library/", 8) == 0 && !memchr(path + 8, '/', len - 8)) {
            path += 8;
            len -= 8;
        }
        n = snprintf(buf, size, "%.*s", (int)len, path);
    }
    return n > 0 && (size_t)n < size;
}

/* value (from the filter) against one name the event carries: equal, equal to
 * its familiar name (moby's stripTag: "busybox" matches
 * "docker.io/library/busybox:latest"), or, beyond moby, both spell the same
 * reference ("busybox:latest" matches "docker.io/library/busybox:latest"). */
static bool image_matches(const char *value, const char *candidate)
{
    char a[REF_MAX], b[REF_MAX];
    struct ref rc, rv;

    if (strcmp(value, candidate) == 0)
        return true;
    if (!ref_parse(candidate, &rc))
        return false;
    if (ref_familiar(&rc, a, sizeof(a)) && strcmp(a, value) == 0)
        return true;
    return ref_parse(value, &rv) && ref_full(&rc, a, sizeof(a)) && ref_full(&rv, b, sizeof(b)) &&
           strcmp(a, b) == 0;
}

/* Container events carry the image in the "image" attribute, image events in
 * the actor ID and the "name" attribute. */
static bool match_image(const struct bt_filters *f, const struct bt_event *e)
{
    size_t n = bt_filters_count(f, "image");
    const char *name = event_attr(e, strcmp(e->type, "image") == 0 ? "name" : "image");

    for (size_t i = 0; i < n; i++) {
        const char *v = bt_filters_value(f, "image", i);

        if (image_matches(v, e->actor_id) || image_matches(v, name))
            return true;
    }
    return n == 0;
}

/* ---- all together ---------------------------------------------------------- */

bool bt_event_matches(const struct bt_event *e, const struct bt_filters *f)
{
    if (bt_filters_empty(f))
        return true;
    return match_action(f, e->action) && bt_filters_match_exact(f, "type", e->type) &&
           bt_filters_match_exact(f, "scope", e->scope) && match_name_keys(f, e) &&
           match_image(f, e) && bt_filters_match_labels(f, "label", e->attrs, e->n_attrs);
}
