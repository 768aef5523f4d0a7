#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/timeparse.h"

#define NS 1000000000LL

int64_t bt_now_nano(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* Up to 9 fraction digits as nanoseconds. */
static int parse_fraction(const char **p, int64_t *ret)
{
    int64_t v = 0;
    int digits = 0;

    while (isdigit((unsigned char)**p)) {
        if (digits < 9) {
            v = v * 10 + (**p - '0');
            digits++;
        }
        (*p)++;
    }
    if (digits == 0)
        return -EINVAL;
    while (digits++ < 9)
        v *= 10;
    *ret = v;
    return 0;
}

static int parse_unix(const char *s, int64_t *ret)
{
    const char *p = s;
    char *end;
    long long sec;
    int64_t frac = 0;

    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    errno = 0;
    sec = strtoll(p, &end, 10);
    if (errno || sec > INT64_MAX / NS - 1)
        return -EINVAL;
    p = end;
    if (*p == '.') {
        p++;
        if (parse_fraction(&p, &frac) < 0)
            return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    *ret = (int64_t)sec * NS + frac;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *ret)
{
    /* Seconds an int64 of nanoseconds holds (years 1678 to 2262). */
    const int64_t max_sec = INT64_MAX / NS - 1;
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    int64_t frac = 0, off = 0;
    time_t t;

    if (!p) {
        memset(&tm, 0, sizeof(tm));
        p = strptime(s, "%Y-%m-%d", &tm);
        if (!p || *p)
            return -EINVAL;
    }
    if (*p == '.') {
        p++;
        if (parse_fraction(&p, &frac) < 0)
            return -EINVAL;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, hh, mm;
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
            !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
            return -EINVAL;
        hh = (p[1] - '0') * 10 + (p[2] - '0');
        mm = (p[4] - '0') * 10 + (p[5] - '0');
        off = sign * (hh * 3600 + mm * 60);
        p += 6;
    }
    if (*p)
        return -EINVAL;
    t = timegm(&tm);
    if ((int64_t)t - off > max_sec || (int64_t)t - off < -max_sec)
        return -EINVAL;
    *ret = ((int64_t)t - off) * NS + frac;
    return 0;
}

int bt_time_parse_rfc3339(const char *s, int64_t *ret_nano)
{
    if (!s)
        return -EINVAL;
    if (strcmp(s, "0001-01-01T00:00:00Z") == 0) {
        *ret_nano = 0;
        return 0;
    }
    return parse_rfc3339(s, ret_nano);
}

void bt_time_format_rfc3339nano(int64_t nano, char buf[BT_TIME_RFC3339_MAX])
{
    /* Floor division, so times before 1970 keep a positive fraction. */
    int64_t sec = nano / NS, frac = nano % NS;
    time_t t;
    struct tm tm;
    size_t n;

    if (nano == 0) {
        snprintf(buf, BT_TIME_RFC3339_MAX, "0001-01-01T00:00:00Z");
        return;
    }
    if (frac < 0) {
        frac += NS;
        sec--;
    }
    t = (time_t)sec;
    gmtime_r(&t, &tm);
    n = strftime(buf, BT_TIME_RFC3339_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac) {
        int digits = 9;
        while (frac % 10 == 0) {
            frac /= 10;
            digits--;
        }
        n += (size_t)snprintf(buf + n, BT_TIME_RFC3339_MAX - n, ".%0*lld", digits, (long long)frac);
    }
    snprintf(buf + n, BT_TIME_RFC3339_MAX - n, "Z");
}

/* "1h30m", "10m", "1.5s", "300ms": Go's duration syntax. */
static int parse_duration(const char *s, int64_t *ret)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {{"ns", 1}, {"us", 1000}, {"µs", 1000}, {"ms", 1000000}, {"s", NS},
                 {"m", 60 * NS}, {"h", 3600 * NS}};
    const char *p = s;
    double total = 0;

    if (!*p)
        return -EINVAL;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        size_t best = 0, best_len = 0;
        if (end == p || v < 0)
            return -EINVAL;
        p = end;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > best_len) {
                best = i;
                best_len = l;
            }
        }
        if (!best_len)
            return -EINVAL;
        total += v * (double)units[best].ns;
        p += best_len;
    }
    if (total > 9e18)
        return -EINVAL;
    *ret = (int64_t)total;
    return 0;
}

int bt_time_parse(const char *s, int64_t now_nano, int64_t *ret_nano)
{
    int64_t d;

    if (!s || !*s)
        return -EINVAL;
    if (parse_unix(s, ret_nano) == 0 || parse_rfc3339(s, ret_nano) == 0)
        return 0;
    if (parse_duration(s, &d) == 0) {
        *ret_nano = now_nano - d;
        return 0;
    }
    return -EINVAL;
}
