/* Errors carried from the core to the boundary that reports them.
 *
 * A function that can fail returns an int < 0 and, when it takes a
 * `struct bt_err **err`, fills it only on failure. `code` is a category
 * that api/errmap.c turns into an HTTP status; `msg` is what a user reads. */
#ifndef BERTH_ERR_H
#define BERTH_ERR_H

#include "berth/macro.h"

enum bt_err_code {
    BT_EINTERNAL = 1, /* 500 */
    BT_EINVAL,        /* 400: the request is wrong */
    BT_ENOTFOUND,     /* 404 */
    BT_ECONFLICT,     /* 409 */
    BT_EFORBIDDEN,    /* 403 */
    BT_ENOTMODIFIED,  /* 304 */
    BT_ETOOLARGE,     /* 413 */
    BT_EUNAVAIL,      /* 503: shutting down, too busy */
    BT_ENOTIMPL,      /* 501 */
    BT_EUNAUTHORIZED, /* 401: credentials refused */
    BT_ERR_MAX,
};

struct bt_err {
    enum bt_err_code code;
    int sys_errno; /* errno behind the failure, 0 if none */
    char *msg;
};

/* Fill *err (when err is not NULL and *err is still empty) and return -1. */
int bt_err_set(struct bt_err **err, enum bt_err_code code, int sys_errno, const char *fmt, ...)
    _printf_(4, 5);
/* Prefix the message of an existing error with context ("ctx: msg"); returns -1. */
int bt_err_wrap(struct bt_err **err, const char *fmt, ...) _printf_(2, 3);
void bt_err_free(struct bt_err *e);
void bt_err_freep(struct bt_err **e);

#define _cleanup_err_ _cleanup_(bt_err_freep)

#endif
