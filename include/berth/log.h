/* Structured logging to stderr, one line per event:
 *   time=2026-11-22T14:31:53.123Z level=info module=api msg="listening" addr=/run/berth/berth.sock
 * The level is checked before anything is formatted. Loop thread and pool
 * threads may both log (each line is one write(2)). */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include "berth/macro.h"

enum bt_log_level {
    BT_LOG_ERROR,
    BT_LOG_WARN,
    BT_LOG_INFO,
    BT_LOG_DEBUG,
    BT_LOG_TRACE,
    BT_LOG_LEVEL_MAX,
};

extern enum bt_log_level bt_log_threshold;

/* Parse "error", "warn"/"warning", "info", "debug", "trace" (and dockerd's "fatal"). */
int bt_log_level_parse(const char *s, enum bt_log_level *ret_level);
const char *bt_log_level_name(enum bt_log_level l);

/* fields: key=value pairs written by the caller with printf syntax; may be NULL. */
void bt_log_write(enum bt_log_level l, const char *module, const char *msg, const char *fields, ...)
    _printf_(4, 5);

/* A value escaped for a quoted logfmt field ("err=\"%s\"", bt_log_q(msg)):
 * quotes and backslashes get a backslash, control bytes become spaces.
 * Returns one of a few thread-local buffers: use it inside BT_LOG only. */
const char *bt_log_q(const char *s);

#define BT_LOG(level, module, msg, ...)                                                            \
    do {                                                                                           \
        if (BT_LOG_##level <= bt_log_threshold)                                                    \
            bt_log_write(BT_LOG_##level, module, msg, __VA_ARGS__);                                \
    } while (0)

#endif
