#include <config.h>

/* Manifests (GET and PUT), the paged tag list and login. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "berth/buf.h"
#include "berth/curl_uv.h"
#include "berth/digest.h"
#include "berth/err.h"
#include "berth/log.h"
#include "berth/registry.h"
#include "src/registry-internal.h"

#define MANIFEST_ACCEPT                                                                            \
    "Accept: " BT_REG_MT_SCHEMA2 ", " BT_REG_MT_LIST ", " BT_REG_MT_OCI_MANIFEST                   \
    ", " BT_REG_MT_OCI_INDEX ", " BT_REG_MT_SCHEMA1_SIGNED ", " BT_REG_MT_SCHEMA1

static bool tag_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 128)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return false;
    return true;
}

/* ---- manifests ---------------------------------------------------------------- */

void bt_reg__manifest_get_start(struct bt_reg_req *req)
{
    if (bt_reg__req_http_begin(req, "GET", bt_reg__repo_url(req, "manifests", req->ref)) < 0 ||
        bt_reg__req_header(req, MANIFEST_ACCEPT) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    bt_reg__req_http_go(req);
}

static bool media_type_known(const char *mt)
{
    return strcmp(mt, BT_REG_MT_SCHEMA2) == 0 || strcmp(mt, BT_REG_MT_LIST) == 0 ||
           strcmp(mt, BT_REG_MT_OCI_MANIFEST) == 0 || strcmp(mt, BT_REG_MT_OCI_INDEX) == 0;
}

void bt_reg__manifest_got(struct bt_reg_req *req)
{
    _cleanup_free_ char *mt =
        req->h_ctype ? strndup(req->h_ctype, strcspn(req->h_ctype, "; ")) : NULL;
    struct bt_reg_manifest *m;
    char computed[BT_DIGEST_STR_LEN + 1];
    const char *want = NULL;
    int schema1 = 0;

    if (req->too_big)
        return bt_reg__req_fail(req, BT_EINTERNAL, "manifest %s is larger than %u bytes", req->ref,
                                BT_REG_MANIFEST_MAX);
    if (mt && (strcmp(mt, BT_REG_MT_SCHEMA1) == 0 || strcmp(mt, BT_REG_MT_SCHEMA1_SIGNED) == 0))
        schema1 = 1;
    else if (!mt || !media_type_known(mt)) {
        free(mt);
        mt = NULL;
        schema1 = bt_reg_manifest_sniff(req->body.p ? req->body.p : "", req->body.len, &mt);
        if (schema1 < 0)
            return bt_reg__req_fail(req, BT_EINTERNAL, "manifest for %s:%s is not JSON",
                                    req->display, req->ref);
    }
    if (schema1)
        return bt_reg__req_fail(
            req, BT_EINVAL,
            "schema 1 manifests are not supported (%s%s%s): push the image again "
            "with a current client",
            req->display, bt_reg__ref_is_digest(req->ref) ? "@" : ":", req->ref);
    bt_sha256_digest(req->body.p ? req->body.p : "", req->body.len, computed);
    if (bt_reg__ref_is_digest(req->ref))
        want = req->ref;
    else if (req->h_digest && bt_digest_valid(req->h_digest))
        want = req->h_digest;
    if (want && strcmp(want, computed) != 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "manifest verification failed for digest %s",
                                want);
    m = calloc(1, sizeof(*m));
    if (!m)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    m->body = bt_buf_steal(&req->body, &m->len);
    if (!m->body)
        m->body = strdup("");
    m->media_type = TAKE_PTR(mt);
    memcpy(m->digest, computed, sizeof(computed));
    req->result = m;
    if (!m->body || !m->media_type)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    bt_reg__req_complete(req, NULL);
}

void bt_reg__manifest_get_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;
    const char *sep = bt_reg__ref_is_digest(req->ref) ? "@" : ":";

    if (req->status == 200)
        return bt_reg__manifest_got(req);
    if (req->status == 404) {
        if (req->ep + 1 < req->n_bases)
            return bt_reg__req_attempt_failed(req, false, true, bt_reg__status_why(req));
        text = bt_reg_error_text(req->body.p, req->body.len);
        return bt_reg__req_fail(req, BT_ENOTFOUND, "manifest for %s%s%s not found: %s",
                                req->display, sep, req->ref,
                                text ? text : "manifest unknown: manifest unknown");
    }
    if (req->status == 401 || req->status == 403) {
        text = bt_reg__unauthorized_text(req);
        return bt_reg__req_fail(
            req, BT_EFORBIDDEN,
            "pull access denied for %s, repository does not exist or may require "
            "'docker login': %s",
            req->display, text ? text : "denied");
    }
    bt_reg__req_attempt_failed(req, bt_reg__status_transient(req->status),
                               bt_reg__status_transient(req->status), bt_reg__status_why(req));
}

void bt_reg__manifest_put_start(struct bt_reg_req *req)
{
    _cleanup_free_ char *ct = NULL;
    CURL *e;

    if (asprintf(&ct, "Content-Type: %s", req->media_type) < 0 ||
        bt_reg__req_http_begin(req, "PUT", bt_reg__repo_url(req, "manifests", req->ref)) < 0 ||
        bt_reg__req_header(req, ct) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    e = req->xfer.easy;
    (void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->mbody);
    (void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->mlen);
    bt_reg__req_http_go(req);
}

void bt_reg__manifest_put_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;

    if (req->status == 201 || req->status == 200) {
        if (req->h_digest && bt_digest_valid(req->h_digest)) {
            if (strcmp(req->h_digest, req->digest) != 0)
                return bt_reg__req_fail(req, BT_EINTERNAL,
                                        "registry stored manifest as %s, expected %s",
                                        req->h_digest, req->digest);
        }
        return bt_reg__req_complete(req, NULL);
    }
    text = bt_reg_error_text(req->body.p, req->body.len);
    if (req->status == 401 || req->status == 403)
        return bt_reg__req_fail(req, BT_EFORBIDDEN, "%s",
                                text ? text
                                     : "denied: requested access to "
                                       "the resource is denied");
    bt_reg__req_attempt_failed(req, false, false, bt_reg__status_why(req));
}

/* -- login -- */

void bt_reg__login_start(struct bt_reg_req *req)
{
    char *url = NULL;

    if (!req->basic)
        return bt_reg__req_fail(req, BT_EFORBIDDEN, "unauthorized: incorrect username or password");
    if (asprintf(&url, "%s/v2/", req->bases[req->ep]) < 0)
        url = NULL;
    if (bt_reg__req_http_begin(req, "GET", url) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    bt_reg__req_http_go(req);
}

void bt_reg__login_done(struct bt_reg_req *req)
{
    if (req->status == 200)
        return bt_reg__req_complete(req, NULL);
    if (req->status == 401 || req->status == 403)
        return bt_reg__req_fail(req, BT_EFORBIDDEN, "unauthorized: incorrect username or password");
    bt_reg__req_attempt_failed(req, bt_reg__status_transient(req->status), false,
                               bt_reg__status_why(req));
}

/* -- tag list -- */

/* One link-param (after its ';'): true in *ret_next for a rel naming "next". */
static const char *link_param(const char *p, bool *ret_next)
{
    char val[64];
    size_t kn, vn = 0;
    bool rel;

    p += strspn(p, " \t");
    kn = strcspn(p, "= \t;,");
    rel = kn == 3 && strncasecmp(p, "rel", 3) == 0;
    p += kn;
    p += strspn(p, " \t");
    if (*p != '=')
        return p;
    p++;
    p += strspn(p, " \t");
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            if (vn + 1 < sizeof(val))
                val[vn++] = *p;
        }
        if (*p == '"')
            p++;
    } else {
        for (; *p && !strchr(" \t;,", *p); p++)
            if (vn + 1 < sizeof(val))
                val[vn++] = *p;
    }
    val[vn] = '\0';
    /* rel may list several relation types, separated by spaces. */
    for (char *t = val; rel && *t; t += strcspn(t, " ")) {
        t += strspn(t, " ");
        if (strncasecmp(t, "next", 4) == 0 && (t[4] == '\0' || t[4] == ' '))
            *ret_next = true;
    }
    return p;
}

/* The target of the first rel="next" link in a Link value (several lines
 * joined with ", "): 0 with *ret_ref NULL when there is none, -ENOMEM. */
static int link_next(const char *v, char **ret_ref)
{
    const char *p = v, *lt, *gt;
    bool next;

    *ret_ref = NULL;
    while (p && *p) {
        p += strspn(p, " \t,");
        if (*p != '<' || !(gt = strchr(p, '>')))
            return 0;
        lt = p + 1;
        next = false;
        for (p = gt + 1, p += strspn(p, " \t"); *p == ';'; p += strspn(p, " \t"))
            p = link_param(p + 1, &next);
        if (next) {
            *ret_ref = strndup(lt, (size_t)(gt - lt));
            return *ret_ref ? 0 : -ENOMEM;
        }
        p += strcspn(p, ",");
    }
    return 0;
}

static bool url_part_equal(CURLU *a, CURLU *b, CURLUPart part, unsigned flags)
{
    char *x = NULL, *y = NULL;
    bool eq;

    eq = curl_url_get(a, part, &x, flags) == CURLUE_OK &&
         curl_url_get(b, part, &y, flags) == CURLUE_OK && strcasecmp(x, y) == 0;
    curl_free(x);
    curl_free(y);
    return eq;
}

/* ref resolved against the URL cur (as a browser would); -EINVAL when it is
 * malformed or leaves cur's scheme, host and port, where the credentials must
 * not go. */
static int link_resolve(const char *cur, const char *ref, char **ret_url)
{
    CURLU *base = curl_url(), *next = NULL;
    char *u = NULL;
    int r = -EINVAL;

    if (!base)
        return -ENOMEM;
    if (curl_url_set(base, CURLUPART_URL, cur, 0) != CURLUE_OK || !(next = curl_url_dup(base))) {
        r = next ? -EINVAL : -ENOMEM;
        goto out;
    }
    if (curl_url_set(next, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        url_part_equal(base, next, CURLUPART_SCHEME, 0) &&
        url_part_equal(base, next, CURLUPART_HOST, 0) &&
        url_part_equal(base, next, CURLUPART_PORT, CURLU_DEFAULT_PORT) &&
        curl_url_set(next, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
        curl_url_get(next, CURLUPART_URL, &u, 0) == CURLUE_OK) {
        *ret_url = strdup(u);
        r = *ret_url ? 0 : -ENOMEM;
    }
out:
    curl_free(u);
    curl_url_cleanup(next);
    curl_url_cleanup(base);
    return r;
}

static int tags_push(struct bt_reg_req *req, const char *tag)
{
    char **v;
    size_t cap;

    if (req->n_tags + 1 >= req->cap_tags) {
        cap = req->cap_tags ? req->cap_tags * 2 : 16;
        v = realloc(req->tags, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        req->tags = v;
        req->cap_tags = cap;
    }
    req->tags[req->n_tags] = strdup(tag);
    if (!req->tags[req->n_tags])
        return -ENOMEM;
    req->tags[++req->n_tags] = NULL;
    return 0;
}

/* Append the tags of the page in body: -EINVAL when it is not a tag list,
 * -E2BIG past BT_REG_TAGS_MAX entries; *ret_n is how many the page had. */
static int tags_add_page(struct bt_reg_req *req, size_t *ret_n)
{
    cJSON *root = cJSON_ParseWithLength(req->body.p ? req->body.p : "", req->body.len);
    const cJSON *tags = cJSON_GetObjectItem(root, "tags"), *list = NULL, *t;
    int r = 0;

    *ret_n = 0;
    if (!cJSON_IsObject(root) || (tags && !cJSON_IsNull(tags) && !cJSON_IsArray(tags)))
        r = -EINVAL;
    else if (cJSON_IsArray(tags))
        list = tags;
    cJSON_ArrayForEach(t, list) {
        if (!cJSON_IsString(t)) {
            r = -EINVAL;
            break;
        }
        if (++req->seen_tags > BT_REG_TAGS_MAX) {
            r = -E2BIG;
            break;
        }
        (*ret_n)++;
        if (!tag_valid(t->valuestring))
            req->skipped_tags++;
        else if ((r = tags_push(req, t->valuestring)) < 0)
            break;
    }
    cJSON_Delete(root);
    return r;
}

static void tags_reset(struct bt_reg_req *req)
{
    bt_reg_tags_free(TAKE_PTR(req->tags));
    req->n_tags = req->cap_tags = req->seen_tags = req->skipped_tags = 0;
    bt_reg__set_str(&req->tags_next, NULL);
}

void bt_reg__tags_list_start(struct bt_reg_req *req)
{
    char *url = NULL, tail[32];

    if (req->tags_ep != req->ep) {
        /* Another endpoint: its list starts again from the first page. */
        tags_reset(req);
        req->tags_ep = req->ep;
    }
    if (req->tags_next)
        url = strdup(req->tags_next);
    else {
        (void)snprintf(tail, sizeof(tail), "list?n=%u", req->r->tags_page_size);
        url = bt_reg__repo_url(req, "tags", req->r->tags_page_size ? tail : "list");
    }
    if (bt_reg__req_http_begin(req, "GET", url) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    bt_reg__req_http_go(req);
}

static void tags_list_finish(struct bt_reg_req *req)
{
    if (!req->tags && !(req->tags = calloc(1, sizeof(*req->tags))))
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    if (req->skipped_tags)
        BT_LOG(WARN, "registry", "registry listed invalid tags, ignoring them",
               "repo=\"%s\" skipped=%zu", bt_log_q(req->display), req->skipped_tags);
    bt_reg__req_complete(req, NULL);
}

/* A 200: take the page's tags, then ask for the next page or finish. */
static void tags_list_page(struct bt_reg_req *req)
{
    _cleanup_free_ char *ref = NULL, *next = NULL;
    char *why = NULL;
    size_t n = 0;
    int r;

    if (req->too_big)
        return bt_reg__req_fail(req, BT_EINTERNAL, "tag list of %s: a page is larger than %u bytes",
                                req->display, (unsigned)BT_REG__TAGS_BODY_MAX);
    r = tags_add_page(req, &n);
    if (r == -E2BIG)
        return bt_reg__req_fail(req, BT_EINTERNAL, "repository %s has more than %u tags",
                                req->display, (unsigned)BT_REG_TAGS_MAX);
    if (r == -EINVAL)
        return bt_reg__req_attempt_failed(req, false, true,
                                          strdup("registry sent a malformed tag list"));
    if (r == 0 && req->h_link)
        r = link_next(req->h_link, &ref);
    if (r == 0 && ref)
        r = link_resolve(req->url, ref, &next);
    if (r == -ENOMEM)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    if (r < 0 || (next && (n == 0 || strcmp(next, req->url) == 0))) {
        /* Pages that bring nothing new would let a registry keep us paging. */
        if (asprintf(&why, "registry sent %s \"%s\"",
                     r < 0         ? "an unusable next page link"
                     : n == 0      ? "an empty page with a next page link"
                                   : "a next page link to the same page",
                     ref) < 0)
            why = NULL;
        return bt_reg__req_attempt_failed(req, false, true, why);
    }
    if (!next)
        return tags_list_finish(req);
    /* A page came through: the next one gets its own tries and a fresh 401. */
    bt_reg__set_str(&req->tags_next, TAKE_PTR(next));
    req->tries = 0;
    req->reauthed = false;
    bt_reg__tags_list_start(req);
}

void bt_reg__tags_list_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;

    if (req->status == 200)
        return tags_list_page(req);
    if (req->status == 404) {
        if (req->ep + 1 < req->n_bases)
            return bt_reg__req_attempt_failed(req, false, true, bt_reg__status_why(req));
        return bt_reg__req_fail(req, BT_ENOTFOUND,
                                "repository %s not found: does not exist or no pull access",
                                req->display);
    }
    if (req->status == 401 || req->status == 403) {
        text = bt_reg__unauthorized_text(req);
        return bt_reg__req_fail(
            req, BT_EFORBIDDEN,
            "pull access denied for %s, repository does not exist or may require "
            "'docker login': %s",
            req->display, text ? text : "denied");
    }
    bt_reg__req_attempt_failed(req, bt_reg__status_transient(req->status),
                               bt_reg__status_transient(req->status), bt_reg__status_why(req));
}

/* ---- starting requests -------------------------------------------------------- */

int bt_reg_manifest_get(struct bt_registry *r, const struct bt_reg_target *t, const char *ref,
                        bt_reg_manifest_fn cb, void *data, struct bt_reg_req **ret_req,
                        struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!ref || !(bt_reg__ref_is_digest(ref) ? bt_digest_valid(ref) : tag_valid(ref)))
        return bt_err_set(err, BT_EINVAL, 0, "invalid reference format");
    if (bt_reg__req_new(r, OP_MANIFEST_GET, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.manifest = cb;
    req->cb_data = data;
    if (!(req->ref = strdup(ref)) || bt_reg__req_set_scope(req, "pull", NULL) < 0)
        return bt_reg__req_bad(req, err, BT_EINTERNAL, "registry request");
    return bt_reg__req_launch(req, ret_req, err);
}

int bt_reg_manifest_put(struct bt_registry *r, const struct bt_reg_target *t, const char *ref,
                        const char *media_type, const char *body, size_t len, bt_reg_put_fn cb,
                        void *data, struct bt_reg_req **ret_req, struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!ref || !(bt_reg__ref_is_digest(ref) ? bt_digest_valid(ref) : tag_valid(ref)))
        return bt_err_set(err, BT_EINVAL, 0, "invalid reference format");
    if (!media_type || !*media_type || strpbrk(media_type, "\r\n"))
        return bt_err_set(err, BT_EINVAL, 0, "invalid manifest media type");
    if (bt_reg__req_new(r, OP_MANIFEST_PUT, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.put = cb;
    req->cb_data = data;
    req->mbody = body;
    req->mlen = len;
    bt_sha256_digest(body, len, req->digest);
    if (bt_reg__ref_is_digest(ref) && strcmp(ref, req->digest) != 0)
        return bt_reg__req_bad(req, err, BT_EINVAL,
                               "manifest does not match the digest it is put under");
    if (!(req->ref = strdup(ref)) || !(req->media_type = strdup(media_type)) ||
        bt_reg__req_set_scope(req, "pull,push", NULL) < 0)
        return bt_reg__req_bad(req, err, BT_EINTERNAL, "registry request");
    return bt_reg__req_launch(req, ret_req, err);
}

int bt_reg_login(struct bt_registry *r, const char *host, const struct bt_reg_creds *creds,
                 bt_reg_login_fn cb, void *data, struct bt_reg_req **ret_req, struct bt_err **err)
{
    struct bt_reg_req *req;

    if (bt_reg__req_new(r, OP_LOGIN, host, NULL, creds, &req, err) < 0)
        return -1;
    req->cb.login = cb;
    req->cb_data = data;
    return bt_reg__req_launch(req, ret_req, err);
}

int bt_reg_tags_list(struct bt_registry *r, const struct bt_reg_target *t, bt_reg_tags_fn cb,
                     void *data, struct bt_reg_req **ret_req, struct bt_err **err)
{
    struct bt_reg_req *req;

    if (bt_reg__req_new(r, OP_TAGS_LIST, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.tags = cb;
    req->cb_data = data;
    if (bt_reg__req_set_scope(req, "pull", NULL) < 0)
        return bt_reg__req_bad(req, err, BT_EINTERNAL, "registry request");
    return bt_reg__req_launch(req, ret_req, err);
}

void bt_reg_tags_free(char **tags)
{
    for (char **t = tags; t && *t; t++)
        free(*t);
    free(tags);
}

void bt_reg_manifest_free(struct bt_reg_manifest *m)
{
    if (!m)
        return;
    free(m->body);
    free(m->media_type);
    free(m);
}
