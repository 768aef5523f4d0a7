#include <config.h>

/* Blobs: the download with Range resume, pause and the stall timer, and the
 * HEAD, cross-repository mount and upload used by pushes. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/curl_uv.h"
#include "berth/digest.h"
#include "berth/err.h"
#include "berth/registry.h"
#include "src/registry-internal.h"

/* ---- blob download ------------------------------------------------------------ */

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
            bt_reg__set_str(&req->last_error, strdup("registry sent the wrong range"));
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

size_t bt_reg__blob_write(struct bt_reg_req *req, const char *data, size_t len)
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
        bt_reg__set_str(&req->last_error, strdup("registry sent more bytes than the blob has"));
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

static void blob_stall_check(uv_timer_t *t);

void bt_reg__blob_get_start(struct bt_reg_req *req)
{
    struct bt_registry *r = req->r;
    uint64_t period = r->stall_ms / 4 ? r->stall_ms / 4 : 1;
    char range[64];

    if (period > 1000)
        period = 1000;
    if (bt_reg__req_http_begin(req, "GET", bt_reg__repo_url(req, "blobs", req->digest)) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    req->range_from = req->received;
    req->body_started = false;
    req->paused = false;
    if (req->received > 0) {
        (void)snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", req->received);
        if (bt_reg__req_header(req, range) < 0)
            return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    }
    req->last_data_ms = uv_now(r->loop);
    (void)uv_timer_start(&req->timer, blob_stall_check, period, period);
    bt_reg__req_http_go(req);
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
    bt_reg__req_attempt_failed(req, true, true, why);
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

void bt_reg__blob_complete(struct bt_reg_req *req)
{
    char got[BT_DIGEST_STR_LEN + 1];

    if (req->sha) {
        bt_sha256_final(req->sha, got);
        bt_sha256_free(req->sha);
        req->sha = NULL;
        if (strcmp(got, req->digest) != 0)
            return bt_reg__req_fail(req, BT_EINTERNAL,
                                    "digest mismatch for blob %s: the registry sent %s",
                                    req->digest, got);
    }
    bt_reg__req_complete(req, NULL);
}

void bt_reg__blob_get_done(struct bt_reg_req *req)
{
    uv_timer_stop(&req->timer);
    if (req->status == 200 || req->status == 206) {
        if (req->total && req->received < req->total)
            return bt_reg__req_attempt_failed(
                req, true, false, strdup("connection closed before the end of the blob"));
        return bt_reg__blob_complete(req);
    }
    if (req->status == 416 && req->total && req->received == req->total)
        return bt_reg__blob_complete(req);
    if (req->status == 404) {
        if (req->ep + 1 < req->n_bases)
            return bt_reg__req_attempt_failed(req, false, true, bt_reg__status_why(req));
        return bt_reg__req_fail(req, BT_ENOTFOUND, "blob %s not found in %s: blob unknown",
                                req->digest, req->display);
    }
    if (req->status == 401 || req->status == 403) {
        _cleanup_free_ char *text = bt_reg__unauthorized_text(req);
        return bt_reg__req_fail(req, BT_EFORBIDDEN, "download of blob %s: %s", req->digest,
                                text ? text : "denied");
    }
    bt_reg__req_attempt_failed(req, bt_reg__status_transient(req->status),
                               bt_reg__status_transient(req->status), bt_reg__status_why(req));
}

/* -- HEAD and mount -- */

void bt_reg__blob_head_start(struct bt_reg_req *req)
{
    if (bt_reg__req_http_begin(req, "HEAD", bt_reg__repo_url(req, "blobs", req->digest)) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    bt_reg__req_http_go(req);
}

void bt_reg__blob_head_done(struct bt_reg_req *req)
{
    if (req->status == 200) {
        req->exists = true;
        req->exists_size = req->h_clen > 0 ? (uint64_t)req->h_clen : 0;
        return bt_reg__req_complete(req, NULL);
    }
    if (req->status == 404)
        return bt_reg__req_complete(req, NULL);
    if (req->status == 401 || req->status == 403)
        return bt_reg__req_fail(req, BT_EFORBIDDEN,
                                "blob %s: denied: requested access to the resource "
                                "is denied",
                                req->digest);
    bt_reg__req_attempt_failed(req, bt_reg__status_transient(req->status), false,
                               bt_reg__status_why(req));
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

void bt_reg__blob_mount_start(struct bt_reg_req *req)
{
    _cleanup_free_ char *d = bt_reg__qesc(req->digest), *f = bt_reg__qesc(req->from), *tail = NULL;
    CURL *e;

    if (req->step == STEP_MOUNT_CANCEL) {
        if (bt_reg__req_http_begin(req, "DELETE", strdup(req->upload_url)) < 0)
            return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
        return bt_reg__req_http_go(req);
    }
    if (!d || !f || asprintf(&tail, "?mount=%s&from=%s", d, f) < 0 ||
        bt_reg__req_http_begin(req, "POST", bt_reg__repo_url(req, "blobs/uploads", tail)) < 0)
        return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    e = req->xfer.easy;
    (void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    (void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    bt_reg__req_http_go(req);
}

void bt_reg__blob_mount_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;

    if (req->step == STEP_MOUNT_CANCEL)
        return bt_reg__req_complete(req, NULL); /* best effort: the registry expires it anyway */
    if (req->status == 201) {
        req->mounted = true;
        return bt_reg__req_complete(req, NULL);
    }
    if (req->status == 202) {
        bt_reg__set_str(&req->upload_url, resolve_location(req));
        if (!req->upload_url)
            return bt_reg__req_complete(req, NULL);
        req->step = STEP_MOUNT_CANCEL;
        return bt_reg__blob_mount_start(req);
    }
    text = bt_reg_error_text(req->body.p, req->body.len);
    if (req->status == 401 || req->status == 403)
        return bt_reg__req_fail(req, BT_EFORBIDDEN, "mount of blob %s from %s: %s", req->digest,
                                req->from, text ? text : "denied");
    bt_reg__req_attempt_failed(req, false, false, bt_reg__status_why(req));
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
            bt_reg__req_free(req);
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
    if (!b->data && !(b->data = malloc(BT_REG__UPLOAD_BUF_SIZE))) {
        req->cb_errno = -ENOMEM;
        return;
    }
    left = req->body_end - req->next_fill;
    ub = uv_buf_init(b->data,
                     (unsigned)(left < BT_REG__UPLOAD_BUF_SIZE ? left : BT_REG__UPLOAD_BUF_SIZE));
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

void bt_reg__blob_upload_start(struct bt_reg_req *req)
{
    _cleanup_free_ char *d = bt_reg__qesc(req->digest);
    char *url = NULL;
    char range[80];
    uint64_t end;
    CURL *e;

    switch (req->step) {
    case STEP_FIRST:
        req->sent = req->committed = 0;
        if (bt_reg__req_http_begin(req, "POST", bt_reg__repo_url(req, "blobs/uploads", "")) < 0)
            return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
        e = req->xfer.easy;
        (void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        (void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        return bt_reg__req_http_go(req);
    case STEP_UPLOAD_PATCH:
        req->sent = req->committed;
        end = req->sent + req->put.chunk_size;
        if (end > req->put.size)
            end = req->put.size;
        (void)snprintf(range, sizeof(range), "Content-Range: %" PRIu64 "-%" PRIu64, req->sent,
                       end - 1);
        if (bt_reg__req_http_begin(req, "PATCH", strdup(req->upload_url)) < 0 ||
            bt_reg__req_header(req, range) < 0 ||
            bt_reg__req_header(req, "Content-Type: application/octet-stream") < 0)
            return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
        up_body(req, end);
        up_kick(req);
        return bt_reg__req_http_go(req);
    case STEP_UPLOAD_PUT:
        req->sent = req->committed;
        if (!d || asprintf(&url, "%s%cdigest=%s", req->upload_url,
                           strchr(req->upload_url, '?') ? '&' : '?', d) < 0)
            url = NULL;
        if (bt_reg__req_http_begin(req, "PUT", url) < 0 ||
            bt_reg__req_header(req, "Content-Type: application/octet-stream") < 0)
            return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
        up_body(req, req->put.chunk_size ? req->sent : req->put.size);
        up_kick(req);
        return bt_reg__req_http_go(req);
    case STEP_MOUNT_CANCEL:
        break;
    }
    bt_reg__req_fail(req, BT_EINTERNAL, "upload in an impossible step");
}

void bt_reg__blob_upload_done(struct bt_reg_req *req)
{
    _cleanup_free_ char *text = NULL;
    bool ok;

    ok = (req->step == STEP_FIRST && req->status == 202) ||
         (req->step == STEP_UPLOAD_PATCH && req->status == 202) ||
         (req->step == STEP_UPLOAD_PUT && (req->status == 201 || req->status == 204));
    if (!ok) {
        text = bt_reg_error_text(req->body.p, req->body.len);
        if (req->status == 401 || req->status == 403)
            return bt_reg__req_fail(req, BT_EFORBIDDEN, "upload of blob %s: %s", req->digest,
                                    text ? text
                                         : "denied: requested access to the resource is denied");
        return bt_reg__req_attempt_failed(req, bt_reg__status_transient(req->status), false,
                                          bt_reg__status_why(req));
    }
    if (req->step == STEP_UPLOAD_PUT)
        return bt_reg__req_complete(req, NULL);
    req->committed = req->sent;
    if (req->h_location) {
        bt_reg__set_str(&req->upload_url, resolve_location(req));
        if (!req->upload_url)
            return bt_reg__req_fail(req, BT_EINTERNAL, "out of memory");
    } else if (req->step == STEP_FIRST)
        return bt_reg__req_fail(req, BT_EINTERNAL, "upload of blob %s: registry sent no Location",
                                req->digest);
    if (req->put.chunk_size && req->sent < req->put.size)
        req->step = STEP_UPLOAD_PATCH;
    else
        req->step = STEP_UPLOAD_PUT;
    bt_reg__blob_upload_start(req);
}

/* ---- starting requests -------------------------------------------------------- */

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
    if (bt_reg__req_new(r, OP_BLOB_GET, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->get = *opts;
    req->get.digest = NULL;
    memcpy(req->digest, opts->digest, sizeof(req->digest));
    req->received = opts->offset;
    req->total = opts->size;
    if (opts->verify && !(req->sha = bt_sha256_new()))
        return bt_reg__req_bad(req, err, BT_EINTERNAL, "registry request");
    if (bt_reg__req_set_scope(req, "pull", NULL) < 0)
        return bt_reg__req_bad(req, err, BT_EINTERNAL, "registry request");
    return bt_reg__req_launch(req, ret_req, err);
}

int bt_reg_blob_exists(struct bt_registry *r, const struct bt_reg_target *t, const char *digest,
                       bt_reg_exists_fn cb, void *data, struct bt_reg_req **ret_req,
                       struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!bt_digest_valid(digest))
        return bt_err_set(err, BT_EINVAL, 0, "invalid blob digest");
    if (bt_reg__req_new(r, OP_BLOB_HEAD, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.exists = cb;
    req->cb_data = data;
    memcpy(req->digest, digest, sizeof(req->digest));
    if (bt_reg__req_set_scope(req, "pull,push", NULL) < 0)
        return bt_reg__req_bad(req, err, BT_EINTERNAL, "registry request");
    return bt_reg__req_launch(req, ret_req, err);
}

int bt_reg_blob_mount(struct bt_registry *r, const struct bt_reg_target *t, const char *digest,
                      const char *from, bt_reg_mount_fn cb, void *data, struct bt_reg_req **ret_req,
                      struct bt_err **err)
{
    struct bt_reg_req *req;

    if (!bt_digest_valid(digest))
        return bt_err_set(err, BT_EINVAL, 0, "invalid blob digest");
    if (!bt_reg__name_valid(from))
        return bt_err_set(err, BT_EINVAL, 0, "invalid repository name \"%s\"", from ? from : "");
    if (bt_reg__req_new(r, OP_BLOB_MOUNT, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->cb.mount = cb;
    req->cb_data = data;
    memcpy(req->digest, digest, sizeof(req->digest));
    if (!(req->from = strdup(from)) || bt_reg__req_set_scope(req, "pull,push", from) < 0)
        return bt_reg__req_bad(req, err, BT_EINTERNAL, "registry request");
    return bt_reg__req_launch(req, ret_req, err);
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
    if (bt_reg__req_new(r, OP_BLOB_UPLOAD, t->host, t, t->creds, &req, err) < 0)
        return -1;
    req->put = *opts;
    req->put.digest = NULL;
    memcpy(req->digest, opts->digest, sizeof(req->digest));
    if (bt_reg__req_set_scope(req, "pull,push", NULL) < 0)
        return bt_reg__req_bad(req, err, BT_EINTERNAL, "registry request");
    return bt_reg__req_launch(req, ret_req, err);
}
