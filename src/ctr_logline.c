/* The fast path of the json-file reader: a line in the one shape the monitor
 * (and dockerd's json-file driver) writes,
 *   {"log":"<escaped>","stream":"stdout|stderr"[,"attrs":{...}],"time":"<RFC 3339>"}
 * is taken apart in place, without a JSON tree or an allocation, and its text
 * decoded straight into the caller's buffer. Anything else (another key
 * order, whitespace, an escape we do not expect, a time with an offset)
 * answers -EAGAIN and the caller parses the line with cJSON. With 100
 * `logs -f` followers every line is decoded 100 times: this is that loop. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "berth/ctr_logs.h"
#include "berth/timeparse.h"

#define NS 1000000000LL

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* The end of the JSON string starting at p (just after its '"'): the index of
 * the closing quote, or -1 when the string is torn or holds what the decoder
 * below does not take (a raw control byte, an odd escape, a lone surrogate). */
static ptrdiff_t string_end(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"')
            return (ptrdiff_t)i;
        if (c < 0x20)
            return -1;
        if (c != '\\')
            continue;
        if (++i >= n)
            return -1;
        switch (p[i]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            continue;
        case 'u':
            break;
        default:
            return -1;
        }
        if (i + 4 >= n)
            return -1;
        int u = hex4(p + i + 1);
        i += 4;
        if (u < 0 || (u >= 0xdc00 && u <= 0xdfff))
            return -1;
        if (u >= 0xd800 && u <= 0xdbff) { /* a high surrogate wants its low half */
            if (i + 6 >= n || p[i + 1] != '\\' || p[i + 2] != 'u')
                return -1;
            int lo = hex4(p + i + 3);
            if (lo < 0xdc00 || lo > 0xdfff)
                return -1;
            i += 6;
        }
    }
    return -1;
}

static char *put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

size_t bt_logline_unescape(const char *p, size_t n, char *dst)
{
    char *o = dst;
    size_t i = 0;

    while (i < n) {
        /* Runs of plain bytes are most of any log: copy them in one go. */
        const char *bs = memchr(p + i, '\\', n - i);
        size_t run = bs ? (size_t)(bs - (p + i)) : n - i;
        memcpy(o, p + i, run);
        o += run;
        i += run;
        if (i >= n)
            break;
        char e = p[i + 1];
        i += 2;
        switch (e) {
        case 'b': *o++ = '\b'; continue;
        case 'f': *o++ = '\f'; continue;
        case 'n': *o++ = '\n'; continue;
        case 'r': *o++ = '\r'; continue;
        case 't': *o++ = '\t'; continue;
        case 'u': break;
        default: *o++ = e; continue; /* " \ / */
        }
        uint32_t cp = (uint32_t)hex4(p + i);
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)hex4(p + i + 2) - 0xdc00);
            i += 6;
        }
        o = put_utf8(o, cp);
    }
    return (size_t)(o - dst);
}

static int digits(const char *p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (the
 * era arithmetic of "days from civil": years counted from March, so the leap
 * day is the last of its year). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int bt_logline_time(const char *s, size_t n, int64_t *ret_nano)
{
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    int64_t frac = 0;
    size_t i = 19;

    /* "YYYY-MM-DDTHH:MM:SS" then ".fraction" and "Z": anything else (an
     * offset, a lower-case z, a year an int64 of ns cannot hold) is left to
     * the general parser. */
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        (y = digits(s, 4)) < 1678 || y > 2261 || (mo = digits(s + 5, 2)) < 1 || mo > 12 ||
        (d = digits(s + 8, 2)) < 1 || d > mdays[mo - 1] || (h = digits(s + 11, 2)) < 0 ||
        h > 23 || (mi = digits(s + 14, 2)) < 0 || mi > 59 || (sec = digits(s + 17, 2)) < 0 ||
        sec > 60)
        return -EAGAIN;
    if (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400)))
        return -EAGAIN;
    if (s[i] == '.') {
        int nd = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (nd < 9) {
                frac = frac * 10 + (s[i] - '0');
                nd++;
            }
        if (nd == 0)
            return -EAGAIN;
        while (nd++ < 9)
            frac *= 10;
    }
    if (i + 1 != n || s[i] != 'Z')
        return -EAGAIN;
    *ret_nano = ((days_from_civil(y, mo, d) * 24 + h) * 3600 + mi * 60 + sec) * NS + frac;
    return 0;
}

/* Skip the JSON object at p[0] == '{' (strings may hold braces): the length
 * through its '}', or 0 when it does not end inside n. */
static size_t object_len(const char *p, size_t n)
{
    int depth = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] == '{') {
            depth++;
        } else if (p[i] == '}') {
            if (--depth == 0)
                return i + 1;
        } else if (p[i] == '"') {
            ptrdiff_t e = string_end(p + i + 1, n - i - 1);
            if (e < 0)
                return 0;
            i += (size_t)e + 1;
        }
    }
    return 0;
}

static bool eat(const char **p, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

#define EAT(lit) eat(&p, end, lit, sizeof(lit) - 1)

int bt_logline_scan(const char *line, size_t len, struct bt_logline_span *ret)
{
    const char *p = line, *end = line + len;
    ptrdiff_t e;

    *ret = (struct bt_logline_span){0};
    if (!EAT("{\"log\":\"") || (e = string_end(p, (size_t)(end - p))) < 0)
        return -EAGAIN;
    ret->log = p;
    ret->log_len = (size_t)e;
    p += e + 1;
    if (!EAT(",\"stream\":\""))
        return -EAGAIN;
    if (EAT("stderr\""))
        ret->is_stderr = true;
    else if (!EAT("stdout\""))
        return -EAGAIN;
    if (EAT(",\"attrs\":")) {
        size_t n = p < end && *p == '{' ? object_len(p, (size_t)(end - p)) : 0;
        if (n == 0)
            return -EAGAIN;
        ret->attrs = p;
        ret->attrs_len = n;
        p += n;
    }
    if (!EAT(",\"time\":\"") || end - p < 2 || end[-1] != '}' || end[-2] != '"')
        return -EAGAIN;
    return bt_logline_time(p, (size_t)(end - 2 - p), &ret->time_nano);
}
