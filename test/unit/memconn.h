/* An in-memory transport for api_conn: tests and the fuzzer feed request
 * bytes in and read the response bytes out, through the real connection
 * state machine, with no socket and no loop. */
#ifndef BERTH_TEST_MEMCONN_H
#define BERTH_TEST_MEMCONN_H

#include <stdbool.h>

#include "api/conn.h"

struct memconn {
    struct api_conn conn;
    struct bt_buf out;      /* everything the server wrote */
    bool closed;            /* the server closed (after flushing) */
    bool reading;
    uint64_t timer_ms;      /* armed timer, 0 = none */
    bool hold_writes;       /* keep writes "in flight" until memconn_flush */
    size_t held;
};

/* A daemon stand-in good enough for the routes that do not touch the core. */
struct bt_daemon *memconn_daemon(void);
void memconn_init(struct memconn *m, size_t max_header_bytes);
void memconn_feed(struct memconn *m, const char *data, size_t len);
void memconn_feed_str(struct memconn *m, const char *s);
void memconn_flush(struct memconn *m);
/* Release the connection (if the server has not closed it) and the buffers. */
void memconn_done(struct memconn *m);
/* Count "HTTP/1.1 " status lines in the output. */
int memconn_responses(const struct memconn *m);

#endif
