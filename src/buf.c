#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

void bt_buf_init(struct bt_buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

int bt_buf_reserve(struct bt_buf *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->max && (n > b->max || b->len > b->max - n))
        return -ENOBUFS;
    need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (b->max && cap > b->max + 1)
        cap = b->max + 1;
    p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int bt_buf_append(struct bt_buf *b, const void *data, size_t n)
{
    int r = bt_buf_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int bt_buf_appendf(struct bt_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    r = bt_buf_reserve(b, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void bt_buf_consume(struct bt_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        if (b->p)
            b->p[0] = '\0';
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

void bt_buf_reset(struct bt_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

char *bt_buf_steal(struct bt_buf *b, size_t *ret_len)
{
    char *p = b->p;
    if (ret_len)
        *ret_len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void bt_buf_done(struct bt_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
