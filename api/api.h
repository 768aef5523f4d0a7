/* The Engine API server as the rest of the daemon and the handlers see it.
 *
 * A request (`struct api_req`) belongs to its connection. A handler parses,
 * validates, calls the core and answers with one api_reply_*() call, or
 * starts a stream (api_stream_*), or keeps a reference (api_req_ref) and
 * answers later from a callback. Loop thread only. */
#ifndef BERTH_API_H
#define BERTH_API_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/buf.h"
#include "berth/err.h"

struct bt_daemon;
struct api_conn;
struct api_route;
struct api_server;

#define API_MAX_PARAMS 4
#define API_MAX_HEADER_BYTES (64 * 1024) /* request line + headers: 431 above */
#define API_DEFAULT_MAX_BODY (1024 * 1024)
/* A route whose body is not buffered: the handler runs once the headers are
 * in and takes the body through on_body / on_body_end. */
#define API_BODY_STREAM SIZE_MAX

struct api_pair {
    char *key;
    char *value;
};

struct api_req {
    unsigned refs;
    uint64_t id;             /* for logs */
    struct api_conn *conn;   /* NULL once the client is gone */
    struct bt_daemon *daemon;
    const char *method;      /* "GET", "HEAD", ... (static) */
    bool head;               /* HEAD: headers only */
    char *target;            /* the request target as sent */
    char *path;              /* decoded, without the /vX.Y prefix */
    int version;             /* requested API version (major*100+minor) */
    struct api_pair *query;  /* decoded query parameters, in order */
    size_t n_query;
    struct api_pair *headers; /* names as sent */
    size_t n_headers;
    struct bt_buf body;
    const struct api_route *route;
    struct api_pair params[API_MAX_PARAMS]; /* from the route pattern */
    size_t n_params;
    bool keep_alive;
    int match;               /* enum api_match of the route lookup */
    bool bad_target;         /* the target could not be decoded */
    bool upgrade;            /* Upgrade: header present (attach/exec hijack) */
    char *version_str;       /* "1.41" as sent, NULL without a prefix */

    /* Response state. */
    bool replied;            /* a whole response or a stream began */
    bool streaming;
    bool finished;
    uint64_t start_ns;
    int status;

    /* Set by streaming or deferred handlers. */
    void (*on_abort)(struct api_req *rq); /* the client left before the end */
    void (*on_drain)(struct api_req *rq); /* the write backlog fell below the low mark */
    void *ctx;

    /* Streamed bodies (routes with API_BODY_STREAM). on_body gets each piece
     * as it arrives (return < 0 to drop the rest); on_body_end runs once the
     * body is complete. Both only while the client is there. */
    bool body_stream;
    bool dispatched;
    bool body_done;
    int (*on_body)(struct api_req *rq, const char *data, size_t len);
    void (*on_body_end)(struct api_req *rq);

    /* A hijacked connection (api_req_hijack): the client's raw bytes, and
     * its shutdown of the writing side (the connection stays open for
     * output). Only while the client is there. */
    void (*on_hijack_data)(struct api_req *rq, const char *data, size_t len);
    void (*on_hijack_eof)(struct api_req *rq);
};

/* Parameters, query and headers (borrowed strings, NULL when absent). */
const char *api_req_param(const struct api_req *rq, const char *name);
const char *api_req_query(const struct api_req *rq, const char *key);
/* Docker's query booleans: "", 0, no, false, none (any case) are false. */
bool api_req_query_bool(const struct api_req *rq, const char *key, bool dflt);
/* A decimal query integer; dflt when absent or empty, BT_EINVAL when not a number. */
int api_req_query_int(const struct api_req *rq, const char *key, long dflt, long *ret,
                      struct bt_err **err);
const char *api_req_header(const struct api_req *rq, const char *name);
/* Parse the JSON body (Content-Type must be application/json when there is
 * one). An empty body gives *ret = NULL. */
int api_req_json(struct api_req *rq, cJSON **ret, struct bt_err **err);

struct api_req *api_req_ref(struct api_req *rq);
void api_req_unref(struct api_req *rq);
/* Stop / resume reading a streamed body from the client (backpressure). */
void api_req_body_pause(struct api_req *rq, bool pause);
/* Drop the client's connection now (a stream that cannot go on). */
void api_req_abort(struct api_req *rq);
/* True while the client is still there to answer. */
bool api_req_alive(const struct api_req *rq);

/* Whole responses. Each ends the request. */
void api_reply(struct api_req *rq, int status, const char *ctype, const void *body, size_t len);
void api_reply_json(struct api_req *rq, int status, cJSON *json); /* takes json */
void api_reply_empty(struct api_req *rq, int status);
void api_reply_text(struct api_req *rq, int status, const char *text);
void api_reply_err(struct api_req *rq, const struct bt_err *e);
/* The end of an asynchronous operation the request waited for (holding a
 * reference): err, or an empty reply with status; then the reference goes.
 * Nothing is sent to a client that left. */
void api_reply_done(struct api_req *rq, const struct bt_err *err, int status);
/* {"message": msg} with the given status. */
void api_reply_message(struct api_req *rq, int status, const char *msg);
/* Extra response header for the next reply (e.g. Cache-Control); copied. */
int api_reply_header(struct api_req *rq, const char *name, const char *value);

/* Chunked streams: the status line and headers go out at once. */
int api_stream_begin(struct api_req *rq, int status, const char *ctype);
/* Queue one chunk. Returns 1 when the backlog is past the high mark: stop
 * producing until on_drain; 0 otherwise; -1 when the client is gone. */
int api_stream_write(struct api_req *rq, const void *data, size_t len);
void api_stream_end(struct api_req *rq);

/* The hijack (attach, exec start): answer "101 UPGRADED" with ctype and
 * from then on the connection is a raw pipe owned by the handler. Bytes the
 * client sends go to on_data (including any that came with the request),
 * its half-close to on_eof; pause reading with api_req_body_pause, learn of
 * a vanished client through rq->on_abort, of a drained backlog through
 * rq->on_drain. Set those before calling: input may be delivered at once.
 * < 0 when the client is gone or a reply already began. */
int api_req_hijack(struct api_req *rq, const char *ctype,
                   void (*on_data)(struct api_req *rq, const char *data, size_t len),
                   void (*on_eof)(struct api_req *rq));
/* Raw bytes to a hijacked client, as api_stream_write returns. */
int api_hijack_write(struct api_req *rq, const void *data, size_t len);
/* The stream is over: flush what is queued, then close (no on_abort). */
void api_hijack_close(struct api_req *rq);

/* The status Docker uses for an error category, and the JSON body. */
int api_err_status(const struct bt_err *e);

/* The listeners and their connections. */
int api_server_new(struct bt_daemon *d, struct api_server **ret, struct bt_err **err);
/* Stop accepting; idle connections close now, in-flight requests finish,
 * streams end. `done` runs once every connection is closed. */
void api_server_shutdown(struct api_server *s, void (*done)(void *arg), void *arg);
/* Close everything now (the shutdown bound passed). */
void api_server_close_all(struct api_server *s);
void api_server_free(struct api_server *s);
size_t api_server_conns(const struct api_server *s);

#endif
