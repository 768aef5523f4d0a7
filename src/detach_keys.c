/* Detach key parsing and scanning (berth/detach_keys.h). */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "berth/detach_keys.h"

/* Docker's control-key names: "ctrl-@" is 0, "ctrl-a" 1 ... "ctrl-_" 31. */
static const char ctrl_names[] = "@abcdefghijklmnopqrstuvwxyz[\\]^_";

static int parse_key(const char *key, size_t n, unsigned char *ret)
{
    if (n == 1) {
        *ret = (unsigned char)key[0];
        return 0;
    }
    if (n == 3 && memcmp(key, "DEL", 3) == 0) {
        *ret = 127;
        return 0;
    }
    if (n == 6 && memcmp(key, "ctrl-", 5) == 0 && key[5] != '\0') {
        const char *p = strchr(ctrl_names, key[5]);
        if (p) {
            *ret = (unsigned char)(p - ctrl_names);
            return 0;
        }
    }
    return -EINVAL;
}

int bt_detach_keys_parse(const char *spec, struct bt_detach_keys *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (!spec || !*spec)
        spec = BT_DETACH_KEYS_DEFAULT;
    for (const char *p = spec;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (ret->len == BT_DETACH_KEYS_MAX || parse_key(p, n, &ret->seq[ret->len]) < 0)
            return -EINVAL;
        ret->len++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* After a mismatch on byte b with `held` bytes held: the longest suffix of
 * seq[0..held) + b that still begins the sequence (as KMP's failure step,
 * done directly: sequences are a few bytes). */
static size_t fallback(const struct bt_detach_keys *k, unsigned char b)
{
    for (size_t n = k->held; n > 0; n--) {
        /* suffix of length n: seq[held-n+1 .. held) + b */
        if (k->seq[n - 1] == b && memcmp(k->seq, k->seq + k->held - n + 1, n - 1) == 0)
            return n;
    }
    return 0;
}

bool bt_detach_keys_scan(struct bt_detach_keys *k, const char *data, size_t len,
                         bt_detach_emit_fn emit, void *arg)
{
    size_t start = 0; /* first byte of data not yet emitted nor held */

    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)data[i];
        if (b == k->seq[k->held]) {
            if (k->held == 0 && i > start)
                emit(arg, data + start, i - start);
            start = i + 1;
            if (++k->held == k->len) {
                k->held = 0;
                return true;
            }
            continue;
        }
        if (k->held == 0)
            continue;
        /* The held bytes and b, minus what may still begin a match, go out. */
        size_t keep = fallback(k, b);
        size_t out = k->held + 1 - keep;
        if (keep == 0) {
            emit(arg, (const char *)k->seq, k->held);
            start = i; /* b leaves with the run that follows */
        } else {
            emit(arg, (const char *)k->seq, out);
            start = i + 1;
        }
        k->held = keep;
    }
    if (k->held == 0 && len > start)
        emit(arg, data + start, len - start);
    return false;
}
