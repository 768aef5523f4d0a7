/* Request targets: percent-decoding, the /vX.Y prefix, the query string. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/router.h"
#include "berth/version.h"

void api_pairs_free(struct api_pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].key);
        free(p[i].value);
    }
    free(p);
}

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

/* Decode n bytes of s; '+' is a space only in query strings. NUL bytes are
 * refused: no C string may be cut short by a client. */
static char *pct_decode(const char *s, size_t n, bool plus_space)
{
    char *out = malloc(n + 1), *o = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(h * 16 + l);
            i += 2;
        } else if (plus_space && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* "/v1.41/..." -> version 141. Returns the length of the prefix, 0 if none. */
static size_t version_prefix(const char *path, int *ret_version, char **ret_str)
{
    const char *p = path + 2, *dot, *end;
    long major, minor;
    char *e;

    if (strncmp(path, "/v", 2) != 0 || !(*p >= '0' && *p <= '9'))
        return 0;
    end = p + strspn(p, "0123456789.");
    if (*end != '/' && *end != '\0')
        return 0;
    major = strtol(p, &e, 10);
    dot = e;
    if (*dot == '.' && dot[1] >= '0' && dot[1] <= '9') {
        minor = strtol(dot + 1, &e, 10);
    } else {
        minor = 0;
    }
    if (e != end || major > 99 || minor > 99)
        return 0;
    *ret_version = (int)(major * 100 + minor);
    *ret_str = strndup(p, (size_t)(end - p));
    return (size_t)(end - path);
}

static int query_parse(const char *q, struct api_pair **ret, size_t *ret_n)
{
    struct api_pair *pairs = NULL;
    size_t n = 0;

    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        if (len > 0) {
            struct api_pair *np = realloc(pairs, (n + 1) * sizeof(*np));
            if (!np)
                goto fail;
            pairs = np;
            pairs[n].key = pct_decode(q, klen, true);
            pairs[n].value = eq ? pct_decode(eq + 1, len - klen - 1, true) : strdup("");
            n++;
            if (!pairs[n - 1].key || !pairs[n - 1].value)
                goto fail;
        }
        q += len;
        if (*q == '&')
            q++;
    }
    *ret = pairs;
    *ret_n = n;
    return 0;
fail:
    api_pairs_free(pairs, n);
    return -EINVAL;
}

int api_target_parse(const char *target, char **ret_path, int *ret_version,
                     char **ret_version_str, struct api_pair **ret_query, size_t *ret_n_query)
{
    size_t plen, skip;
    char *path;
    int version = BT_API_VERSION_NUM;
    char *vstr = NULL;

    if (!target || target[0] != '/')
        return -EINVAL;
    plen = strcspn(target, "?");
    path = pct_decode(target, plen, false);
    if (!path)
        return -EINVAL;
    skip = version_prefix(path, &version, &vstr);
    if (skip) {
        memmove(path, path + skip, strlen(path + skip) + 1);
        if (!path[0]) {
            path[0] = '/';
            path[1] = '\0';
        }
    }
    *ret_query = NULL;
    *ret_n_query = 0;
    if (target[plen] == '?' && query_parse(target + plen + 1, ret_query, ret_n_query) < 0) {
        free(path);
        free(vstr);
        return -EINVAL;
    }
    *ret_path = path;
    *ret_version = version;
    *ret_version_str = vstr;
    return 0;
}
