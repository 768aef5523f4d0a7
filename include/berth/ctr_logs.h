/* Reading a container's json-file log (data-root/containers/<id>/<id>-json.log
 * and its rotations <log>.1, <log>.2 ..., ".gz" when compressed) for
 * GET /containers/{id}/logs. The reader does blocking file I/O: every
 * function but bt_logs_reader_new and _free runs on the pool, one call at a
 * time per reader. */
#ifndef BERTH_CTR_LOGS_H
#define BERTH_CTR_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/buf.h"

/* One json-file line: {"log":"...","stream":"stdout|stderr","time":"RFC3339Nano"}. */
struct bt_logline {
    char *log; /* decoded, malloc'd (may hold NULs: use log_len) */
    size_t log_len;
    bool is_stderr;
    int64_t time_nano;
    char *details; /* the entry's "attrs" as `docker logs --details` shows
                    * them ("k=v,k2=v2", sorted, query-escaped); NULL: none */
};
/* 0, or -EINVAL for a line that is not a json-file entry, -ENOMEM. */
int bt_logline_parse(const char *line, size_t len, struct bt_logline *ret);
void bt_logline_done(struct bt_logline *l);

/* The fast path (src/ctr_logline.c): a line in the exact shape the monitor
 * writes, taken apart in place. `log` points at the still-escaped text
 * inside the line, `attrs` at the raw JSON object (NULL: none). 0, or
 * -EAGAIN for anything else: parse that line with bt_logline_parse. */
struct bt_logline_span {
    const char *log;
    size_t log_len;
    bool is_stderr;
    const char *attrs;
    size_t attrs_len;
    int64_t time_nano;
};
int bt_logline_scan(const char *line, size_t len, struct bt_logline_span *ret);
/* Decode span.log into dst, which has room for n bytes (the text never grows
 * when decoded); the decoded length. Only for text bt_logline_scan accepted. */
size_t bt_logline_unescape(const char *p, size_t n, char *dst);
/* "YYYY-MM-DDTHH:MM:SS[.frac]Z" of s[0, n): 0 and *ret_nano, or -EAGAIN for
 * any other form (use bt_time_parse_rfc3339). */
int bt_logline_time(const char *s, size_t n, int64_t *ret_nano);

struct bt_logs_opts {
    bool out, err;     /* which streams */
    bool timestamps;   /* payload starts with "<RFC3339Nano> " */
    bool details;      /* then "<attrs> " (see bt_logline.details) */
    bool tty;          /* raw bytes, else 8-byte multiplexed frames */
    long tail;         /* last N lines of both streams (before the stream filter); < 0: all */
    int64_t since, until; /* ns since the epoch, 0: no bound */
};

struct bt_logs_reader;
/* Loop side, no I/O. -ENOMEM. */
int bt_logs_reader_new(const char *log_path, const struct bt_logs_opts *o,
                       struct bt_logs_reader **ret);
void bt_logs_reader_free(struct bt_logs_reader *r);

enum bt_logs_step {
    BT_LOGS_MORE,  /* `out` is full: call again */
    BT_LOGS_AT_END, /* everything written so far is in `out` */
    BT_LOGS_PAST_UNTIL, /* an entry after `until` was seen: nothing more will come */
};
/* Pool: append the next entries' output to `out` until it holds about
 * `max` bytes or the log's current end. Follows a rotation of the live file
 * (the reader holds the file it reads; the newer files are found by inode). */
enum bt_logs_step bt_logs_reader_step(struct bt_logs_reader *r, struct bt_buf *out, size_t max);

#endif
