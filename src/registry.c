#include <config.h>

/* The registry client: one struct bt_reg_req per operation, driven by
 * libcurl's multi interface on the loop (curl_uv.c).
 *
 * A request walks: START -> [PROBE /v2/] -> [TOKEN] -> MAIN (one or more
 * exchanges, per operation) -> DONE -> CLOSING. Transient failures go to
 * BACKOFF and back to the auth step; a mirror that fails falls through to the
 * next endpoint. Only req_set_state() changes the state. */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
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
#include "berth/version.h"

#define HEADER_MAX (64 * 1024)
#define ERROR_BODY_MAX (64 * 1024)
#define TOKEN_BODY_MAX (1024 * 1024)
#define TAGS_BODY_MAX (2 * 1024 * 1024) /* one page: BT_REG_TAGS_MAX tags of 128 bytes fit */
#define UPLOAD_BUF_SIZE (256 * 1024)
#define DOWNLOAD_BUF_SIZE (128 * 1024) /* fewer, bigger pieces for the sink */
#define MAX_ATTEMPTS 20                /* all attempts of one request, resumed ones included */
#define MAX_REDIRECTS 10

#define MANIFEST_ACCEPT                                                                            \
    "Accept: " BT_REG_MT_SCHEMA2 ", " BT_REG_MT_LIST ", " BT_REG_MT_OCI_MANIFEST                   \
    ", " BT_REG_MT_OCI_INDEX ", " BT_REG_MT_SCHEMA1_SIGNED ", " BT_REG_MT_SCHEMA1

/* What a registry's /v2/ answered about authentication, per endpoint base URL. */
struct host_auth {
    char *base;
    enum bt_reg_scheme scheme;
    char *realm, *service;
    struct host_auth *next;
};

struct bt_registry {
    uv_loop_t *loop;
    struct bt_curl_uv *cu;
    struct bt_reg_token_cache *tokens;
    bt_reg_clock_fn clock;
    void *clock_data;
    char **insecure, **mirrors;
    size_t n_insecure, n_mirrors;
    char *user_agent, *ca_file;
    unsigned tries, backoff_ms, stall_ms, connect_ms, tags_page_size;
    struct host_auth *hosts;
    struct bt_reg_req *reqs; /* not yet closing */
    unsigned live;           /* requests not yet freed */
    unsigned in_curl_cb;     /* depth of our libcurl callbacks calling out */
    bool closing, cu_closed;
    bt_registry_closed_fn closed_cb;
    void *closed_data;
};

enum req_op {
    OP_MANIFEST_GET,
    OP_MANIFEST_PUT,
    OP_BLOB_GET,
    OP_BLOB_HEAD,
    OP_BLOB_MOUNT,
    OP_BLOB_UPLOAD,
    OP_LOGIN,
    OP_TAGS_LIST,
    OP_MAX,
};

enum req_state {
    REQ_START,
    REQ_PROBE,
    REQ_TOKEN,
    REQ_MAIN,
    REQ_BACKOFF,
    REQ_CANCELLED, /* waiting to be closed outside a libcurl callback */
    REQ_DONE,      /* the completion callback is running */
    REQ_CLOSING,
    REQ_STATE_MAX,
};

/* Exchanges of the operations that need more than one. */
enum req_step {
    STEP_FIRST,
    STEP_UPLOAD_PATCH,
    STEP_UPLOAD_PUT,
    STEP_MOUNT_CANCEL,
};

struct up_buf {
    char *data;
    size_t len, pos;
    bool ready;
};

struct bt_reg_req {
    struct bt_registry *r;
    struct bt_reg_req *prev, *next;
    enum req_op op;
    enum req_state state;
    enum req_step step;
    uv_timer_t timer; /* start, backoff, stall checks, deferred cancel */
    unsigned open;    /* timer + an fs read in flight; freed at 0 */

    char *host, *name, *display, *ref, *from, *media_type;
    char digest[BT_DIGEST_STR_LEN + 1];
    struct bt_reg_creds *creds;
    char *scope;   /* space-separated scopes */
    char *cred_id; /* hash of the credentials, for token keys */
    char **bases;  /* endpoints: mirrors first, upstream last */
    size_t n_bases, ep;
    unsigned tries, attempts;
    bool reauthed;
    char *last_error; /* why the last attempt failed */

    /* The HTTP exchange in flight. */
    struct bt_curl_xfer xfer;
    struct curl_slist *hdrs;
    char *url;
    const char *method;
    char *bearer; /* "Authorization: Bearer ..." for MAIN, or NULL */
    bool basic;   /* send the creds as Basic in MAIN */
    long status;  /* of the last response line seen */
    size_t hdr_bytes;
    char *h_www, *h_ctype, *h_digest, *h_location, *h_range, *h_link;
    int64_t h_clen;
    struct bt_buf body;
    bool too_big;
    int cb_errno; /* a sink or read failure */
    char errbuf[CURL_ERROR_SIZE];

    /* Blob download. */
    struct bt_reg_blob_get get;
    uint64_t received, total, range_from, attempt_bytes;
    bool body_started, paused;
    uint64_t last_data_ms;
    struct bt_sha256 *sha;

    /* Upload: the fd is read with uv_fs_read into two buffers. */
    struct bt_reg_blob_put put;
    char *upload_url;
    uint64_t sent, committed, body_end, next_fill; /* committed: the registry has it */
    struct up_buf ub[2];
    unsigned ub_cur, fill_idx, body_gen, fill_gen;
    bool fs_busy, read_paused;
    uv_fs_t fs;

    /* Manifest PUT. */
    const char *mbody;
    size_t mlen;

    /* Tag list: what the pages so far gave, from endpoint tags_ep. */
    char **tags; /* NULL-terminated when not NULL */
    size_t n_tags, cap_tags, seen_tags, skipped_tags, tags_ep;
    char *tags_next; /* URL of the next page; NULL: the first */

    union {
        bt_reg_manifest_fn manifest;
        bt_reg_put_fn put;
        bt_reg_done_fn done;
        bt_reg_exists_fn exists;
        bt_reg_mount_fn mount;
        bt_reg_login_fn login;
        bt_reg_tags_fn tags;
    } cb;
    void *cb_data;
    struct bt_reg_manifest *result;
    bool exists, mounted;
    uint64_t exists_size;
    char *identity_token;
};

static const char *const state_names[REQ_STATE_MAX] = {
    "start", "probe", "token", "main", "backoff", "cancelled", "done", "closing",
};

static void req_auth(struct bt_reg_req *req);
static void req_main(struct bt_reg_req *req);
static void req_close(struct bt_reg_req *req);
static void req_on_http_done(struct bt_curl_xfer *x, CURLcode result);
static void registry_maybe_free(struct bt_registry *r);

static void req_set_state(struct bt_reg_req *req, enum req_state s)
{
    BT_LOG(TRACE, "registry", "request state", "op=%d from=%s to=%s", (int)req->op,
           state_names[req->state], state_names[s]);
    req->state = s;
}

/* ---- small helpers ------------------------------------------------------------ */

/* Percent-encode a query value. */
static char *qesc(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *o = out;

    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

static bool name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 255 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("._/-", *s)))
            return false;
    return true;
}

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

static bool ref_is_digest(const char *ref)
{
    return strchr(ref, ':') != NULL;
}

static char *xstrdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void set_str(char **dst, char *s)
{
    free(*dst);
    *dst = s;
}

/* ---- the registry ------------------------------------------------------------- */

static uint64_t default_clock(void *data)
{
    return uv_now((uv_loop_t *)data);
}

static uint64_t registry_clock(void *data)
{
    struct bt_registry *r = data;
    return r->clock(r->clock_data);
}

static char **strv_copy(const char *const *v, size_t n)
{
    char **c = calloc(n + 1, sizeof(*c));

    for (size_t i = 0; c && i < n; i++) {
        c[i] = strdup(v[i] ? v[i] : "");
        if (!c[i]) {
            for (size_t j = 0; j < i; j++)
                free(c[j]);
            free(c);
            return NULL;
        }
    }
    return c;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void registry_free(struct bt_registry *r)
{
    while (r->hosts) {
        struct host_auth *h = r->hosts;
        r->hosts = h->next;
        free(h->base);
        free(h->realm);
        free(h->service);
        free(h);
    }
    bt_reg_token_cache_free(r->tokens);
    strv_free(r->insecure, r->n_insecure);
    strv_free(r->mirrors, r->n_mirrors);
    free(r->user_agent);
    free(r->ca_file);
    free(r);
}

int bt_registry_new(uv_loop_t *loop, const struct bt_registry_config *cfg, struct bt_registry **ret,
                    struct bt_err **err)
{
    static const struct bt_registry_config none;
    struct bt_registry *r = calloc(1, sizeof(*r));

    if (!cfg)
        cfg = &none;
    if (!r)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "registry client");
    r->loop = loop;
    r->clock = default_clock;
    r->clock_data = loop;
    r->tries = cfg->tries ? cfg->tries : 3;
    r->backoff_ms = cfg->backoff_ms ? cfg->backoff_ms : 500;
    r->stall_ms = cfg->stall_timeout_ms ? cfg->stall_timeout_ms : 30000;
    r->connect_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 30000;
    r->tags_page_size = cfg->tags_page_size;
    r->n_insecure = cfg->n_insecure;
    r->n_mirrors = cfg->n_mirrors;
    r->insecure = strv_copy(cfg->insecure, cfg->n_insecure);
    r->mirrors = strv_copy(cfg->mirrors, cfg->n_mirrors);
    r->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "berth/" BT_VERSION);
    r->ca_file = xstrdup_or_null(cfg->ca_file);
    r->tokens = bt_reg_token_cache_new(registry_clock, r);
    if (!r->insecure || !r->mirrors || !r->user_agent || !r->tokens ||
        (cfg->ca_file && !r->ca_file)) {
        registry_free(r);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "registry client");
    }
    for (size_t i = 0; i < r->n_mirrors; i++) {
        size_t n = strlen(r->mirrors[i]);
        while (n > 0 && r->mirrors[i][n - 1] == '/')
            r->mirrors[i][--n] = '\0';
    }
    if (bt_curl_uv_new(loop, &r->cu, err) < 0) {
        registry_free(r);
        return -1;
    }
    *ret = r;
    return 0;
}

void bt_registry_set_clock(struct bt_registry *r, bt_reg_clock_fn clock, void *data)
{
    r->clock = clock ? clock : default_clock;
    r->clock_data = clock ? data : r->loop;
}

static void registry_on_cu_closed(void *data)
{
    struct bt_registry *r = data;

    r->cu = NULL;
    r->cu_closed = true;
    registry_maybe_free(r);
}

static void registry_maybe_free(struct bt_registry *r)
{
    bt_registry_closed_fn cb;
    void *data;

    if (!r->closing || !r->cu_closed || r->live > 0)
        return;
    cb = r->closed_cb;
    data = r->closed_data;
    registry_free(r);
    if (cb)
        cb(data);
}

void bt_registry_close(struct bt_registry *r, bt_registry_closed_fn cb, void *data)
{
    r->closing = true;
    r->closed_cb = cb;
    r->closed_data = data;
    while (r->reqs)
        req_close(r->reqs);
    bt_curl_uv_close(r->cu, registry_on_cu_closed, r);
}

static struct host_auth *host_auth_find(struct bt_registry *r, const char *base)
{
    for (struct host_auth *h = r->hosts; h; h = h->next)
        if (strcmp(h->base, base) == 0)
            return h;
    return NULL;
}

/* Remember what a 401 challenged with; false when it names nothing we speak. */
static bool host_auth_learn(struct bt_registry *r, const char *base, const char *www)
{
    struct bt_reg_challenge *ch = NULL, *pick = NULL;
    struct host_auth *h;
    size_t n = 0;

    if (!www || bt_reg_challenges_parse(www, &ch, &n) < 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ch[i].scheme == BT_REG_AUTH_BEARER && ch[i].realm && !pick)
            pick = &ch[i];
    for (size_t i = 0; i < n && !pick; i++)
        if (ch[i].scheme == BT_REG_AUTH_BASIC)
            pick = &ch[i];
    h = pick ? host_auth_find(r, base) : NULL;
    if (pick && !h && (h = calloc(1, sizeof(*h)))) {
        h->base = strdup(base);
        if (!h->base) {
            free(h);
            h = NULL;
        } else {
            h->next = r->hosts;
            r->hosts = h;
        }
    }
    if (h) {
        h->scheme = pick->scheme;
        set_str(&h->realm, xstrdup_or_null(pick->realm));
        set_str(&h->service, xstrdup_or_null(pick->service));
    }
    bt_reg_challenges_free(ch, n);
    return h != NULL;
}

static void host_auth_set_none(struct bt_registry *r, const char *base)
{
    struct host_auth *h = host_auth_find(r, base);

    if (!h && (h = calloc(1, sizeof(*h)))) {
        h->base = strdup(base);
        if (!h->base) {
            free(h);
            return;
        }
        h->next = r->hosts;
        r->hosts = h;
    }
    if (h)
        h->scheme = BT_REG_AUTH_NONE;
}

/* ---- request lifetime --------------------------------------------------------- */

static void req_free(struct bt_reg_req *req)
{
    struct bt_registry *r = req->r;

    curl_easy_cleanup(req->xfer.easy);
    curl_slist_free_all(req->hdrs);
    free(req->url);
    free(req->bearer);
    free(req->host);
    free(req->name);
    free(req->display);
    free(req->ref);
    free(req->from);
    free(req->media_type);
    bt_reg_creds_free(req->creds);
    free(req->scope);
    free(req->cred_id);
    strv_free(req->bases, req->n_bases);
    free(req->last_error);
    free(req->h_www);
    free(req->h_ctype);
    free(req->h_digest);
    free(req->h_location);
    free(req->h_range);
    free(req->h_link);
    bt_buf_done(&req->body);
    bt_sha256_free(req->sha);
    free(req->upload_url);
    free(req->ub[0].data);
    free(req->ub[1].data);
    bt_reg_manifest_free(req->result);
    free(req->identity_token);
    bt_reg_tags_free(req->tags);
    free(req->tags_next);
    free(req);
    r->live--;
    registry_maybe_free(r);
}

static void req_on_closed(uv_handle_t *h)
{
    struct bt_reg_req *req = h->data;

    if (--req->open == 0)
        req_free(req);
}

/* Idempotent: stops the transfer and closes the timer; the last close frees. */
static void req_close(struct bt_reg_req *req)
{
    struct bt_registry *r = req->r;

    if (req->state == REQ_CLOSING)
        return;
    req_set_state(req, REQ_CLOSING);
    bt_curl_uv_remove(&req->xfer);
    if (req->prev)
        req->prev->next = req->next;
    else
        r->reqs = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    uv_close((uv_handle_t *)&req->timer, req_on_closed);
}

static void req_on_cancel_timer(uv_timer_t *t)
{
    req_close(container_of(t, struct bt_reg_req, timer));
}

void bt_reg_req_cancel(struct bt_reg_req *req)
{
    if (!req || req->state >= REQ_CANCELLED)
        return;
    req_set_state(req, REQ_CANCELLED);
    if (req->r->in_curl_cb) {
        /* Inside a libcurl callback: the transfer cannot leave the multi now. */
        (void)uv_timer_start(&req->timer, req_on_cancel_timer, 0, 0);
        return;
    }
    req_close(req);
}

/* Run the completion callback once, then close. */
static void req_complete(struct bt_reg_req *req, struct bt_err *e)
{
    struct bt_reg_manifest *m;
    char **tags;

    if (req->state >= REQ_CANCELLED) {
        bt_err_free(e);
        return;
    }
    bt_curl_uv_remove(&req->xfer);
    uv_timer_stop(&req->timer);
    req_set_state(req, REQ_DONE);
    switch (req->op) {
    case OP_MANIFEST_GET:
        m = e ? NULL : TAKE_PTR(req->result);
        req->cb.manifest(req->cb_data, m, e);
        break;
    case OP_MANIFEST_PUT:
        req->cb.put(req->cb_data, e ? NULL : req->digest, e);
        break;
    case OP_BLOB_GET:
        req->get.done(req->get.data, e);
        break;
    case OP_BLOB_UPLOAD:
        req->put.done(req->put.data, e);
        break;
    case OP_BLOB_HEAD:
        req->cb.exists(req->cb_data, !e && req->exists, req->exists_size, e);
        break;
    case OP_BLOB_MOUNT:
        req->cb.mount(req->cb_data, !e && req->mounted, e);
        break;
    case OP_LOGIN:
        req->cb.login(req->cb_data, e ? NULL : req->identity_token, e);
        break;
    case OP_TAGS_LIST:
        tags = e ? NULL : TAKE_PTR(req->tags);
        req->cb.tags(req->cb_data, tags, tags ? req->n_tags : 0, e);
        break;
    case OP_MAX:
        bt_err_free(e);
        break;
    }
    req_close(req);
}

static void req_fail(struct bt_reg_req *req, enum bt_err_code code, const char *fmt, ...)
    _printf_(3, 4);
static void req_fail(struct bt_reg_req *req, enum bt_err_code code, const char *fmt, ...)
{
    struct bt_err *e = NULL;
    char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    (void)bt_err_set(&e, code, 0, "%s", msg ? msg : "registry request failed");
    free(msg);
    req_complete(req, e);
}

/* ---- one HTTP exchange -------------------------------------------------------- */

static void resp_reset(struct bt_reg_req *req)
{
    req->status = 0;
    req->h_clen = -1;
    set_str(&req->h_www, NULL);
    set_str(&req->h_ctype, NULL);
    set_str(&req->h_digest, NULL);
    set_str(&req->h_location, NULL);
    set_str(&req->h_range, NULL);
    set_str(&req->h_link, NULL);
    bt_buf_reset(&req->body);
    req->too_big = false;
}

static bool header_is(const char *line, size_t len, const char *name, const char **ret_val,
                      size_t *ret_len)
{
    size_t n = strlen(name);
    const char *v, *e = line + len;

    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return false;
    v = line + n + 1;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *ret_val = v;
    *ret_len = (size_t)(e - v);
    return true;
}

static size_t req_on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct bt_reg_req *req = userdata;
    size_t len = size * nitems, vlen;
    const char *v;
    char *joined = NULL;

    req->hdr_bytes += len;
    if (req->hdr_bytes > HEADER_MAX || req->state >= REQ_CANCELLED)
        return 0;
    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        const char *sp = memchr(buf, ' ', len);
        resp_reset(req);
        if (sp && (size_t)(buf + len - sp) > 3)
            req->status = strtol(sp + 1, NULL, 10);
        req->body_started = false;
        return len;
    }
    if (header_is(buf, len, "WWW-Authenticate", &v, &vlen)) {
        if (req->h_www && asprintf(&joined, "%s, %.*s", req->h_www, (int)vlen, v) < 0)
            return 0;
        set_str(&req->h_www, joined ? joined : strndup(v, vlen));
    } else if (header_is(buf, len, "Link", &v, &vlen)) {
        if (req->h_link && asprintf(&joined, "%s, %.*s", req->h_link, (int)vlen, v) < 0)
            return 0;
        set_str(&req->h_link, joined ? joined : strndup(v, vlen));
    } else if (header_is(buf, len, "Content-Type", &v, &vlen))
        set_str(&req->h_ctype, strndup(v, vlen));
    else if (header_is(buf, len, "Docker-Content-Digest", &v, &vlen))
        set_str(&req->h_digest, strndup(v, vlen));
    else if (header_is(buf, len, "Location", &v, &vlen))
        set_str(&req->h_location, strndup(v, vlen));
    else if (header_is(buf, len, "Content-Range", &v, &vlen))
        set_str(&req->h_range, strndup(v, vlen));
    else if (header_is(buf, len, "Content-Length", &v, &vlen)) {
        char num[24];
        if (vlen < sizeof(num)) {
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            req->h_clen = strtoll(num, NULL, 10);
        }
    }
    return len;
}

static size_t blob_write(struct bt_reg_req *req, const char *data, size_t len);

static size_t req_on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct bt_reg_req *req = userdata;
    size_t len = size * nmemb;
    int r;

    if (req->state >= REQ_CANCELLED)
        return 0;
    if (req->op == OP_BLOB_GET && req->state == REQ_MAIN &&
        (req->status == 200 || req->status == 206))
        return blob_write(req, data, len);
    r = bt_buf_append(&req->body, data, len);
    if (r == -ENOBUFS) {
        /* A manifest, tag list or token this big is refused; an error body is just cut. */
        if (req->state == REQ_MAIN && (req->op == OP_MANIFEST_GET || req->op == OP_TAGS_LIST) &&
            req->status == 200) {
            req->too_big = true;
            return 0;
        }
        return len;
    }
    return r < 0 ? 0 : len;
}

static curl_off_t parse_range_start(const char *cr, curl_off_t *ret_total)
{
    /* "bytes 100-199/200" (total may be "*"). */
    const char *p = cr;
    char *end;
    long long start;

    *ret_total = -1;
    if (!p || strncasecmp(p, "bytes ", 6) != 0)
        return -1;
    errno = 0;
    start = strtoll(p + 6, &end, 10);
    if (errno || *end != '-')
        return -1;
    p = strchr(end, '/');
    if (p && p[1] != '*')
        *ret_total = strtoll(p + 1, NULL, 10);
    return start;
}

/* The first bytes of a blob response: check the range the server sent. */
static bool blob_body_start(struct bt_reg_req *req)
{
    curl_off_t total = -1, start;

    req->body_started = true;
    if (req->status == 206) {
        start = parse_range_start(req->h_range, &total);
        if (start < 0 || (uint64_t)start != req->range_from) {
            set_str(&req->last_error, strdup("registry sent the wrong range"));
            return false;
        }
        if (total > 0 && !req->total)
            req->total = (uint64_t)total;
    } else {
        /* A plain 200: the server ignored Range, so skip what the sink has. */
        req->range_from = 0;
        if (req->h_clen >= 0 && !req->total)
            req->total = (uint64_t)req->h_clen;
    }
    if (req->status == 206 && req->h_clen >= 0 && !req->total)
        req->total = req->received + (uint64_t)req->h_clen;
    return true;
}

static size_t blob_write(struct bt_reg_req *req, const char *data, size_t len)
{
    struct bt_registry *r = req->r;
    uint64_t pos;
    size_t skip = 0;
    int s;

    if (!req->body_started && !blob_body_start(req))
        return 0;
    /* With a 200 after a drop, bytes before `received` come again: drop them. */
    pos = req->range_from + req->attempt_bytes;
    if (pos < req->received)
        skip = (size_t)(req->received - pos < len ? req->received - pos : len);
    if (skip == len) {
        req->attempt_bytes += len;
        return len;
    }
    if (req->total && req->received + (len - skip) > req->total) {
        set_str(&req->last_error, strdup("registry sent more bytes than the blob has"));
        req->cb_errno = -EPROTO;
        return 0;
    }
    r->in_curl_cb++;
    s = req->get.sink(req->get.data, data + skip, len - skip);
    r->in_curl_cb--;
    if (req->state >= REQ_CANCELLED)
        return 0;
    if (s == BT_REG_SINK_FULL) {
        /* curl hands the same bytes again after the unpause, skipped ones too. */
        req->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (s < 0) {
        req->cb_errno = s;
        return 0;
    }
    if (req->sha)
        bt_sha256_update(req->sha, data + skip, len - skip);
    req->attempt_bytes += len;
    req->received += len - skip;
    req->last_data_ms = uv_now(r->loop);
    if (req->get.progress) {
        r->in_curl_cb++;
        req->get.progress(req->get.data, req->received, req->total);
        r->in_curl_cb--;
        if (req->state >= REQ_CANCELLED)
            return 0;
    }
    return len;
}

/* A fresh easy handle for one exchange; the caller adds headers, then req_http_go(). */
static int req_http_begin(struct bt_reg_req *req, const char *method, char *url_take)
{
    struct bt_registry *r = req->r;
    CURL *e;

    curl_easy_cleanup(req->xfer.easy);
    curl_slist_free_all(req->hdrs);
    req->hdrs = NULL;
    set_str(&req->url, url_take);
    req->xfer.easy = e = curl_easy_init();
    if (!e || !req->url)
        return -ENOMEM;
    req->method = method;
    req->xfer.on_done = req_on_http_done;
    req->hdr_bytes = 0;
    req->errbuf[0] = '\0';
    req->cb_errno = 0;
    resp_reset(req);
    (void)curl_easy_setopt(e, CURLOPT_URL, req->url);
    (void)curl_easy_setopt(e, CURLOPT_USERAGENT, r->user_agent);
    (void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    (void)curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, req_on_header);
    (void)curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    (void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, req_on_write);
    (void)curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    (void)curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)r->connect_ms);
    (void)curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    (void)curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    (void)curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    (void)curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    (void)curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (r->ca_file)
        (void)curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file);
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        /* Registries send blobs off to storage; Authorization stays behind
         * on another host (libcurl drops it across hosts). */
        (void)curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        (void)curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
    }
    if (strcmp(method, "HEAD") == 0)
        (void)curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        (void)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (req->op == OP_BLOB_GET && req->state == REQ_MAIN)
        (void)curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)DOWNLOAD_BUF_SIZE);
    if (req->op == OP_BLOB_UPLOAD)
        (void)curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)UPLOAD_BUF_SIZE);
    if (!(req->op == OP_BLOB_GET && req->state == REQ_MAIN)) {
        /* Blob downloads have their own stall timer, which knows about pauses. */
        (void)curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        (void)curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)((r->stall_ms + 999) / 1000));
    }
    req->hdrs = curl_slist_append(req->hdrs, "Expect:");
    return req->hdrs ? 0 : -ENOMEM;
}

static int req_header(struct bt_reg_req *req, const char *h)
{
    struct curl_slist *l = curl_slist_append(req->hdrs, h);

    if (!l)
        return -ENOMEM;
    req->hdrs = l;
    return 0;
}

static void req_http_go(struct bt_reg_req *req)
{
    struct bt_err *e = NULL;
    CURL *c = req->xfer.easy;

    if (req->state == REQ_MAIN && req->bearer && req_header(req, req->bearer) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    if (req->state == REQ_MAIN && req->basic && req->creds) {
        (void)curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        (void)curl_easy_setopt(c, CURLOPT_USERNAME, req->creds->username);
        (void)curl_easy_setopt(c, CURLOPT_PASSWORD,
                               req->creds->password ? req->creds->password : "");
    }
    (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->hdrs);
    BT_LOG(TRACE, "registry", "request", "method=%s url=\"%s\"", req->method, bt_log_q(req->url));
    if (bt_curl_uv_add(req->r->cu, &req->xfer, &e) < 0)
        req_complete(req, e);
}

/* ---- attempts, retries and endpoints ------------------------------------------ */

static bool curl_transient(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static bool status_transient(long s)
{
    return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static bool req_idempotent(const struct bt_reg_req *req)
{
    if (req->state != REQ_MAIN)
        return true; /* probes and token GETs */
    switch (req->op) {
    case OP_MANIFEST_GET:
    case OP_BLOB_GET:
    case OP_BLOB_HEAD:
    case OP_LOGIN:
    case OP_TAGS_LIST:
        return true;
    case OP_BLOB_UPLOAD:
        return req->step == STEP_FIRST; /* the POST that opens an upload */
    default:
        return false;
    }
}

static const char *req_what(struct bt_reg_req *req, char *buf, size_t size)
{
    switch (req->op) {
    case OP_BLOB_GET:
        (void)snprintf(buf, size, "download of blob %s", req->digest);
        break;
    case OP_BLOB_UPLOAD:
        (void)snprintf(buf, size, "upload of blob %s", req->digest);
        break;
    case OP_MANIFEST_GET:
        (void)snprintf(buf, size, "manifest %s%s%s", req->display,
                       ref_is_digest(req->ref) ? "@" : ":", req->ref);
        break;
    case OP_TAGS_LIST:
        (void)snprintf(buf, size, "tag list of %s", req->display);
        break;
    default:
        (void)snprintf(buf, size, "%s %s", req->method ? req->method : "request",
                       req->url ? req->url : req->host);
        break;
    }
    return buf;
}

static void req_on_backoff(uv_timer_t *t)
{
    struct bt_reg_req *req = container_of(t, struct bt_reg_req, timer);

    req_auth(req);
}

/* An attempt failed (why is owned). Fall through to the next mirror, try
 * again after a pause, or fail the request. */
static void req_attempt_failed(struct bt_reg_req *req, bool transient, bool fallthrough, char *why)
{
    struct bt_registry *r = req->r;
    char what[200];
    uint64_t delay;

    set_str(&req->last_error, why ? why : strdup("failed"));
    if (fallthrough && req->ep + 1 < req->n_bases) {
        BT_LOG(INFO, "registry", "mirror failed, trying the next endpoint", "mirror=%s err=\"%s\"",
               req->bases[req->ep], bt_log_q(req->last_error));
        req->ep++;
        req->tries = 0;
        req->reauthed = false;
        return req_auth(req);
    }
    if (transient && req_idempotent(req)) {
        /* A download attempt that made progress does not use up a try. */
        if (!(req->op == OP_BLOB_GET && req->attempt_bytes > 0))
            req->tries++;
        if (req->tries < r->tries && ++req->attempts < MAX_ATTEMPTS) {
            delay = (uint64_t)r->backoff_ms << (req->tries > 0 ? req->tries - 1 : 0);
            if (req->attempt_bytes > 0 && req->tries == 0)
                delay = 0;
            BT_LOG(DEBUG, "registry", "retrying", "what=\"%s\" delay_ms=%" PRIu64 " err=\"%s\"",
                   bt_log_q(req_what(req, what, sizeof(what))), delay, bt_log_q(req->last_error));
            req_set_state(req, REQ_BACKOFF);
            (void)uv_timer_start(&req->timer, req_on_backoff, delay, 0);
            return;
        }
        return req_fail(req, BT_EINTERNAL, "%s failed after %u attempts: %s",
                        req_what(req, what, sizeof(what)), req->attempts + 1, req->last_error);
    }
    req_fail(req, BT_EINTERNAL, "%s failed: %s", req_what(req, what, sizeof(what)),
             req->last_error);
}

static char *curl_why(struct bt_reg_req *req, CURLcode c)
{
    char *s = NULL;

    if (asprintf(&s, "%s \"%s\": %s", req->method, req->url,
                 req->errbuf[0] ? req->errbuf : curl_easy_strerror(c)) < 0)
        return NULL;
    return s;
}

static char *status_why(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = bt_reg_error_text(req->body.p, req->body.len);
    char *s = NULL;

    if (asprintf(&s, "%s \"%s\": unexpected status %ld%s%s", req->method, req->url, req->status,
                 text ? ": " : "", text ? text : "") < 0)
        return NULL;
    return s;
}

/* ---- authentication ----------------------------------------------------------- */

static void req_probe(struct bt_reg_req *req)
{
    char *url = NULL;

    req_set_state(req, REQ_PROBE);
    if (asprintf(&url, "%s/v2/", req->bases[req->ep]) < 0)
        url = NULL;
    if (req_http_begin(req, "GET", url) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    req_http_go(req);
}

static char *token_key(struct bt_reg_req *req)
{
    char *k = NULL;

    if (asprintf(&k, "%s|%s|%s", req->bases[req->ep], req->scope ? req->scope : "", req->cred_id) <
        0)
        return NULL;
    return k;
}

static int append_scopes(struct bt_buf *b, const char *scope)
{
    const char *p = scope;

    while (p && *p) {
        size_t n = strcspn(p, " ");
        _cleanup_free_ char *one = strndup(p, n), *e = one ? qesc(one) : NULL;
        if (!e || bt_buf_appendf(b, "&scope=%s", e) < 0)
            return -ENOMEM;
        p += n;
        while (*p == ' ')
            p++;
    }
    return 0;
}

/* GET realm?service=..&scope=.. (POST with a refresh token when there is one). */
static void req_token(struct bt_reg_req *req, struct host_auth *ha)
{
    const struct bt_reg_creds *c = req->creds;
    bool refresh = c && c->identitytoken && *c->identitytoken;
    _cleanup_free_ char *svc = qesc(ha->service ? ha->service : "");
    struct bt_buf q;
    CURL *e;

    bt_buf_init(&q, 0);
    req_set_state(req, REQ_TOKEN);
    if (!svc || bt_buf_appendf(&q, "service=%s", svc) < 0 || append_scopes(&q, req->scope) < 0 ||
        (req->op == OP_LOGIN && bt_buf_appendf(&q, "&offline_token=true&client_id=berth") < 0))
        goto oom;
    if (refresh) {
        _cleanup_free_ char *rt = qesc(c->identitytoken);
        if (!rt || bt_buf_appendf(&q,
                                  "&grant_type=refresh_token&client_id=berth&"
                                  "refresh_token=%s",
                                  rt) < 0)
            goto oom;
        if (req_http_begin(req, "POST", strdup(ha->realm)) < 0)
            goto oom;
        e = req->xfer.easy;
        (void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)q.len);
        (void)curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, q.p);
        explicit_bzero(q.p, q.len);
    } else {
        char *url = NULL;
        if (asprintf(&url, "%s%c%s", ha->realm, strchr(ha->realm, '?') ? '&' : '?', q.p) < 0)
            url = NULL;
        if (req_http_begin(req, "GET", url) < 0)
            goto oom;
        e = req->xfer.easy;
        if (c && c->username && *c->username) {
            (void)curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            (void)curl_easy_setopt(e, CURLOPT_USERNAME, c->username);
            (void)curl_easy_setopt(e, CURLOPT_PASSWORD, c->password ? c->password : "");
        }
    }
    bt_buf_done(&q);
    return req_http_go(req);
oom:
    bt_buf_done(&q);
    req_fail(req, BT_EINTERNAL, "out of memory");
}

static int set_bearer(struct bt_reg_req *req, const char *token)
{
    char *h = NULL;

    if (asprintf(&h, "Authorization: Bearer %s", token) < 0)
        return -ENOMEM;
    if (req->bearer)
        explicit_bzero(req->bearer, strlen(req->bearer));
    set_str(&req->bearer, h);
    return 0;
}

/* Decide how MAIN authenticates at the current endpoint, probing or fetching
 * a token first when needed. Also the re-entry point after a backoff. */
static void req_auth(struct bt_reg_req *req)
{
    struct bt_registry *r = req->r;
    const struct bt_reg_creds *c = req->creds;
    struct host_auth *ha;
    _cleanup_free_ char *key = NULL;
    const char *tok;

    req->attempt_bytes = 0;
    req->basic = false;
    set_str(&req->bearer, NULL);
    if (c && c->registrytoken && *c->registrytoken && req->op != OP_LOGIN) {
        if (set_bearer(req, c->registrytoken) < 0)
            return req_fail(req, BT_EINTERNAL, "out of memory");
        return req_main(req);
    }
    ha = req->op == OP_LOGIN && req->state != REQ_PROBE ? NULL
                                                        : host_auth_find(r, req->bases[req->ep]);
    if (!ha)
        return req_probe(req);
    switch (ha->scheme) {
    case BT_REG_AUTH_BASIC:
        req->basic = c && c->username && *c->username;
        return req_main(req);
    case BT_REG_AUTH_BEARER:
        key = token_key(req);
        if (!key)
            return req_fail(req, BT_EINTERNAL, "out of memory");
        tok = req->op == OP_LOGIN ? NULL : bt_reg_token_cache_get(r->tokens, key);
        if (!tok)
            return req_token(req, ha);
        if (set_bearer(req, tok) < 0)
            return req_fail(req, BT_EINTERNAL, "out of memory");
        return req_main(req);
    default:
        return req_main(req);
    }
}

static void req_on_probe(struct bt_reg_req *req)
{
    struct bt_registry *r = req->r;

    if (req->status == 401) {
        if (!host_auth_learn(r, req->bases[req->ep], req->h_www))
            return req_fail(req, BT_EFORBIDDEN,
                            "unauthorized: %s asks for an authentication scheme berth does not "
                            "support",
                            req->bases[req->ep]);
    } else if (status_transient(req->status)) {
        return req_attempt_failed(req, true, true, status_why(req));
    } else {
        /* As dockerd: anything but 401 means no authentication. */
        host_auth_set_none(r, req->bases[req->ep]);
        if (req->op == OP_LOGIN)
            return req_complete(req, NULL);
    }
    req_auth(req);
}

static void req_on_token(struct bt_reg_req *req)
{
    struct bt_registry *r = req->r;
    _cleanup_free_ char *key = NULL, *tok = NULL, *refresh = NULL, *text = NULL;
    int64_t expires = 0;
    bool have_creds = !bt_reg_creds_empty(req->creds);

    if (status_transient(req->status))
        return req_attempt_failed(req, true, true, status_why(req));
    if (req->status == 401 || req->status == 403) {
        text = bt_reg_error_text(req->body.p, req->body.len);
        return req_fail(req, BT_EFORBIDDEN, "%s",
                        have_creds ? "unauthorized: incorrect username or password"
                                   : (text ? text : "unauthorized: authentication required"));
    }
    if (req->status != 200 ||
        bt_reg_token_response_parse(req->body.p, req->body.len, &tok, &expires, &refresh) < 0)
        return req_attempt_failed(req, false, true,
                                  req->status == 200 ? strdup("token server sent no token")
                                                     : status_why(req));
    if (req->body.p)
        explicit_bzero(req->body.p, req->body.len);
    if (req->op == OP_LOGIN) {
        req->identity_token = TAKE_PTR(refresh);
        if (tok)
            explicit_bzero(tok, strlen(tok));
        return req_complete(req, NULL);
    }
    key = token_key(req);
    if (!key || bt_reg_token_cache_put(r->tokens, key, tok, expires) < 0 ||
        set_bearer(req, tok) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    explicit_bzero(tok, strlen(tok));
    if (refresh)
        explicit_bzero(refresh, strlen(refresh));
    req_main(req);
}

/* MAIN got 401: learn the new challenge and authenticate once more. */
static bool req_reauth(struct bt_reg_req *req)
{
    struct bt_registry *r = req->r;
    _cleanup_free_ char *key = NULL;

    if (req->reauthed || req->status != 401)
        return false;
    req->reauthed = true;
    key = token_key(req);
    if (key)
        bt_reg_token_cache_drop(r->tokens, key);
    (void)host_auth_learn(r, req->bases[req->ep], req->h_www);
    req_auth(req);
    return true;
}

static char *unauthorized_text(struct bt_reg_req *req)
{
    char *text = bt_reg_error_text(req->body.p, req->body.len);

    if (text)
        return text;
    if (req->status == 403)
        return strdup("denied: requested access to the resource is denied");
    return strdup(bt_reg_creds_empty(req->creds) ? "unauthorized: authentication required"
                                                 : "unauthorized: incorrect username or password");
}

/* ---- operations --------------------------------------------------------------- */

static char *repo_url(struct bt_reg_req *req, const char *kind, const char *tail)
{
    char *u = NULL;

    if (asprintf(&u, "%s/v2/%s/%s/%s", req->bases[req->ep], req->name, kind, tail) < 0)
        return NULL;
    return u;
}

static void manifest_get_start(struct bt_reg_req *req)
{
    if (req_http_begin(req, "GET", repo_url(req, "manifests", req->ref)) < 0 ||
        req_header(req, MANIFEST_ACCEPT) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    req_http_go(req);
}

static bool media_type_known(const char *mt)
{
    return strcmp(mt, BT_REG_MT_SCHEMA2) == 0 || strcmp(mt, BT_REG_MT_LIST) == 0 ||
           strcmp(mt, BT_REG_MT_OCI_MANIFEST) == 0 || strcmp(mt, BT_REG_MT_OCI_INDEX) == 0;
}

static void manifest_got(struct bt_reg_req *req)
{
    _cleanup_free_ char *mt =
        req->h_ctype ? strndup(req->h_ctype, strcspn(req->h_ctype, "; ")) : NULL;
    struct bt_reg_manifest *m;
    char computed[BT_DIGEST_STR_LEN + 1];
    const char *want = NULL;
    int schema1 = 0;

    if (req->too_big)
        return req_fail(req, BT_EINTERNAL, "manifest %s is larger than %u bytes", req->ref,
                        BT_REG_MANIFEST_MAX);
    if (mt && (strcmp(mt, BT_REG_MT_SCHEMA1) == 0 || strcmp(mt, BT_REG_MT_SCHEMA1_SIGNED) == 0))
        schema1 = 1;
    else if (!mt || !media_type_known(mt)) {
        free(mt);
        mt = NULL;
        schema1 = bt_reg_manifest_sniff(req->body.p ? req->body.p : "", req->body.len, &mt);
        if (schema1 < 0)
            return req_fail(req, BT_EINTERNAL, "manifest for %s:%s is not JSON", req->display,
                            req->ref);
    }
    if (schema1)
        return req_fail(req, BT_EINVAL,
                        "schema 1 manifests are not supported (%s%s%s): push the image again "
                        "with a current client",
                        req->display, ref_is_digest(req->ref) ? "@" : ":", req->ref);
    bt_sha256_digest(req->body.p ? req->body.p : "", req->body.len, computed);
    if (ref_is_digest(req->ref))
        want = req->ref;
    else if (req->h_digest && bt_digest_valid(req->h_digest))
        want = req->h_digest;
    if (want && strcmp(want, computed) != 0)
        return req_fail(req, BT_EINTERNAL, "manifest verification failed for digest %s", want);
    m = calloc(1, sizeof(*m));
    if (!m)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    m->body = bt_buf_steal(&req->body, &m->len);
    if (!m->body)
        m->body = strdup("");
    m->media_type = TAKE_PTR(mt);
    memcpy(m->digest, computed, sizeof(computed));
    req->result = m;
    if (!m->body || !m->media_type)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    req_complete(req, NULL);
}

static void manifest_get_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;
    const char *sep = ref_is_digest(req->ref) ? "@" : ":";

    if (req->status == 200)
        return manifest_got(req);
    if (req->status == 404) {
        if (req->ep + 1 < req->n_bases)
            return req_attempt_failed(req, false, true, status_why(req));
        text = bt_reg_error_text(req->body.p, req->body.len);
        return req_fail(req, BT_ENOTFOUND, "manifest for %s%s%s not found: %s", req->display, sep,
                        req->ref, text ? text : "manifest unknown: manifest unknown");
    }
    if (req->status == 401 || req->status == 403) {
        text = unauthorized_text(req);
        return req_fail(req, BT_EFORBIDDEN,
                        "pull access denied for %s, repository does not exist or may require "
                        "'docker login': %s",
                        req->display, text ? text : "denied");
    }
    req_attempt_failed(req, status_transient(req->status), status_transient(req->status),
                       status_why(req));
}

static void manifest_put_start(struct bt_reg_req *req)
{
    _cleanup_free_ char *ct = NULL;
    CURL *e;

    if (asprintf(&ct, "Content-Type: %s", req->media_type) < 0 ||
        req_http_begin(req, "PUT", repo_url(req, "manifests", req->ref)) < 0 ||
        req_header(req, ct) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    e = req->xfer.easy;
    (void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->mbody);
    (void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->mlen);
    req_http_go(req);
}

static void manifest_put_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;

    if (req->status == 201 || req->status == 200) {
        if (req->h_digest && bt_digest_valid(req->h_digest)) {
            if (strcmp(req->h_digest, req->digest) != 0)
                return req_fail(req, BT_EINTERNAL, "registry stored manifest as %s, expected %s",
                                req->h_digest, req->digest);
        }
        return req_complete(req, NULL);
    }
    text = bt_reg_error_text(req->body.p, req->body.len);
    if (req->status == 401 || req->status == 403)
        return req_fail(req, BT_EFORBIDDEN, "%s",
                        text ? text
                             : "denied: requested access to "
                               "the resource is denied");
    req_attempt_failed(req, false, false, status_why(req));
}

static void blob_stall_check(uv_timer_t *t);

static void blob_get_start(struct bt_reg_req *req)
{
    struct bt_registry *r = req->r;
    uint64_t period = r->stall_ms / 4 ? r->stall_ms / 4 : 1;
    char range[64];

    if (period > 1000)
        period = 1000;
    if (req_http_begin(req, "GET", repo_url(req, "blobs", req->digest)) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    req->range_from = req->received;
    req->body_started = false;
    req->paused = false;
    if (req->received > 0) {
        (void)snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", req->received);
        if (req_header(req, range) < 0)
            return req_fail(req, BT_EINTERNAL, "out of memory");
    }
    req->last_data_ms = uv_now(r->loop);
    (void)uv_timer_start(&req->timer, blob_stall_check, period, period);
    req_http_go(req);
}

static void blob_stall_check(uv_timer_t *t)
{
    struct bt_reg_req *req = container_of(t, struct bt_reg_req, timer);
    struct bt_registry *r = req->r;
    char *why = NULL;

    if (req->state != REQ_MAIN || req->paused)
        return;
    if (uv_now(r->loop) - req->last_data_ms < r->stall_ms)
        return;
    uv_timer_stop(t);
    bt_curl_uv_remove(&req->xfer);
    if (asprintf(&why, "no data for %u ms", r->stall_ms) < 0)
        why = NULL;
    req_attempt_failed(req, true, true, why);
}

void bt_reg_req_unpause(struct bt_reg_req *req)
{
    struct bt_registry *r;

    if (!req || req->state != REQ_MAIN || !req->paused)
        return;
    r = req->r;
    req->paused = false;
    req->last_data_ms = uv_now(r->loop);
    r->in_curl_cb++;
    (void)curl_easy_pause(req->xfer.easy, CURLPAUSE_CONT);
    r->in_curl_cb--;
}

static void blob_complete(struct bt_reg_req *req)
{
    char got[BT_DIGEST_STR_LEN + 1];

    if (req->sha) {
        bt_sha256_final(req->sha, got);
        bt_sha256_free(req->sha);
        req->sha = NULL;
        if (strcmp(got, req->digest) != 0)
            return req_fail(req, BT_EINTERNAL, "digest mismatch for blob %s: the registry sent %s",
                            req->digest, got);
    }
    req_complete(req, NULL);
}

static void blob_get_done(struct bt_reg_req *req)
{
    uv_timer_stop(&req->timer);
    if (req->status == 200 || req->status == 206) {
        if (req->total && req->received < req->total)
            return req_attempt_failed(req, true, false,
                                      strdup("connection closed before the end of the blob"));
        return blob_complete(req);
    }
    if (req->status == 416 && req->total && req->received == req->total)
        return blob_complete(req);
    if (req->status == 404) {
        if (req->ep + 1 < req->n_bases)
            return req_attempt_failed(req, false, true, status_why(req));
        return req_fail(req, BT_ENOTFOUND, "blob %s not found in %s: blob unknown", req->digest,
                        req->display);
    }
    if (req->status == 401 || req->status == 403) {
        _cleanup_free_ char *text = unauthorized_text(req);
        return req_fail(req, BT_EFORBIDDEN, "download of blob %s: %s", req->digest,
                        text ? text : "denied");
    }
    req_attempt_failed(req, status_transient(req->status), status_transient(req->status),
                       status_why(req));
}

static void blob_head_start(struct bt_reg_req *req)
{
    if (req_http_begin(req, "HEAD", repo_url(req, "blobs", req->digest)) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    req_http_go(req);
}

static void blob_head_done(struct bt_reg_req *req)
{
    if (req->status == 200) {
        req->exists = true;
        req->exists_size = req->h_clen > 0 ? (uint64_t)req->h_clen : 0;
        return req_complete(req, NULL);
    }
    if (req->status == 404)
        return req_complete(req, NULL);
    if (req->status == 401 || req->status == 403)
        return req_fail(req, BT_EFORBIDDEN,
                        "blob %s: denied: requested access to the resource "
                        "is denied",
                        req->digest);
    req_attempt_failed(req, status_transient(req->status), false, status_why(req));
}

/* An upload Location may be relative to the registry. */
static char *resolve_location(struct bt_reg_req *req)
{
    const char *loc = req->h_location;
    char *u = NULL;

    if (!loc || !*loc)
        return NULL;
    if (strncasecmp(loc, "http://", 7) == 0 || strncasecmp(loc, "https://", 8) == 0)
        return strdup(loc);
    if (asprintf(&u, "%s%s%s", req->bases[req->ep], loc[0] == '/' ? "" : "/", loc) < 0)
        return NULL;
    return u;
}

static void blob_mount_start(struct bt_reg_req *req)
{
    _cleanup_free_ char *d = qesc(req->digest), *f = qesc(req->from), *tail = NULL;
    CURL *e;

    if (req->step == STEP_MOUNT_CANCEL) {
        if (req_http_begin(req, "DELETE", strdup(req->upload_url)) < 0)
            return req_fail(req, BT_EINTERNAL, "out of memory");
        return req_http_go(req);
    }
    if (!d || !f || asprintf(&tail, "?mount=%s&from=%s", d, f) < 0 ||
        req_http_begin(req, "POST", repo_url(req, "blobs/uploads", tail)) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    e = req->xfer.easy;
    (void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    (void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    req_http_go(req);
}

static void blob_mount_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;

    if (req->step == STEP_MOUNT_CANCEL)
        return req_complete(req, NULL); /* best effort: the registry expires it anyway */
    if (req->status == 201) {
        req->mounted = true;
        return req_complete(req, NULL);
    }
    if (req->status == 202) {
        set_str(&req->upload_url, resolve_location(req));
        if (!req->upload_url)
            return req_complete(req, NULL);
        req->step = STEP_MOUNT_CANCEL;
        return blob_mount_start(req);
    }
    text = bt_reg_error_text(req->body.p, req->body.len);
    if (req->status == 401 || req->status == 403)
        return req_fail(req, BT_EFORBIDDEN, "mount of blob %s from %s: %s", req->digest, req->from,
                        text ? text : "denied");
    req_attempt_failed(req, false, false, status_why(req));
}

/* -- upload body: async reads of the fd into two buffers -- */

static void up_kick(struct bt_reg_req *req);

static void up_on_read(uv_fs_t *fs)
{
    struct bt_reg_req *req = fs->data;
    struct up_buf *b = &req->ub[req->fill_idx];
    ssize_t n = fs->result;

    uv_fs_req_cleanup(fs);
    req->fs_busy = false;
    if (req->state == REQ_CLOSING) {
        if (--req->open == 0)
            req_free(req);
        return;
    }
    req->open--;
    if (req->fill_gen != req->body_gen || req->state != REQ_MAIN)
        return up_kick(req); /* a read for an exchange that is over */
    if (n <= 0)
        req->cb_errno = n < 0 ? (int)n : -EIO;
    else {
        b->len = (size_t)n;
        b->pos = 0;
        b->ready = true;
        req->next_fill += (uint64_t)n;
    }
    if (req->read_paused) {
        req->read_paused = false;
        req->r->in_curl_cb++;
        (void)curl_easy_pause(req->xfer.easy, CURLPAUSE_CONT);
        req->r->in_curl_cb--;
    }
    if (req->state == REQ_MAIN && !req->cb_errno)
        up_kick(req);
}

static void up_kick(struct bt_reg_req *req)
{
    unsigned idx = req->ub_cur;
    struct up_buf *b;
    uv_buf_t ub;
    uint64_t left;

    if (req->fs_busy || req->next_fill >= req->body_end || req->state != REQ_MAIN)
        return;
    if (req->ub[idx].ready)
        idx ^= 1;
    b = &req->ub[idx];
    if (b->ready)
        return;
    if (!b->data && !(b->data = malloc(UPLOAD_BUF_SIZE))) {
        req->cb_errno = -ENOMEM;
        return;
    }
    left = req->body_end - req->next_fill;
    ub = uv_buf_init(b->data, (unsigned)(left < UPLOAD_BUF_SIZE ? left : UPLOAD_BUF_SIZE));
    req->fs.data = req;
    req->fill_idx = idx;
    req->fill_gen = req->body_gen;
    if (uv_fs_read(req->r->loop, &req->fs, req->put.fd, &ub, 1, (int64_t)req->next_fill,
                   up_on_read) < 0) {
        req->cb_errno = -EIO;
        return;
    }
    req->fs_busy = true;
    req->open++;
}

static size_t up_on_curl_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct bt_reg_req *req = userdata;
    struct up_buf *b = &req->ub[req->ub_cur];
    size_t n = size * nitems;

    if (req->state >= REQ_CANCELLED || req->cb_errno)
        return CURL_READFUNC_ABORT;
    if (!b->ready) {
        req->read_paused = true;
        up_kick(req);
        return CURL_READFUNC_PAUSE;
    }
    if (n > b->len - b->pos)
        n = b->len - b->pos;
    memcpy(buf, b->data + b->pos, n);
    b->pos += n;
    req->sent += n;
    if (b->pos == b->len) {
        b->ready = false;
        req->ub_cur ^= 1;
        up_kick(req);
    }
    if (req->put.progress) {
        req->r->in_curl_cb++;
        req->put.progress(req->put.data, req->sent, req->put.size);
        req->r->in_curl_cb--;
    }
    return n;
}

/* Send file bytes [sent, end) as the body of this exchange. */
static void up_body(struct bt_reg_req *req, uint64_t end)
{
    CURL *e = req->xfer.easy;

    req->body_gen++;
    req->ub[0].ready = req->ub[1].ready = false;
    req->ub_cur = 0;
    req->next_fill = req->sent;
    req->body_end = end;
    req->read_paused = false;
    (void)curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    (void)curl_easy_setopt(e, CURLOPT_READFUNCTION, up_on_curl_read);
    (void)curl_easy_setopt(e, CURLOPT_READDATA, req);
    (void)curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(end - req->sent));
}

static void blob_upload_start(struct bt_reg_req *req)
{
    _cleanup_free_ char *d = qesc(req->digest);
    char *url = NULL;
    char range[80];
    uint64_t end;
    CURL *e;

    switch (req->step) {
    case STEP_FIRST:
        req->sent = req->committed = 0;
        if (req_http_begin(req, "POST", repo_url(req, "blobs/uploads", "")) < 0)
            return req_fail(req, BT_EINTERNAL, "out of memory");
        e = req->xfer.easy;
        (void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        (void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        return req_http_go(req);
    case STEP_UPLOAD_PATCH:
        req->sent = req->committed;
        end = req->sent + req->put.chunk_size;
        if (end > req->put.size)
            end = req->put.size;
        (void)snprintf(range, sizeof(range), "Content-Range: %" PRIu64 "-%" PRIu64, req->sent,
                       end - 1);
        if (req_http_begin(req, "PATCH", strdup(req->upload_url)) < 0 ||
            req_header(req, range) < 0 ||
            req_header(req, "Content-Type: application/octet-stream") < 0)
            return req_fail(req, BT_EINTERNAL, "out of memory");
        up_body(req, end);
        up_kick(req);
        return req_http_go(req);
    case STEP_UPLOAD_PUT:
        req->sent = req->committed;
        if (!d || asprintf(&url, "%s%cdigest=%s", req->upload_url,
                           strchr(req->upload_url, '?') ? '&' : '?', d) < 0)
            url = NULL;
        if (req_http_begin(req, "PUT", url) < 0 ||
            req_header(req, "Content-Type: application/octet-stream") < 0)
            return req_fail(req, BT_EINTERNAL, "out of memory");
        up_body(req, req->put.chunk_size ? req->sent : req->put.size);
        up_kick(req);
        return req_http_go(req);
    case STEP_MOUNT_CANCEL:
        break;
    }
    req_fail(req, BT_EINTERNAL, "upload in an impossible step");
}

static void blob_upload_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;
    bool ok;

    ok = (req->step == STEP_FIRST && req->status == 202) ||
         (req->step == STEP_UPLOAD_PATCH && req->status == 202) ||
         (req->step == STEP_UPLOAD_PUT && (req->status == 201 || req->status == 204));
    if (!ok) {
        text = bt_reg_error_text(req->body.p, req->body.len);
        if (req->status == 401 || req->status == 403)
            return req_fail(req, BT_EFORBIDDEN, "upload of blob %s: %s", req->digest,
                            text ? text : "denied: requested access to the resource is denied");
        return req_attempt_failed(req, status_transient(req->status), false, status_why(req));
    }
    if (req->step == STEP_UPLOAD_PUT)
        return req_complete(req, NULL);
    req->committed = req->sent;
    if (req->h_location) {
        set_str(&req->upload_url, resolve_location(req));
        if (!req->upload_url)
            return req_fail(req, BT_EINTERNAL, "out of memory");
    } else if (req->step == STEP_FIRST)
        return req_fail(req, BT_EINTERNAL, "upload of blob %s: registry sent no Location",
                        req->digest);
    if (req->put.chunk_size && req->sent < req->put.size)
        req->step = STEP_UPLOAD_PATCH;
    else
        req->step = STEP_UPLOAD_PUT;
    blob_upload_start(req);
}

static void login_start(struct bt_reg_req *req)
{
    char *url = NULL;

    if (!req->basic)
        return req_fail(req, BT_EFORBIDDEN, "unauthorized: incorrect username or password");
    if (asprintf(&url, "%s/v2/", req->bases[req->ep]) < 0)
        url = NULL;
    if (req_http_begin(req, "GET", url) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    req_http_go(req);
}

static void login_done(struct bt_reg_req *req)
{
    if (req->status == 200)
        return req_complete(req, NULL);
    if (req->status == 401 || req->status == 403)
        return req_fail(req, BT_EFORBIDDEN, "unauthorized: incorrect username or password");
    req_attempt_failed(req, status_transient(req->status), false, status_why(req));
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
    set_str(&req->tags_next, NULL);
}

static void tags_list_start(struct bt_reg_req *req)
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
        url = repo_url(req, "tags", req->r->tags_page_size ? tail : "list");
    }
    if (req_http_begin(req, "GET", url) < 0)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    req_http_go(req);
}

static void tags_list_finish(struct bt_reg_req *req)
{
    if (!req->tags && !(req->tags = calloc(1, sizeof(*req->tags))))
        return req_fail(req, BT_EINTERNAL, "out of memory");
    if (req->skipped_tags)
        BT_LOG(WARN, "registry", "registry listed invalid tags, ignoring them",
               "repo=\"%s\" skipped=%zu", bt_log_q(req->display), req->skipped_tags);
    req_complete(req, NULL);
}

/* A 200: take the page's tags, then ask for the next page or finish. */
static void tags_list_page(struct bt_reg_req *req)
{
    _cleanup_free_ char *ref = NULL, *next = NULL;
    char *why = NULL;
    size_t n = 0;
    int r;

    if (req->too_big)
        return req_fail(req, BT_EINTERNAL, "tag list of %s: a page is larger than %u bytes",
                        req->display, (unsigned)TAGS_BODY_MAX);
    r = tags_add_page(req, &n);
    if (r == -E2BIG)
        return req_fail(req, BT_EINTERNAL, "repository %s has more than %u tags", req->display,
                        (unsigned)BT_REG_TAGS_MAX);
    if (r == -EINVAL)
        return req_attempt_failed(req, false, true, strdup("registry sent a malformed tag list"));
    if (r == 0 && req->h_link)
        r = link_next(req->h_link, &ref);
    if (r == 0 && ref)
        r = link_resolve(req->url, ref, &next);
    if (r == -ENOMEM)
        return req_fail(req, BT_EINTERNAL, "out of memory");
    if (r < 0 || (next && (n == 0 || strcmp(next, req->url) == 0))) {
        /* Pages that bring nothing new would let a registry keep us paging. */
        if (asprintf(&why, "registry sent %s \"%s\"",
                     r < 0         ? "an unusable next page link"
                     : n == 0      ? "an empty page with a next page link"
                                   : "a next page link to the same page",
                     ref) < 0)
            why = NULL;
        return req_attempt_failed(req, false, true, why);
    }
    if (!next)
        return tags_list_finish(req);
    /* A page came through: the next one gets its own tries and a fresh 401. */
    set_str(&req->tags_next, TAKE_PTR(next));
    req->tries = 0;
    req->reauthed = false;
    tags_list_start(req);
}

static void tags_list_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;

    if (req->status == 200)
        return tags_list_page(req);
    if (req->status == 404) {
        if (req->ep + 1 < req->n_bases)
            return req_attempt_failed(req, false, true, status_why(req));
        return req_fail(req, BT_ENOTFOUND,
                        "repository %s not found: does not exist or no pull access", req->display);
    }
    if (req->status == 401 || req->status == 403) {
        text = unauthorized_text(req);
        return req_fail(req, BT_EFORBIDDEN,
                        "pull access denied for %s, repository does not exist or may require "
                        "'docker login': %s",
                        req->display, text ? text : "denied");
    }
    req_attempt_failed(req, status_transient(req->status), status_transient(req->status),
                       status_why(req));
}

static void req_main(struct bt_reg_req *req)
{
    req_set_state(req, REQ_MAIN);
    switch (req->op) {
    case OP_MANIFEST_GET:
        return manifest_get_start(req);
    case OP_MANIFEST_PUT:
        return manifest_put_start(req);
    case OP_BLOB_GET:
        return blob_get_start(req);
    case OP_BLOB_HEAD:
        return blob_head_start(req);
    case OP_BLOB_MOUNT:
        return blob_mount_start(req);
    case OP_BLOB_UPLOAD:
        return blob_upload_start(req);
    case OP_LOGIN:
        return login_start(req);
    case OP_TAGS_LIST:
        return tags_list_start(req);
    case OP_MAX:
        break;
    }
}

static void req_on_http_done(struct bt_curl_xfer *x, CURLcode result)
{
    struct bt_reg_req *req = container_of(x, struct bt_reg_req, xfer);
    long code = 0;

    if (req->state == REQ_CANCELLED)
        return req_close(req);
    if (req->state >= REQ_DONE)
        return;
    if (req->op == OP_BLOB_GET && req->state == REQ_MAIN)
        uv_timer_stop(&req->timer);
    if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code)
        req->status = code;
    if (result != CURLE_OK) {
        if (req->cb_errno) {
            char what[200];
            return req_fail(req, BT_EINTERNAL, "%s: %s", req_what(req, what, sizeof(what)),
                            req->last_error && req->cb_errno == -EPROTO ? req->last_error
                                                                        : strerror(-req->cb_errno));
        }
        if (req->too_big)
            return req->op == OP_TAGS_LIST ? tags_list_done(req) : manifest_got(req);
        if (result == CURLE_WRITE_ERROR && req->last_error && req->op == OP_BLOB_GET)
            return req_attempt_failed(req, true, false, strdup(req->last_error));
        return req_attempt_failed(req, curl_transient(result), true, curl_why(req, result));
    }
    switch (req->state) {
    case REQ_PROBE:
        return req_on_probe(req);
    case REQ_TOKEN:
        return req_on_token(req);
    case REQ_MAIN:
        break;
    default:
        return;
    }
    if (req->status == 401 && req->op != OP_LOGIN && req_reauth(req))
        return;
    switch (req->op) {
    case OP_MANIFEST_GET:
        return manifest_get_done(req);
    case OP_MANIFEST_PUT:
        return manifest_put_done(req);
    case OP_BLOB_GET:
        return blob_get_done(req);
    case OP_BLOB_HEAD:
        return blob_head_done(req);
    case OP_BLOB_MOUNT:
        return blob_mount_done(req);
    case OP_BLOB_UPLOAD:
        return blob_upload_done(req);
    case OP_LOGIN:
        return login_done(req);
    case OP_TAGS_LIST:
        return tags_list_done(req);
    case OP_MAX:
        break;
    }
}

/* ---- starting requests -------------------------------------------------------- */

static void req_on_start(uv_timer_t *t)
{
    struct bt_reg_req *req = container_of(t, struct bt_reg_req, timer);

    if (req->op == OP_BLOB_GET && req->get.size && req->received >= req->get.size) {
        req->total = req->get.size;
        return blob_complete(req); /* the sink has it all already */
    }
    req_auth(req);
}

static char *display_name(const char *host, const char *name)
{
    char *d = NULL;

    if (strcmp(host, BT_REG_DOCKER_HUB) == 0)
        return strdup(strncmp(name, "library/", 8) == 0 ? name + 8 : name);
    if (asprintf(&d, "%s/%s", host, name) < 0)
        return NULL;
    return d;
}

static char *cred_id(const struct bt_reg_creds *c)
{
    struct bt_sha256 *h;
    char d[BT_DIGEST_STR_LEN + 1];
    const char *parts[3];

    if (bt_reg_creds_empty(c))
        return strdup("anonymous");
    parts[0] = c->username;
    parts[1] = c->password;
    parts[2] = c->identitytoken;
    h = bt_sha256_new();
    if (!h)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
        bt_sha256_update(h, parts[i] ? parts[i] : "", parts[i] ? strlen(parts[i]) + 1 : 1);
    bt_sha256_final(h, d);
    bt_sha256_free(h);
    return strdup(bt_digest_hex(d));
}

/* Endpoints: mirrors first for pulls from Docker Hub, then the registry itself. */
static int req_endpoints(struct bt_reg_req *req, bool pull)
{
    struct bt_registry *r = req->r;
    bool hub = strcmp(req->host, BT_REG_DOCKER_HUB) == 0;
    size_t n = (pull && hub ? r->n_mirrors : 0) + 1;

    req->bases = calloc(n + 1, sizeof(*req->bases));
    if (!req->bases)
        return -ENOMEM;
    req->n_bases = n;
    for (size_t i = 0; i + 1 < n; i++)
        if (!(req->bases[i] = strdup(r->mirrors[i])))
            return -ENOMEM;
    return bt_reg_endpoint_url(req->host, (const char *const *)r->insecure, r->n_insecure,
                               &req->bases[n - 1]);
}

static int req_new(struct bt_registry *r, enum req_op op, const char *host,
                   const struct bt_reg_target *t, const struct bt_reg_creds *creds,
                   struct bt_reg_req **ret, struct bt_err **err)
{
    struct bt_reg_req *req;
    int rc;

    if (r->closing)
        return bt_err_set(err, BT_EUNAVAIL, 0, "registry client is shutting down");
    if (!host || !*host || strpbrk(host, "/ @?#"))
        return bt_err_set(err, BT_EINVAL, 0, "invalid registry host");
    if (t && !name_valid(t->name))
        return bt_err_set(err, BT_EINVAL, 0, "invalid repository name \"%s\"",
                          t->name ? t->name : "");
    req = calloc(1, sizeof(*req));
    if (!req)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "registry request");
    req->r = r;
    req->op = op;
    bt_buf_init(&req->body, op == OP_MANIFEST_GET ? BT_REG_MANIFEST_MAX
                            : op == OP_TAGS_LIST  ? TAGS_BODY_MAX
                                                  : TOKEN_BODY_MAX);
    req->host = strdup(strcasecmp(host, "index.docker.io") == 0 ? BT_REG_DOCKER_HUB : host);
    req->creds = bt_reg_creds_dup(creds);
    req->cred_id = cred_id(creds);
    rc = req->host && req->cred_id && (!creds || req->creds) ? 0 : -ENOMEM;
    if (rc == 0 && t) {
        req->name = strdup(t->name);
        req->display = t->display ? strdup(t->display) : display_name(req->host, t->name);
        rc = req->name && req->display ? 0 : -ENOMEM;
    }
    if (rc == 0)
        rc = req_endpoints(req, op == OP_MANIFEST_GET || op == OP_BLOB_GET || op == OP_TAGS_LIST);
    /* The loop owns the timer from here on: freeing goes through its close. */
    (void)uv_timer_init(r->loop, &req->timer);
    req->timer.data = req;
    req->open = 1;
    r->live++;
    req->next = r->reqs;
    if (r->reqs)
        r->reqs->prev = req;
    r->reqs = req;
    if (rc < 0) {
        req_close(req);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "registry request");
    }
    *ret = req;
    return 0;
}

static int req_set_scope(struct bt_reg_req *req, const char *actions, const char *from)
{
    char *s = NULL;
    int n;

    if (from)
        n = asprintf(&s, "repository:%s:%s repository:%s:pull", req->name, actions, from);
    else
        n = asprintf(&s, "repository:%s:%s", req->name, actions);
    if (n < 0)
        return -ENOMEM;
    req->scope = s;
    return 0;
}

static int req_launch(struct bt_reg_req *req, struct bt_reg_req **ret_req, struct bt_err **err)
{
    if (uv_timer_start(&req->timer, req_on_start, 0, 0) < 0) {
        req_close(req);
        return bt_err_set(err, BT_EINTERNAL, 0, "registry request timer");
    }
    if (ret_req)
        *ret_req = req;
    return 0;
}

static int req_bad(struct bt_reg_req *req, struct bt_err **err, enum bt_err_code code,
                   const char *msg)
{
    req_close(req);
    return bt_err_set(err, code, code == BT_EINTERNAL ? ENOMEM : 0, "%s", msg);
}

int bt_reg_manifest_get(struct bt_registry *r, const struct bt_reg_target *t, const char *ref,
                        bt_reg_manifest_fn cb, void *data, struct bt_reg_req **ret_req,
                        struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!ref || !(ref_is_digest(ref) ? bt_digest_valid(ref) : tag_valid(ref)))
        return bt_err_set(err, BT_EINVAL, 0, "invalid reference format");
    if (req_new(r, OP_MANIFEST_GET, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.manifest = cb;
    req->cb_data = data;
    if (!(req->ref = strdup(ref)) || req_set_scope(req, "pull", NULL) < 0)
        return req_bad(req, err, BT_EINTERNAL, "registry request");
    return req_launch(req, ret_req, err);
}

int bt_reg_manifest_put(struct bt_registry *r, const struct bt_reg_target *t, const char *ref,
                        const char *media_type, const char *body, size_t len, bt_reg_put_fn cb,
                        void *data, struct bt_reg_req **ret_req, struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!ref || !(ref_is_digest(ref) ? bt_digest_valid(ref) : tag_valid(ref)))
        return bt_err_set(err, BT_EINVAL, 0, "invalid reference format");
    if (!media_type || !*media_type || strpbrk(media_type, "\r\n"))
        return bt_err_set(err, BT_EINVAL, 0, "invalid manifest media type");
    if (req_new(r, OP_MANIFEST_PUT, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.put = cb;
    req->cb_data = data;
    req->mbody = body;
    req->mlen = len;
    bt_sha256_digest(body, len, req->digest);
    if (ref_is_digest(ref) && strcmp(ref, req->digest) != 0)
        return req_bad(req, err, BT_EINVAL, "manifest does not match the digest it is put under");
    if (!(req->ref = strdup(ref)) || !(req->media_type = strdup(media_type)) ||
        req_set_scope(req, "pull,push", NULL) < 0)
        return req_bad(req, err, BT_EINTERNAL, "registry request");
    return req_launch(req, ret_req, err);
}

int bt_reg_blob_get(struct bt_registry *r, const struct bt_reg_target *t,
                    const struct bt_reg_blob_get *opts, struct bt_reg_req **ret_req,
                    struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!bt_digest_valid(opts->digest))
        return bt_err_set(err, BT_EINVAL, 0, "invalid blob digest");
    if (!opts->sink || !opts->done)
        return bt_err_set(err, BT_EINTERNAL, 0, "blob download without sink or callback");
    if (opts->verify && opts->offset)
        return bt_err_set(err, BT_EINVAL, 0, "a blob resumed at an offset cannot be verified");
    if (req_new(r, OP_BLOB_GET, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->get = *opts;
    req->get.digest = NULL;
    memcpy(req->digest, opts->digest, sizeof(req->digest));
    req->received = opts->offset;
    req->total = opts->size;
    if (opts->verify && !(req->sha = bt_sha256_new()))
        return req_bad(req, err, BT_EINTERNAL, "registry request");
    if (req_set_scope(req, "pull", NULL) < 0)
        return req_bad(req, err, BT_EINTERNAL, "registry request");
    return req_launch(req, ret_req, err);
}

int bt_reg_blob_exists(struct bt_registry *r, const struct bt_reg_target *t, const char *digest,
                       bt_reg_exists_fn cb, void *data, struct bt_reg_req **ret_req,
                       struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!bt_digest_valid(digest))
        return bt_err_set(err, BT_EINVAL, 0, "invalid blob digest");
    if (req_new(r, OP_BLOB_HEAD, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.exists = cb;
    req->cb_data = data;
    memcpy(req->digest, digest, sizeof(req->digest));
    if (req_set_scope(req, "pull,push", NULL) < 0)
        return req_bad(req, err, BT_EINTERNAL, "registry request");
    return req_launch(req, ret_req, err);
}

int bt_reg_blob_mount(struct bt_registry *r, const struct bt_reg_target *t, const char *digest,
                      const char *from, bt_reg_mount_fn cb, void *data, struct bt_reg_req **ret_req,
                      struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!bt_digest_valid(digest))
        return bt_err_set(err, BT_EINVAL, 0, "invalid blob digest");
    if (!name_valid(from))
        return bt_err_set(err, BT_EINVAL, 0, "invalid repository name \"%s\"", from ? from : "");
    if (req_new(r, OP_BLOB_MOUNT, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.mount = cb;
    req->cb_data = data;
    memcpy(req->digest, digest, sizeof(req->digest));
    if (!(req->from = strdup(from)) || req_set_scope(req, "pull,push", from) < 0)
        return req_bad(req, err, BT_EINTERNAL, "registry request");
    return req_launch(req, ret_req, err);
}

int bt_reg_blob_upload(struct bt_registry *r, const struct bt_reg_target *t,
                       const struct bt_reg_blob_put *opts, struct bt_reg_req **ret_req,
                       struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!bt_digest_valid(opts->digest))
        return bt_err_set(err, BT_EINVAL, 0, "invalid blob digest");
    if (opts->fd < 0 || !opts->done)
        return bt_err_set(err, BT_EINTERNAL, 0, "blob upload without file or callback");
    if (req_new(r, OP_BLOB_UPLOAD, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->put = *opts;
    req->put.digest = NULL;
    memcpy(req->digest, opts->digest, sizeof(req->digest));
    if (req_set_scope(req, "pull,push", NULL) < 0)
        return req_bad(req, err, BT_EINTERNAL, "registry request");
    return req_launch(req, ret_req, err);
}

int bt_reg_login(struct bt_registry *r, const char *host, const struct bt_reg_creds *creds,
                 bt_reg_login_fn cb, void *data, struct bt_reg_req **ret_req, struct bt_err **err)
{
    struct bt_reg_req *req;

    if (req_new(r, OP_LOGIN, host, NULL, creds, &req, err) < 0)
        return -1;
    req->cb.login = cb;
    req->cb_data = data;
    return req_launch(req, ret_req, err);
}

int bt_reg_tags_list(struct bt_registry *r, const struct bt_reg_target *t, bt_reg_tags_fn cb,
                     void *data, struct bt_reg_req **ret_req, struct bt_err **err)
{
    struct bt_reg_req *req;

    if (req_new(r, OP_TAGS_LIST, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.tags = cb;
    req->cb_data = data;
    if (req_set_scope(req, "pull", NULL) < 0)
        return req_bad(req, err, BT_EINTERNAL, "registry request");
    return req_launch(req, ret_req, err);
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
