/* libcurl's multi interface driven by one libuv loop.
 *
 * One `struct bt_curl_uv` per loop holds one CURLM: its connection cache, DNS
 * cache and TLS sessions are shared by every transfer added to it, so
 * requests to one registry reuse their connections. Sockets are watched with
 * one uv_poll_t each and curl's timeout with one uv_timer_t.
 *
 * Threads: everything here runs on the loop thread, and so do the callbacks.
 *
 * A transfer is a `struct bt_curl_xfer` embedded in its owner (container_of
 * gets the owner back). The owner creates and configures `easy`, adds the
 * xfer, and gets `on_done` exactly once unless it removes the xfer first. The
 * easy handle's CURLOPT_PRIVATE points at the xfer while it is added: do not
 * set CURLOPT_PRIVATE yourself. */
#ifndef BERTH_CURL_UV_H
#define BERTH_CURL_UV_H

#include "berth/dl_curl.h"
#include <uv.h>

struct bt_err;
struct bt_curl_uv;
struct bt_curl_xfer;

/* Called once the transfer has finished (result CURLE_OK or an error). The xfer
 * is already out of the multi handle: the owner may free the easy handle,
 * reconfigure and re-add it, add or remove other transfers, or close the
 * bt_curl_uv. */
typedef void (*bt_curl_done_fn)(struct bt_curl_xfer *x, CURLcode result);
typedef void (*bt_curl_uv_closed_fn)(void *data);

struct bt_curl_xfer {
    CURL *easy;              /* owned by the owner: bt_curl_uv never frees it */
    bt_curl_done_fn on_done; /* set by the owner before adding */
    /* Private to curl_uv.c. */
    struct bt_curl_uv *cu_;
    struct bt_curl_xfer *prev_, *next_;
};

/* Connections kept per host; the caller limits parallel downloads itself. */
#define BT_CURL_UV_MAX_HOST_CONNECTIONS 8
/* Without any transfer for this long, cached connections are closed. */
#define BT_CURL_UV_IDLE_MS 2000
/* Idle connections kept in the cache for reuse. */
#define BT_CURL_UV_MAX_CACHED 32

int bt_curl_uv_new(uv_loop_t *loop, struct bt_curl_uv **ret, struct bt_err **err);

/* Start a transfer. x->easy and x->on_done must be set; x must not be added
 * already. Must not be called from inside a libcurl callback of x->easy. */
int bt_curl_uv_add(struct bt_curl_uv *cu, struct bt_curl_xfer *x, struct bt_err **err);

/* Stop a transfer without calling on_done; a no-op when x is not added. Safe
 * from any bt_curl_done_fn and from loop callbacks, but not from inside a
 * libcurl callback (write, read, header, progress) of x->easy itself: return
 * an error from that callback instead. */
void bt_curl_uv_remove(struct bt_curl_xfer *x);

/* True while x is added and has not finished. */
int bt_curl_uv_active(const struct bt_curl_xfer *x);

/* Shut down: transfers still added are removed without callbacks, the multi
 * handle and its connections are closed, every uv handle is closed, and `cb`
 * (may be NULL) runs once the last close callback has run and the object is
 * freed. Safe to call from a bt_curl_done_fn. Idempotent calls are not
 * allowed: call it once. */
void bt_curl_uv_close(struct bt_curl_uv *cu, bt_curl_uv_closed_fn cb, void *data);

#endif
