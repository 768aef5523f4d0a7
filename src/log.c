#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "berth/log.h"

enum bt_log_level bt_log_threshold = BT_LOG_INFO;

static const char *const level_names[BT_LOG_LEVEL_MAX] = {
    [BT_LOG_ERROR] = "error", [BT_LOG_WARN] = "warn",   [BT_LOG_INFO] = "info",
    [BT_LOG_DEBUG] = "debug", [BT_LOG_TRACE] = "trace",
};

const char *bt_log_level_name(enum bt_log_level l)
{
    return l < BT_LOG_LEVEL_MAX ? level_names[l] : "unknown";
}

int bt_log_level_parse(const char *s, enum bt_log_level *ret_level)
{
    static const struct {
        const char *name;
        enum bt_log_level level;
    } names[] = {
        {"fatal", BT_LOG_ERROR}, {"error", BT_LOG_ERROR}, {"warn", BT_LOG_WARN},
        {"warning", BT_LOG_WARN}, {"info", BT_LOG_INFO},  {"debug", BT_LOG_DEBUG},
        {"trace", BT_LOG_TRACE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *ret_level = names[i].level;
            return 0;
        }
    return -1;
}

const char *bt_log_q(const char *s)
{
    static __thread char bufs[4][1024];
    static __thread unsigned next;
    char *out = bufs[next++ % 4], *o = out;

    for (; s && *s && o < out + sizeof(bufs[0]) - 3; s++) {
        if (*s == '"' || *s == '\\')
            *o++ = '\\';
        *o++ = (unsigned char)*s < 0x20 ? ' ' : *s;
    }
    *o = '\0';
    return out;
}

void bt_log_write(enum bt_log_level l, const char *module, const char *msg, const char *fields, ...)
{
    char line[4096];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "time=%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s module=%s msg=\"%s\"",
                 ts.tv_nsec / 1000000, bt_log_level_name(l), module, msg);
    if (r > 0)
        n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    if (fields && *fields && n < sizeof(line) - 2) {
        va_list ap;
        line[n++] = ' ';
        va_start(ap, fields);
        r = vsnprintf(line + n, sizeof(line) - n, fields, ap);
        va_end(ap);
        if (r > 0)
            n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    }
    /* Keep a line a line even when a field carried a newline. */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line: lines from pool threads never interleave. */
    (void)!write(STDERR_FILENO, line, n);
}
