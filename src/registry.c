#include <config.h>

/* The registry client: one struct bt_reg_req per operation, driven by
 * libcurl's multi interface on the loop (curl_uv.c).
 *
 * A request walks: START -> [PROBE /v2/] -> [TOKEN] -> MAIN (one or more
 * exchanges, per operation) -> DONE -> CLOSING. Transient failures go to
 * BACKOFF and back to the auth step; a mirror that fails falls through to the
 * next endpoint. Only req_set_state() changes the state.
 *
 * The operations live in registry_blob.c and registry_manifest.c; what the
 * files share is in registry-internal.h. */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/buf.h"
#include "berth/curl_uv.h"
#include "berth/digest.h"
#include "berth/err.h"
#include "berth/log.h"
#include "berth/registry.h"
#include "berth/version.h"
#include "src/registry-internal.h"

#define HEADER_MAX (64 * 1024)
#define ERROR_BODY_MAX (64 * 1024)
#define TOKEN_BODY_MAX (1024 * 1024)
#define DOWNLOAD_BUF_SIZE (128 * 1024) /* fewer, bigger pieces for the sink */
#define MAX_ATTEMPTS 20                /* all attempts of one request, resumed ones included */
#define MAX_REDIRECTS 10

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
char *bt_reg__qesc(const char *s)
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

bool bt_reg__name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 255 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("._/-", *s)))
            return false;
    return true;
}

bool bt_reg__ref_is_digest(const char *ref)
{
    return strchr(ref, ':') != NULL;
}

static char *xstrdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void bt_reg__set_str(char **dst, char *s)
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
    struct bt_registry *r;

    if (bt_dl_curl_load(err) < 0)
        return -1;
    r = calloc(1, sizeof(*r));

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
        bt_reg__set_str(&h->realm, xstrdup_or_null(pick->realm));
        bt_reg__set_str(&h->service, xstrdup_or_null(pick->service));
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

void bt_reg__req_free(struct bt_reg_req *req)
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
        bt_reg__req_free(req);
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
void bt_reg__req_complete(struct bt_reg_req *req, struct bt_err *e)
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

void bt_reg__req_fail(struct bt_reg_req *req, enum bt_err_code code, const char *fmt, ...)
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
    bt_reg__req_complete(req, e);
}

/* ---- one HTTP exchange -------------------------------------------------------- */

static void resp_reset(struct bt_reg_req *req)
{
    req->status = 0;
    req->h_clen = -1;
    bt_reg__set_str(&req->h_www, NULL);
    bt_reg__set_str(&req->h_ctype, NULL);
    bt_reg__set_str(&req->h_digest, NULL);
    bt_reg__set_str(&req->h_location, NULL);
    bt_reg__set_str(&req->h_range, NULL);
    bt_reg__set_str(&req->h_link, NULL);
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
        bt_reg__set_str(&req->h_www, joined ? joined : strndup(v, vlen));
    } else if (header_is(buf, len, "Link", &v, &vlen)) {
        if (req->h_link && asprintf(&joined, "%s, %.*s", req->h_link, (int)vlen, v) < 0)
            return 0;
        bt_reg__set_str(&req->h_link, joined ? joined : strndup(v, vlen));
    } else if (header_is(buf, len, "Content-Type", &v, &vlen))
        bt_reg__set_str(&req->h_ctype, strndup(v, vlen));
    else if (header_is(buf, len, "Docker-Content-Digest", &v, &vlen))
        bt_reg__set_str(&req->h_digest, strndup(v, vlen));
    else if (header_is(buf, len, "Location", &v, &vlen))
        bt_reg__set_str(&req->h_location, strndup(v, vlen));
    else if (header_is(buf, len, "Content-Range", &v, &vlen))
        bt_reg__set_str(&req->h_range, strndup(v, vlen));
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

static size_t req_on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct bt_reg_req *req = userdata;
    size_t len = size * nmemb;
    int r;

    if (req->state >= REQ_CANCELLED)
        return 0;
    if (req->op == OP_BLOB_GET && req->state == REQ_MAIN &&
        (req->status == 200 || req->status == 206))
        return bt_reg__blob_write(req, data, len);
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

/* A fresh easy handle for one exchange; the caller adds headers, then bt_reg__req_http_go(). */
int bt_reg__req_http_begin(struct bt_reg_req *req, const char *method, char *url_take)
{
    struct bt_registry *r = req->r;
    CURL *e;

    curl_easy_cleanup(req->xfer.easy);
    curl_slist_free_all(req->hdrs);
    req->hdrs = NULL;
    bt_reg__set_str(&req->url, url_take);
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
        (void)curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)BT_REG__UPLOAD_BUF_SIZE);
    if (!(req->op == OP_BLOB_GET && req->state == REQ_MAIN)) {
        /* Blob downloads have their own stall timer, which knows about pauses. */
        (void)curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        (void)curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)((r->stall_ms + 999) / 1000));
    }
    req->hdrs = curl_slist_append(req->hdrs, "Expect:");
    return req->hdrs ? 0 : -ENOMEM;
}

int bt_reg__req_header(struct bt_reg_req *req, const char *h)
{
    struct curl_slist *l = curl_slist_append(req->hdrs, h);

    if (!l)
        return -ENOMEM;
    req->hdrs = l;
    return 0;
}

void bt_reg__req_http_go(struct bt_reg_req *req)
{
    struct bt_err *e = NULL;
    CURL *c = req->xfer.easy;

    if (req->state == REQ_MAIN && req->bearer && bt_reg__req_header(req, req->bearer) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    if (req->state == REQ_MAIN && req->basic && req->creds) {
        (void)curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        (void)curl_easy_setopt(c, CURLOPT_USERNAME, req->creds->username);
        (void)curl_easy_setopt(c, CURLOPT_PASSWORD,
                               req->creds->password ? req->creds->password : "");
    }
    (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->hdrs);
    BT_LOG(TRACE, "registry", "request", "method=%s url=\"%s\"", req->method, bt_log_q(req->url));
    if (bt_curl_uv_add(req->r->cu, &req->xfer, &e) < 0)
        bt_reg__req_complete(req, e);
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

bool bt_reg__status_transient(long s)
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
                       bt_reg__ref_is_digest(req->ref) ? "@" : ":", req->ref);
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
void bt_reg__req_attempt_failed(struct bt_reg_req *req, bool transient, bool fallthrough, char *why)
{
    struct bt_registry *r = req->r;
    char what[200];
    uint64_t delay;

    bt_reg__set_str(&req->last_error, why ? why : strdup("failed"));
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
        return bt_reg__req_fail(req, BT_EINTERNAL, "%s failed after %u attempts: %s",
                                req_what(req, what, sizeof(what)), req->attempts + 1,
                                req->last_error);
    }
    bt_reg__req_fail(req, BT_EINTERNAL, "%s failed: %s", req_what(req, what, sizeof(what)),
                     req->last_error);
}

/* A TLS handshake answered in plain HTTP: the registry wants http, which
 * only insecure-registries allows. OpenSSL reports it as a record with a
 * "wrong version number"; retrying cannot help. */
static bool plain_http_answer(const struct bt_reg_req *req, CURLcode c)
{
    return c == CURLE_SSL_CONNECT_ERROR && strstr(req->errbuf, "wrong version number") != NULL;
}

static char *curl_why(struct bt_reg_req *req, CURLcode c)
{
    char *s = NULL;

    if (plain_http_answer(req, c)) {
        if (asprintf(&s, "%s \"%s\": http: server gave HTTP response to HTTPS client (list the "
                     "registry in insecure-registries to use plain HTTP)", req->method, req->url) < 0)
            return NULL;
        return s;
    }
    if (asprintf(&s, "%s \"%s\": %s", req->method, req->url,
                 req->errbuf[0] ? req->errbuf : curl_easy_strerror(c)) < 0)
        return NULL;
    return s;
}

char *bt_reg__status_why(struct bt_reg_req *req)
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
    if (bt_reg__req_http_begin(req, "GET", url) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    bt_reg__req_http_go(req);
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
        _cleanup_free_ char *one = strndup(p, n), *e = one ? bt_reg__qesc(one) : NULL;
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
    _cleanup_free_ char *svc = bt_reg__qesc(ha->service ? ha->service : "");
    struct bt_buf q;
    CURL *e;

    bt_buf_init(&q, 0);
    req_set_state(req, REQ_TOKEN);
    if (!svc || bt_buf_appendf(&q, "service=%s", svc) < 0 || append_scopes(&q, req->scope) < 0 ||
        (req->op == OP_LOGIN && bt_buf_appendf(&q, "&offline_token=true&client_id=berth") < 0))
        goto oom;
    if (refresh) {
        _cleanup_free_ char *rt = bt_reg__qesc(c->identitytoken);
        if (!rt || bt_buf_appendf(&q,
                                  "&grant_type=refresh_token&client_id=berth&"
                                  "refresh_token=%s",
                                  rt) < 0)
            goto oom;
        if (bt_reg__req_http_begin(req, "POST", strdup(ha->realm)) < 0)
            goto oom;
        e = req->xfer.easy;
        (void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)q.len);
        (void)curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, q.p);
        explicit_bzero(q.p, q.len);
    } else {
        char *url = NULL;
        if (asprintf(&url, "%s%c%s", ha->realm, strchr(ha->realm, '?') ? '&' : '?', q.p) < 0)
            url = NULL;
        if (bt_reg__req_http_begin(req, "GET", url) < 0)
            goto oom;
        e = req->xfer.easy;
        if (c && c->username && *c->username) {
            (void)curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            (void)curl_easy_setopt(e, CURLOPT_USERNAME, c->username);
            (void)curl_easy_setopt(e, CURLOPT_PASSWORD, c->password ? c->password : "");
        }
    }
    bt_buf_done(&q);
    return bt_reg__req_http_go(req);
oom:
    bt_buf_done(&q);
    bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
}

static int set_bearer(struct bt_reg_req *req, const char *token)
{
    char *h = NULL;

    if (asprintf(&h, "Authorization: Bearer %s", token) < 0)
        return -ENOMEM;
    if (req->bearer)
        explicit_bzero(req->bearer, strlen(req->bearer));
    bt_reg__set_str(&req->bearer, h);
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
    bt_reg__set_str(&req->bearer, NULL);
    if (c && c->registrytoken && *c->registrytoken && req->op != OP_LOGIN) {
        if (set_bearer(req, c->registrytoken) < 0)
            return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
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
            return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
        tok = req->op == OP_LOGIN ? NULL : bt_reg_token_cache_get(r->tokens, key);
        if (!tok)
            return req_token(req, ha);
        if (set_bearer(req, tok) < 0)
            return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
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
            return bt_reg__req_fail(
                req, BT_EFORBIDDEN,
                "unauthorized: %s asks for an authentication scheme berth does not "
                "support",
                req->bases[req->ep]);
    } else if (bt_reg__status_transient(req->status)) {
        return bt_reg__req_attempt_failed(req, true, true, bt_reg__status_why(req));
    } else {
        /* As dockerd: anything but 401 means no authentication. */
        host_auth_set_none(r, req->bases[req->ep]);
        if (req->op == OP_LOGIN)
            return bt_reg__req_complete(req, NULL);
    }
    req_auth(req);
}

static void req_on_token(struct bt_reg_req *req)
{
    struct bt_registry *r = req->r;
    _cleanup_free_ char *key = NULL, *tok = NULL, *refresh = NULL, *text = NULL;
    int64_t expires = 0;
    bool have_creds = !bt_reg_creds_empty(req->creds);

    if (bt_reg__status_transient(req->status))
        return bt_reg__req_attempt_failed(req, true, true, bt_reg__status_why(req));
    if (req->status == 401 || req->status == 403) {
        text = bt_reg_error_text(req->body.p, req->body.len);
        return bt_reg__req_fail(req, BT_EFORBIDDEN, "%s",
                                have_creds
                                    ? "unauthorized: incorrect username or password"
                                    : (text ? text : "unauthorized: authentication required"));
    }
    if (req->status != 200 ||
        bt_reg_token_response_parse(req->body.p, req->body.len, &tok, &expires, &refresh) < 0)
        return bt_reg__req_attempt_failed(req, false, true,
                                          req->status == 200 ? strdup("token server sent no token")
                                                             : bt_reg__status_why(req));
    if (req->body.p)
        explicit_bzero(req->body.p, req->body.len);
    if (req->op == OP_LOGIN) {
        req->identity_token = TAKE_PTR(refresh);
        if (tok)
            explicit_bzero(tok, strlen(tok));
        return bt_reg__req_complete(req, NULL);
    }
    key = token_key(req);
    if (!key || bt_reg_token_cache_put(r->tokens, key, tok, expires) < 0 ||
        set_bearer(req, tok) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
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

char *bt_reg__unauthorized_text(struct bt_reg_req *req)
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

char *bt_reg__repo_url(struct bt_reg_req *req, const char *kind, const char *tail)
{
    char *u = NULL;

    if (asprintf(&u, "%s/v2/%s/%s/%s", req->bases[req->ep], req->name, kind, tail) < 0)
        return NULL;
    return u;
}

static void req_main(struct bt_reg_req *req)
{
    req_set_state(req, REQ_MAIN);
    switch (req->op) {
    case OP_MANIFEST_GET:
        return bt_reg__manifest_get_start(req);
    case OP_MANIFEST_PUT:
        return bt_reg__manifest_put_start(req);
    case OP_BLOB_GET:
        return bt_reg__blob_get_start(req);
    case OP_BLOB_HEAD:
        return bt_reg__blob_head_start(req);
    case OP_BLOB_MOUNT:
        return bt_reg__blob_mount_start(req);
    case OP_BLOB_UPLOAD:
        return bt_reg__blob_upload_start(req);
    case OP_LOGIN:
        return bt_reg__login_start(req);
    case OP_TAGS_LIST:
        return bt_reg__tags_list_start(req);
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
            return bt_reg__req_fail(req, BT_EINTERNAL, "%s: %s", req_what(req, what, sizeof(what)),
                                    req->last_error && req->cb_errno == -EPROTO
                                        ? req->last_error
                                        : strerror(-req->cb_errno));
        }
        if (req->too_big)
            return req->op == OP_TAGS_LIST ? bt_reg__tags_list_done(req)
                                           : bt_reg__manifest_got(req);
        if (result == CURLE_WRITE_ERROR && req->last_error && req->op == OP_BLOB_GET)
            return bt_reg__req_attempt_failed(req, true, false, strdup(req->last_error));
        return bt_reg__req_attempt_failed(req, curl_transient(result) && !plain_http_answer(req, result),
                                          true, curl_why(req, result));
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
        return bt_reg__manifest_get_done(req);
    case OP_MANIFEST_PUT:
        return bt_reg__manifest_put_done(req);
    case OP_BLOB_GET:
        return bt_reg__blob_get_done(req);
    case OP_BLOB_HEAD:
        return bt_reg__blob_head_done(req);
    case OP_BLOB_MOUNT:
        return bt_reg__blob_mount_done(req);
    case OP_BLOB_UPLOAD:
        return bt_reg__blob_upload_done(req);
    case OP_LOGIN:
        return bt_reg__login_done(req);
    case OP_TAGS_LIST:
        return bt_reg__tags_list_done(req);
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
        return bt_reg__blob_complete(req); /* the sink has it all already */
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

int bt_reg__req_new(struct bt_registry *r, enum req_op op, const char *host,
                    const struct bt_reg_target *t, const struct bt_reg_creds *creds,
                    struct bt_reg_req **ret, struct bt_err **err)
{
    struct bt_reg_req *req;
    int rc;

    if (r->closing)
        return bt_err_set(err, BT_EUNAVAIL, 0, "registry client is shutting down");
    if (!host || !*host || strpbrk(host, "/ @?#"))
        return bt_err_set(err, BT_EINVAL, 0, "invalid registry host");
    if (t && !bt_reg__name_valid(t->name))
        return bt_err_set(err, BT_EINVAL, 0, "invalid repository name \"%s\"",
                          t->name ? t->name : "");
    req = calloc(1, sizeof(*req));
    if (!req)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "registry request");
    req->r = r;
    req->op = op;
    bt_buf_init(&req->body, op == OP_MANIFEST_GET ? BT_REG_MANIFEST_MAX
                            : op == OP_TAGS_LIST  ? BT_REG__TAGS_BODY_MAX
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

int bt_reg__req_set_scope(struct bt_reg_req *req, const char *actions, const char *from)
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

int bt_reg__req_launch(struct bt_reg_req *req, struct bt_reg_req **ret_req, struct bt_err **err)
{
    if (uv_timer_start(&req->timer, req_on_start, 0, 0) < 0) {
        req_close(req);
        return bt_err_set(err, BT_EINTERNAL, 0, "registry request timer");
    }
    if (ret_req)
        *ret_req = req;
    return 0;
}

int bt_reg__req_bad(struct bt_reg_req *req, struct bt_err **err, enum bt_err_code code,
                    const char *msg)
{
    req_close(req);
    return bt_err_set(err, code, code == BT_EINTERNAL ? ENOMEM : 0, "%s", msg);
}
