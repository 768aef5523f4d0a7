/* The json-file log, byte for byte as dockerd's json-file driver writes it:
 *   {"log":"<text>","stream":"stdout","time":"<RFC 3339, nanoseconds>"}\n
 * one object per line of output with its "\n"; a longer line than
 * MON_LINE_MAX goes out in pieces without one, and a last partial line when
 * the stream ends. Text is escaped as Docker's jsonlog does (Go's rules plus
 * HTML-safe <, >, &). Everything one read produced is formatted into one
 * buffer and written with one write(2), so a chatty container costs one
 * syscall per read, not per line. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor.h"

/* Room for the worst entry: every byte of a full line escaped to 6 bytes,
 * plus the keys and the time. Static and untouched until output needs it, so
 * a quiet container never makes these pages resident. */
#define MON_ATTRS_MAX (16 * 1024)
#define ENTRY_OVERHEAD (128 + MON_ATTRS_MAX)
#define OUT_CAP (6 * MON_LINE_MAX + ENTRY_OVERHEAD + 32 * 1024)
static char out_buf[OUT_CAP];
static size_t out_len;
static char stamp[40]; /* the time of the read being logged, formatted once */
static size_t stamp_len;

int mon_log_open(struct mon_log *lg, const struct bt_rt_spec *s, struct bt_err **err)
{
    lg->fd = -1;
    lg->max_size = s->log_max_size;
    lg->max_file = s->log_max_file > 0 ? s->log_max_file : 1;
    lg->compress = s->log_compress;
    if (!s->log_path)
        return 0;
    if (s->log_attrs && *s->log_attrs) {
        lg->attrs_len = strlen(s->log_attrs);
        if (lg->attrs_len > MON_ATTRS_MAX)
            return bt_err_set(err, BT_EINVAL, 0, "log attrs longer than %d bytes", MON_ATTRS_MAX);
        if (!(lg->attrs = strdup(s->log_attrs)))
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "log attrs");
    }
    if (!(lg->path = strdup(s->log_path)))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "log path");
    if (mon__log_reopen(lg) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open log file %s", lg->path);
    return 0;
}

int mon__log_reopen(struct mon_log *lg)
{
    struct stat st;

    if (lg->fd >= 0)
        (void)close(lg->fd);
    lg->fd = open(lg->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (lg->fd < 0)
        return -1;
    lg->size = fstat(lg->fd, &st) == 0 ? st.st_size : 0;
    return 0;
}

static void log_failed(struct mon_log *lg, const char *what)
{
    /* The container keeps running without its log rather than blocking on it. */
    if (!lg->failed)
        fprintf(stderr, "berth-monitor: %s %s: %s, dropping output\n", what,
                lg->path ? lg->path : "", strerror(errno));
    lg->failed = true;
}

/* Write out_buf[0, n) and keep what follows it. */
static void flush_prefix(struct mon_log *lg, size_t n)
{
    size_t done = 0;

    while (done < n && lg->fd >= 0) {
        ssize_t w = write(lg->fd, out_buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_failed(lg, "write");
            break;
        }
        done += (size_t)w;
        lg->size += w;
    }
    memmove(out_buf, out_buf + n, out_len - n);
    out_len -= n;
}

static void format_stamp(void)
{
    struct timespec ts;
    struct tm tm;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    stamp_len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    /* Go's RFC3339Nano: the fraction loses its trailing zeros, or goes away. */
    if (ts.tv_nsec) {
        long ns = ts.tv_nsec;
        int digits = 9;
        while (ns % 10 == 0) {
            ns /= 10;
            digits--;
        }
        stamp_len +=
            (size_t)snprintf(stamp + stamp_len, sizeof(stamp) - stamp_len, ".%0*ld", digits, ns);
    }
    stamp[stamp_len++] = 'Z';
}

/* Length of a valid UTF-8 sequence at p (Go's utf8.DecodeRune), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t len;

    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f; /* no surrogates */
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f; /* nothing past U+10FFFF */
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

static void put(const char *s, size_t n)
{
    memcpy(out_buf + out_len, s, n);
    out_len += n;
}

static void put_escaped(const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out_buf + out_len;

    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x80) {
            *o++ = '\\';
            if (c == '"' || c == '\\')
                *o++ = (char)c;
            else if (c == '\n')
                *o++ = 'n';
            else if (c == '\r')
                *o++ = 'r';
            else if (c == '\t')
                *o++ = 't';
            else {
                memcpy(o, "u00", 3);
                o[3] = hex[c >> 4];
                o[4] = hex[c & 0xf];
                o += 5;
            }
            i++;
            continue;
        }
        size_t len = utf8_len(p + i, n - i);
        if (len == 0) {
            memcpy(o, "\\ufffd", 6);
            o += 6;
            i++;
        } else if (len == 3 && c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] | 1) == 0xa9) {
            /* U+2028 and U+2029 end lines in JavaScript: Go escapes them. */
            memcpy(o, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
            o += 6;
            i += 3;
        } else {
            memcpy(o, p + i, len);
            o += len;
            i += len;
        }
    }
    out_len = (size_t)(o - out_buf);
}

/* Append one entry; rotate first when it would carry the file past max-size. */
static void put_entry(struct mon_log *lg, const struct mon_stream *st, const char *p, size_t n)
{
    if (out_len + 6 * n + ENTRY_OVERHEAD > OUT_CAP)
        flush_prefix(lg, out_len);
    size_t start = out_len;
    put("{\"log\":\"", 8);
    put_escaped((const unsigned char *)p, n);
    put("\",\"stream\":\"", 12);
    put(st->name, strlen(st->name));
    if (lg->attrs) { /* dockerd's order: log, stream, attrs, time */
        put("\",\"attrs\":", 10);
        put(lg->attrs, lg->attrs_len);
        put(",\"time\":\"", 9);
    } else {
        put("\",\"time\":\"", 10);
    }
    put(stamp, stamp_len);
    put("\"}\n", 3);
    /* dockerd rotates when current size + this message > max-size; what is
     * queued before this entry counts as written. */
    if (lg->max_size > 0 && lg->size + (int64_t)out_len > lg->max_size &&
        lg->size + (int64_t)start > 0) {
        flush_prefix(lg, start);
        mon__log_rotate(lg);
    }
}

/* Cut the bytes into entries: whole lines ("\n" kept) and MON_LINE_MAX pieces;
 * a line's start waits in st->line until its end arrives. */
static void feed_lines(struct mon_log *lg, struct mon_stream *st, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) + 1 : n;
        size_t room = MON_LINE_MAX - st->line_len;
        bool complete = nl != NULL;
        if (seg > room) {
            seg = room;
            complete = false;
        }
        if (st->line_len == 0 && (complete || seg == MON_LINE_MAX)) {
            put_entry(lg, st, p, seg);
        } else {
            if (!st->line && !(st->line = malloc(MON_LINE_MAX)))
                return; /* ENOMEM: drop the fragment rather than the monitor */
            memcpy(st->line + st->line_len, p, seg);
            st->line_len += seg;
            if (complete || st->line_len == MON_LINE_MAX) {
                put_entry(lg, st, st->line, st->line_len);
                st->line_len = 0;
            }
        }
        p += seg;
        n -= seg;
    }
}

void mon_log_feed(struct mon_log *lg, struct mon_stream *st, const char *p, size_t n)
{
    if (!lg->path)
        return;
    format_stamp();
    feed_lines(lg, st, p, n);
    flush_prefix(lg, out_len);
}

void mon_log_eof(struct mon_log *lg, struct mon_stream *st)
{
    if (lg->path && st->line_len > 0) {
        format_stamp();
        put_entry(lg, st, st->line, st->line_len);
        flush_prefix(lg, out_len);
    }
    st->line_len = 0;
    free(st->line);
    st->line = NULL;
}

void mon_log_close(struct mon_log *lg)
{
    mon__log_wait_gzip(lg);
    if (lg->fd >= 0)
        (void)close(lg->fd);
    lg->fd = -1;
    free(lg->path);
    lg->path = NULL;
    free(lg->attrs);
    lg->attrs = NULL;
}
