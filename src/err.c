#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/err.h"

static char *vformat(const char *fmt, va_list ap) _printf_(1, 0);
static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return NULL;
    return s;
}

int bt_err_set(struct bt_err **err, enum bt_err_code code, int sys_errno, const char *fmt, ...)
{
    va_list ap;
    struct bt_err *e;
    char *msg;

    /* The first failure is the one worth reporting: keep it. */
    if (!err || *err)
        return -1;
    e = calloc(1, sizeof(*e));
    if (!e)
        return -1;
    va_start(ap, fmt);
    msg = vformat(fmt, ap);
    va_end(ap);
    if (msg && sys_errno) {
        char *full = NULL;
        if (asprintf(&full, "%s: %s", msg, strerror(sys_errno)) >= 0) {
            free(msg);
            msg = full;
        }
    }
    e->code = code;
    e->sys_errno = sys_errno;
    e->msg = msg ? msg : strdup("out of memory");
    *err = e;
    return -1;
}

int bt_err_wrap(struct bt_err **err, const char *fmt, ...)
{
    va_list ap;
    char *ctx, *full = NULL;

    if (!err || !*err)
        return -1;
    va_start(ap, fmt);
    ctx = vformat(fmt, ap);
    va_end(ap);
    if (ctx && asprintf(&full, "%s: %s", ctx, (*err)->msg ? (*err)->msg : "") >= 0) {
        free((*err)->msg);
        (*err)->msg = full;
    }
    free(ctx);
    return -1;
}

void bt_err_free(struct bt_err *e)
{
    if (!e)
        return;
    free(e->msg);
    free(e);
}

void bt_err_freep(struct bt_err **e)
{
    bt_err_free(*e);
    *e = NULL;
}
