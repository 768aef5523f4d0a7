/* Shared inside the registry client: registry.c (the client, endpoints and the
 * request machinery: auth and tokens, retries, curl setup, completion),
 * registry_blob.c (blob download, HEAD, mount and upload) and
 * registry_manifest.c (manifests, tag list, login). Loop thread only. */
#ifndef BERTH_REGISTRY_INTERNAL_H
#define BERTH_REGISTRY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/buf.h"
#include "berth/curl_uv.h"
#include "berth/digest.h"
#include "berth/err.h"
#include "berth/registry.h"

/* one page: BT_REG_TAGS_MAX tags of 128 bytes fit */
#define BT_REG__TAGS_BODY_MAX (2 * 1024 * 1024)
#define BT_REG__UPLOAD_BUF_SIZE (256 * 1024)

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

/* ---- helpers (registry.c) ----------------------------------------------------- */

/* Percent-encode a query value; caller frees. */
char *bt_reg__qesc(const char *s);
bool bt_reg__name_valid(const char *s);
bool bt_reg__ref_is_digest(const char *ref);
/* Free *dst and store s (owned) there. */
void bt_reg__set_str(char **dst, char *s);

/* ---- requests (registry.c) ---------------------------------------------------- */

/* Free the request; called once its timer is closed and no fs read is in flight. */
void bt_reg__req_free(struct bt_reg_req *req);
/* Run the completion callback once (e owned), then close. */
void bt_reg__req_complete(struct bt_reg_req *req, struct bt_err *e);
/* Complete with an error built from fmt. */
void bt_reg__req_fail(struct bt_reg_req *req, enum bt_err_code code, const char *fmt, ...)
    _printf_(3, 4);

/* A fresh easy handle for one exchange (url_take owned, NULL is -ENOMEM); the
 * caller adds headers, then bt_reg__req_http_go(). 0 or -ENOMEM. */
int bt_reg__req_http_begin(struct bt_reg_req *req, const char *method, char *url_take);
/* Add a request header line. 0 or -ENOMEM. */
int bt_reg__req_header(struct bt_reg_req *req, const char *h);
/* Start the exchange; its end comes back through the operation's done function. */
void bt_reg__req_http_go(struct bt_reg_req *req);

bool bt_reg__status_transient(long s);
/* An attempt failed (why is owned). Fall through to the next mirror, try
 * again after a pause, or fail the request. */
void bt_reg__req_attempt_failed(struct bt_reg_req *req, bool transient, bool fallthrough,
                                char *why);
/* "METHOD url: unexpected status ..." with the registry's error text; caller frees. */
char *bt_reg__status_why(struct bt_reg_req *req);
/* The text for a 401 or 403 answer; caller frees. */
char *bt_reg__unauthorized_text(struct bt_reg_req *req);
/* <endpoint>/v2/<name>/<kind>/<tail>; caller frees. */
char *bt_reg__repo_url(struct bt_reg_req *req, const char *kind, const char *tail);

/* The API entry points: a new request (t may be NULL for login), its scope,
 * its start on the loop, and closing it again on a bad argument. */
int bt_reg__req_new(struct bt_registry *r, enum req_op op, const char *host,
                    const struct bt_reg_target *t, const struct bt_reg_creds *creds,
                    struct bt_reg_req **ret, struct bt_err **err);
int bt_reg__req_set_scope(struct bt_reg_req *req, const char *actions, const char *from);
int bt_reg__req_launch(struct bt_reg_req *req, struct bt_reg_req **ret_req, struct bt_err **err);
int bt_reg__req_bad(struct bt_reg_req *req, struct bt_err **err, enum bt_err_code code,
                    const char *msg);

/* ---- blobs (registry_blob.c) -------------------------------------------------- */

/* libcurl write callback body of a blob download (a 200 or 206 in MAIN). */
size_t bt_reg__blob_write(struct bt_reg_req *req, const char *data, size_t len);
/* Check the digest when verifying, then complete. */
void bt_reg__blob_complete(struct bt_reg_req *req);

/* Each operation's MAIN exchange: *_start sends it, *_done handles its answer. */
void bt_reg__blob_get_start(struct bt_reg_req *req);
void bt_reg__blob_get_done(struct bt_reg_req *req);
void bt_reg__blob_head_start(struct bt_reg_req *req);
void bt_reg__blob_head_done(struct bt_reg_req *req);
void bt_reg__blob_mount_start(struct bt_reg_req *req);
void bt_reg__blob_mount_done(struct bt_reg_req *req);
void bt_reg__blob_upload_start(struct bt_reg_req *req);
void bt_reg__blob_upload_done(struct bt_reg_req *req);

/* ---- manifests, tags and login (registry_manifest.c) -------------------------- */

/* A manifest GET answered 200 (or was cut off for its size). */
void bt_reg__manifest_got(struct bt_reg_req *req);

void bt_reg__manifest_get_start(struct bt_reg_req *req);
void bt_reg__manifest_get_done(struct bt_reg_req *req);
void bt_reg__manifest_put_start(struct bt_reg_req *req);
void bt_reg__manifest_put_done(struct bt_reg_req *req);
void bt_reg__login_start(struct bt_reg_req *req);
void bt_reg__login_done(struct bt_reg_req *req);
void bt_reg__tags_list_start(struct bt_reg_req *req);
void bt_reg__tags_list_done(struct bt_reg_req *req);

#endif
