/* A growable byte buffer with a hard cap: a peer can never make it grow
 * past `max`, so every buffer filled from the network is bounded. */
#ifndef BERTH_BUF_H
#define BERTH_BUF_H

#include <stddef.h>

#include "berth/macro.h"

struct bt_buf {
    char *p;    /* always NUL-terminated when not NULL */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* len may never exceed this; 0 = no cap (only for data we produce) */
};

void bt_buf_init(struct bt_buf *b, size_t max);
/* Append n bytes; -ENOBUFS when the cap would be passed (nothing appended), -ENOMEM. */
int bt_buf_append(struct bt_buf *b, const void *data, size_t n);
int bt_buf_appendf(struct bt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make room for n more bytes (same errors as append, nothing appended). */
int bt_buf_reserve(struct bt_buf *b, size_t n);
/* Drop the first n bytes. */
void bt_buf_consume(struct bt_buf *b, size_t n);
void bt_buf_reset(struct bt_buf *b);
/* Hand the bytes to the caller (NUL-terminated, may be NULL when empty) and reset. */
char *bt_buf_steal(struct bt_buf *b, size_t *ret_len);
void bt_buf_done(struct bt_buf *b);

#endif
