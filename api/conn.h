/* One HTTP/1.1 connection: the llhttp state machine, request limits,
 * pipelining and response writing, independent of the transport. The
 * transport (a uv stream in server.c, memory in the unit tests) moves bytes
 * and calls back in. Loop thread only. */
#ifndef BERTH_API_CONN_H
#define BERTH_API_CONN_H

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"

struct api_conn;

struct api_conn_ops {
    /* Queue bytes (ownership passes); call api_conn_on_written() once sent. */
    int (*write)(struct api_conn *c, char *data, size_t len);
    void (*read_start)(struct api_conn *c);
    void (*read_stop)(struct api_conn *c);
    /* Arm the connection's one timer (ms); 0 disarms. On expiry: api_conn_on_timeout(). */
    void (*timer)(struct api_conn *c, uint64_t ms);
    /* Flush what is queued, then close; call api_conn_on_closed() when done. */
    void (*close)(struct api_conn *c, bool flush);
};

struct api_conn_limits {
    uint64_t request_timeout_ms;
    uint64_t idle_timeout_ms;
    size_t max_header_bytes;
};

enum api_conn_state {
    CONN_IDLE,     /* waiting for a request */
    CONN_READING,  /* inside a request */
    CONN_HANDLING, /* a request is being answered; further input waits */
    CONN_CLOSING,
};

struct api_conn {
    const struct api_conn_ops *ops;
    struct bt_daemon *daemon;
    struct api_conn_limits limits;
    enum api_conn_state state;
    llhttp_t parser;
    struct bt_buf in;       /* received but not yet parsed (pipelined requests) */
    struct api_req *rq;     /* the request being read or answered */
    struct bt_buf hname;    /* header being parsed */
    struct bt_buf hvalue;
    struct bt_buf url;
    size_t header_bytes;
    int fail_status;        /* a limit hit while parsing: 413 or 431 */
    const char *fail_msg;
    size_t write_queued;    /* bytes handed to the transport, not yet sent */
    bool reading;
    bool peer_eof;
    bool processing;        /* inside api_conn_process (guards re-entry) */
    bool closed;
    bool stream_dispatch;   /* headers of a streamed-body request are in: dispatch it */
    bool body_paused;       /* the handler asked us to stop reading the body */
    bool body_discard;      /* the handler refused the rest of the body */
    bool hijacked;          /* no more HTTP: raw bytes to and from rq's handler */
    struct api_pair *extra_headers; /* for the next response */
    size_t n_extra_headers;
    uint64_t next_req_id;
    void *transport;        /* the transport's own data */
};

#define API_STREAM_HIGH_MARK (256 * 1024)
#define API_STREAM_LOW_MARK (64 * 1024)
#define API_INPUT_MAX (1024 * 1024) /* pipelined input buffered while answering */

void api_conn_init(struct api_conn *c, const struct api_conn_ops *ops, struct bt_daemon *d,
                   const struct api_conn_limits *limits);
/* Bytes from the peer. */
void api_conn_on_read(struct api_conn *c, const char *data, size_t len);
/* The peer closed its side (or the read failed). */
void api_conn_on_eof(struct api_conn *c);
void api_conn_on_written(struct api_conn *c, size_t len);
void api_conn_on_timeout(struct api_conn *c);
/* Transport closed: release everything (the owner frees its struct after). */
void api_conn_on_closed(struct api_conn *c);
/* Close as a server that wants to stop: idle now, busy after the answer,
 * streams at once. */
void api_conn_shutdown(struct api_conn *c);
void api_conn_close(struct api_conn *c, bool flush);
bool api_conn_idle(const struct api_conn *c);

#endif
