/* Registry client: Docker Registry HTTP API V2 / OCI distribution.
 *
 * Threads: every function here, except the pure helpers marked "any thread",
 * runs on the loop thread that owns the registry, and every callback runs on
 * that thread too. Nothing blocks: transfers go through bt_curl_uv, reads of
 * upload files through uv_fs_read.
 *
 * Requests: each operation starts one `struct bt_reg_req` and calls its
 * completion callback exactly once, later (never from inside the starting
 * call), unless the request is cancelled first. The request handle returned
 * through ret_req (which may be NULL) stays valid until the completion
 * callback returns or until bt_reg_req_cancel(). Strings and creds passed in
 * are copied; buffers and fds passed in are borrowed until completion.
 *
 * Errors given to a callback (`struct bt_err *err`, NULL on success) belong to
 * the callback: free them with bt_err_free(). Codes: BT_ENOTFOUND for unknown
 * manifests, blobs and repositories, BT_EFORBIDDEN for refused credentials or access,
 * BT_EINVAL for what berth refuses (schema 1), BT_EINTERNAL for network,
 * protocol and verification failures.
 *
 * Credentials and tokens are never logged. */
#ifndef BERTH_REGISTRY_H
#define BERTH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "berth/digest.h"

struct bt_err;
struct bt_registry;
struct bt_reg_req;

#define BT_REG_DOCKER_HUB "docker.io"
#define BT_REG_DOCKER_HUB_API "registry-1.docker.io"

#define BT_REG_MT_SCHEMA2 "application/vnd.docker.distribution.manifest.v2+json"
#define BT_REG_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define BT_REG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define BT_REG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define BT_REG_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define BT_REG_MT_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"
#define BT_REG_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define BT_REG_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define BT_REG_MT_OCI_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define BT_REG_MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define BT_REG_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define BT_REG_MT_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define BT_REG_MT_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* Manifests bigger than this are refused (dockerd's limit). */
#define BT_REG_MANIFEST_MAX (4u * 1024 * 1024)

/* ---- credentials (registry_auth.c; any thread) ------------------------------ */

/* What a client sends in X-Registry-Auth (or the body of POST /auth). All
 * fields may be NULL; all are owned. */
struct bt_reg_creds {
    char *username;
    char *password;
    char *identitytoken; /* OAuth refresh token: exchanged at the token realm */
    char *registrytoken; /* bearer token sent as it is */
    char *serveraddress;
};

/* Decode an X-Registry-Auth value: base64url (padded or not; the standard
 * alphabet is accepted too) of a JSON object with username, password, auth
 * (base64 of "user:pass", used when username is empty), identitytoken,
 * registrytoken, serveraddress and email (ignored); keys match without regard
 * to case, as Go's decoder does. An empty value or "e30=" ("{}") gives empty
 * creds. BT_EINVAL on anything malformed. */
int bt_reg_creds_decode(const char *value, struct bt_reg_creds **ret, struct bt_err **err);
/* The same from the JSON text itself (the body of POST /auth). */
int bt_reg_creds_from_json(const char *json, size_t len, struct bt_reg_creds **ret,
                           struct bt_err **err);
struct bt_reg_creds *bt_reg_creds_dup(const struct bt_reg_creds *c); /* NULL in, NULL out */
bool bt_reg_creds_empty(const struct bt_reg_creds *c);               /* NULL is empty */
void bt_reg_creds_free(struct bt_reg_creds *c);

/* ---- challenges, endpoints, tokens (registry_auth.c; any thread) ----------- */

enum bt_reg_scheme {
    BT_REG_AUTH_NONE,
    BT_REG_AUTH_BASIC,
    BT_REG_AUTH_BEARER,
    BT_REG_AUTH_OTHER,
    BT_REG_AUTH_MAX,
};

struct bt_reg_challenge {
    enum bt_reg_scheme scheme;
    char *realm, *service, *scope, *error; /* owned; NULL when absent */
};

/* Parse a WWW-Authenticate value (several challenges and several header lines
 * joined with ", " are fine; quoted values may hold commas and \-escapes).
 * -EINVAL when malformed, -ENOMEM. Free with bt_reg_challenges_free(). */
int bt_reg_challenges_parse(const char *value, struct bt_reg_challenge **ret, size_t *ret_n);
void bt_reg_challenges_free(struct bt_reg_challenge *c, size_t n);

/* Hosts are "name", "name:port", "1.2.3.4:5000", "[::1]:5000" or "::1". */
bool bt_reg_host_is_loopback(const char *host);
/* True for hosts in the list (exact "host[:port]", or an IP literal inside a
 * CIDR entry) and for loopback hosts, as dockerd allows them. */
bool bt_reg_host_insecure(const char *host, const char *const *insecure, size_t n);
/* Base URL for a registry host: "http://HOST" when insecure, else
 * "https://HOST"; docker.io (and index.docker.io) becomes
 * https://registry-1.docker.io. */
int bt_reg_endpoint_url(const char *host, const char *const *insecure, size_t n, char **ret_url);
/* The registry host named by a login's serveraddress ("https://index.docker.io/v1/",
 * "myreg:5000", "http://127.0.0.1:5000/"); "" and Docker Hub give "docker.io". */
int bt_reg_host_from_server_address(const char *addr, char **ret_host);

/* Milliseconds from a monotonic clock. */
typedef uint64_t (*bt_reg_clock_fn)(void *data);

/* Bearer tokens by key (host, scope and a hash of the credentials). */
struct bt_reg_token_cache;
struct bt_reg_token_cache *bt_reg_token_cache_new(bt_reg_clock_fn clock, void *clock_data);
/* expires_in_s <= 0 means 60 s; shorter lifetimes are raised to 60 s, as docker does. */
int bt_reg_token_cache_put(struct bt_reg_token_cache *c, const char *key, const char *token,
                           int64_t expires_in_s);
/* Borrowed until the next put or drop for the same key; NULL when absent or expired. */
const char *bt_reg_token_cache_get(struct bt_reg_token_cache *c, const char *key);
void bt_reg_token_cache_drop(struct bt_reg_token_cache *c, const char *key);
void bt_reg_token_cache_free(struct bt_reg_token_cache *c);

/* "code: message" of the first error in a registry error body
 * ({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]} gives
 * "manifest unknown: manifest unknown"), or NULL when there is none. */
char *bt_reg_error_text(const char *body, size_t len);
/* From a token response: the token ("token" or "access_token"), its lifetime
 * (0 when absent) and the refresh token (may be NULL). -EINVAL without a token. */
int bt_reg_token_response_parse(const char *body, size_t len, char **ret_token,
                                int64_t *ret_expires_in, char **ret_refresh);

/* The media type a manifest body declares ("mediaType"), or one guessed from
 * its shape (an index when it has "manifests", else an OCI manifest).
 * Returns 1 for schema 1 (schemaVersion 1), 0 otherwise, -EINVAL for a body
 * that is not a JSON object. */
int bt_reg_manifest_sniff(const char *body, size_t len, char **ret_media_type);

/* ---- the client (registry.c; loop thread) ----------------------------------- */

struct bt_registry_config {
    const char *const *insecure; /* host[:port] or CIDR entries (insecure-registries) */
    size_t n_insecure;
    const char *const *mirrors; /* base URLs tried in order for docker.io pulls */
    size_t n_mirrors;
    const char *user_agent;      /* NULL: "berth/VERSION" */
    unsigned tries;              /* attempts on 5xx, timeouts, resets; 0: 3 */
    unsigned backoff_ms;         /* wait before the 2nd attempt, doubled after; 0: 500 */
    unsigned stall_timeout_ms;   /* no byte for this long fails an attempt; 0: 30000 */
    unsigned connect_timeout_ms; /* 0: 30000 */
    const char *ca_file;         /* extra CA bundle for HTTPS registries; NULL: system */
    unsigned tags_page_size;     /* n= on tag list requests; 0: none (the registry's page) */
};

/* The config is copied. */
int bt_registry_new(uv_loop_t *loop, const struct bt_registry_config *cfg, struct bt_registry **ret,
                    struct bt_err **err);
/* Replace the clock used for token lifetimes (tests). NULL restores uv_now. */
void bt_registry_set_clock(struct bt_registry *r, bt_reg_clock_fn clock, void *data);
typedef void (*bt_registry_closed_fn)(void *data);
/* Cancel every request (no callbacks), close every handle, free; `cb` (may be
 * NULL) runs when the last handle has closed. Call once. */
void bt_registry_close(struct bt_registry *r, bt_registry_closed_fn cb, void *data);

/* Which repository on which registry. */
struct bt_reg_target {
    const char *host;                 /* "docker.io", "127.0.0.1:5000" */
    const char *name;                 /* repository path: "library/busybox" */
    const struct bt_reg_creds *creds; /* NULL: anonymous; copied */
    const char *display;              /* name for messages ("busybox"); NULL: derived */
};

/* Stop a request: its transfer ends, its memory is freed, no callback runs.
 * Safe from any callback of the request itself (sink, progress) and of others;
 * a no-op once the completion callback has started. */
void bt_reg_req_cancel(struct bt_reg_req *req);

/* Completion without a result. */
typedef void (*bt_reg_done_fn)(void *data, struct bt_err *err);
/* Progress: bytes so far (the start offset included) of total (0: unknown). */
typedef void (*bt_reg_progress_fn)(void *data, uint64_t done, uint64_t total);

/* -- manifests -- */

struct bt_reg_manifest {
    char *body; /* owned, NUL-terminated */
    size_t len;
    char *media_type;                   /* owned */
    char digest[BT_DIGEST_STR_LEN + 1]; /* sha256 of body, checked against the registry's */
};
void bt_reg_manifest_free(struct bt_reg_manifest *m);

/* m is the caller's on success (free with bt_reg_manifest_free), NULL on error. */
typedef void (*bt_reg_manifest_fn)(void *data, struct bt_reg_manifest *m, struct bt_err *err);

/* GET a manifest by tag or digest, accepting Docker schema 2, manifest lists,
 * OCI manifests and OCI indexes. Schema 1 fails with BT_EINVAL. An unknown
 * manifest fails with BT_ENOTFOUND "manifest for NAME:TAG not found: manifest
 * unknown: manifest unknown". Mirrors are tried first for docker.io. */
int bt_reg_manifest_get(struct bt_registry *r, const struct bt_reg_target *t, const char *ref,
                        bt_reg_manifest_fn cb, void *data, struct bt_reg_req **ret_req,
                        struct bt_err **err);

/* PUT a manifest under a tag or digest; cb gets the digest the registry
 * reports (or the sha256 of body) as a borrowed string. */
typedef void (*bt_reg_put_fn)(void *data, const char *digest, struct bt_err *err);
int bt_reg_manifest_put(struct bt_registry *r, const struct bt_reg_target *t, const char *ref,
                        const char *media_type, const char *body, size_t len, bt_reg_put_fn cb,
                        void *data, struct bt_reg_req **ret_req, struct bt_err **err);

/* -- tags -- */

/* At most this many tags (all pages together); a longer list fails. */
#define BT_REG_TAGS_MAX 10000

/* tags is the caller's on success: a NULL-terminated array of n tags, in the
 * order the registry listed them (free with bt_reg_tags_free); NULL (and n 0)
 * on error. */
typedef void (*bt_reg_tags_fn)(void *data, char **tags, size_t n, struct bt_err *err);
void bt_reg_tags_free(char **tags); /* any thread; NULL is fine */

/* GET /v2/NAME/tags/list, following `Link: <...>; rel="next"` pages on the
 * same host (sending n=tags_page_size when configured), for `docker pull -a`.
 * A null or absent "tags" gives an empty list; tags that are not valid tag
 * names are skipped. An unknown repository fails with BT_ENOTFOUND
 * "repository NAME not found: does not exist or no pull access". Retries,
 * timeouts and mirrors (for docker.io) are as for bt_reg_manifest_get; a
 * mirror that fails mid-list is left for the next endpoint's full list. */
int bt_reg_tags_list(struct bt_registry *r, const struct bt_reg_target *t, bt_reg_tags_fn cb,
                     void *data, struct bt_reg_req **ret_req, struct bt_err **err);

/* -- blob download -- */

/* The sink takes a piece of the blob. Return 0 when it took all of it,
 * BT_REG_SINK_FULL to take nothing now (the transfer pauses; call
 * bt_reg_req_unpause() when there is room and the same bytes come again), or
 * a negative errno to fail the download. */
#define BT_REG_SINK_FULL 1
typedef int (*bt_reg_sink_fn)(void *data, const char *buf, size_t len);

struct bt_reg_blob_get {
    const char *digest;          /* "sha256:..." */
    uint64_t offset;             /* bytes the sink already has: the download starts there */
    uint64_t size;               /* expected size; 0: unknown */
    bool verify;                 /* check the sha256 (only when offset is 0) */
    bt_reg_sink_fn sink;         /* required */
    bt_reg_progress_fn progress; /* may be NULL */
    bt_reg_done_fn done;         /* required */
    void *data;
};

/* GET a blob, following redirects, streaming it to the sink. A dropped
 * connection resumes with Range from what the sink has; resets, timeouts, a
 * stall (no byte for stall_timeout_ms) and 5xx are retried with backoff. */
int bt_reg_blob_get(struct bt_registry *r, const struct bt_reg_target *t,
                    const struct bt_reg_blob_get *opts, struct bt_reg_req **ret_req,
                    struct bt_err **err);
/* Resume a download whose sink returned BT_REG_SINK_FULL; call it later
 * (from a loop callback), not from inside the sink. The sink may be called
 * from inside this function. A paused download does not count as stalled. */
void bt_reg_req_unpause(struct bt_reg_req *req);

/* -- push primitives -- */

/* HEAD a blob: exists (and its size) or not (404: exists=false, no error). */
typedef void (*bt_reg_exists_fn)(void *data, bool exists, uint64_t size, struct bt_err *err);
int bt_reg_blob_exists(struct bt_registry *r, const struct bt_reg_target *t, const char *digest,
                       bt_reg_exists_fn cb, void *data, struct bt_reg_req **ret_req,
                       struct bt_err **err);

/* Cross-repository mount of digest from repository `from` on the same
 * registry. mounted=false (no error) when the registry started an upload
 * instead: that upload is cancelled and the caller uploads normally. */
typedef void (*bt_reg_mount_fn)(void *data, bool mounted, struct bt_err *err);
int bt_reg_blob_mount(struct bt_registry *r, const struct bt_reg_target *t, const char *digest,
                      const char *from, bt_reg_mount_fn cb, void *data, struct bt_reg_req **ret_req,
                      struct bt_err **err);

struct bt_reg_blob_put {
    const char *digest;
    int fd; /* borrowed; read with pread-like reads from offset 0 */
    uint64_t size;
    uint64_t chunk_size;         /* 0: one monolithic PUT; else PATCH chunks, then PUT */
    bt_reg_progress_fn progress; /* may be NULL */
    bt_reg_done_fn done;         /* required */
    void *data;
};

/* Upload a blob: POST to start, then PUT (or PATCH... + PUT) with ?digest=. */
int bt_reg_blob_upload(struct bt_registry *r, const struct bt_reg_target *t,
                       const struct bt_reg_blob_put *opts, struct bt_reg_req **ret_req,
                       struct bt_err **err);

/* -- login (POST /auth) -- */

/* Success, or BT_EFORBIDDEN "unauthorized: incorrect username or password".
 * identity_token (borrowed, may be NULL) is a refresh token the registry gave. */
typedef void (*bt_reg_login_fn)(void *data, const char *identity_token, struct bt_err *err);
int bt_reg_login(struct bt_registry *r, const char *host, const struct bt_reg_creds *creds,
                 bt_reg_login_fn cb, void *data, struct bt_reg_req **ret_req, struct bt_err **err);

#endif
