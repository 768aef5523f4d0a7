/* Matching a path against the route table. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "api/router.h"

#define MAX_SEGS 64

/* Split "/a/b/c" into segment pointers and lengths (no copies). */
static size_t split(const char *path, const char *seg[], size_t len[])
{
    size_t n = 0;
    const char *p = path;

    while (*p == '/')
        p++;
    while (*p && n < MAX_SEGS) {
        size_t l = strcspn(p, "/");
        seg[n] = p;
        len[n] = l;
        n++;
        p += l;
        if (*p == '/')
            p++;
    }
    if (*p)
        return MAX_SEGS + 1; /* too deep for any route */
    return n;
}

static bool is_param(const char *s, size_t l)
{
    return l >= 2 && s[0] == '{' && s[l - 1] == '}';
}

static bool is_greedy(const char *s, size_t l)
{
    return is_param(s, l) && l >= 3 && s[l - 2] == '*';
}

static bool add_param(struct api_pair *params, size_t *n, const char *name, size_t nlen,
                      const char *val, size_t vlen)
{
    if (*n >= API_MAX_PARAMS)
        return false;
    params[*n].key = strndup(name, nlen);
    params[*n].value = strndup(val, vlen);
    (*n)++;
    return params[*n - 1].key && params[*n - 1].value;
}

static void free_params(struct api_pair *params, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free(params[i].key);
        free(params[i].value);
    }
    *n = 0;
}

/* Does the pattern match the path? Fills params on success. A "{x*}" takes
 * the segments left over once the fixed suffix is matched. */
static bool pattern_match(const char *pattern, const char *const ps[], const size_t pl[],
                          size_t np, struct api_pair *params, size_t *nparams)
{
    const char *ts[MAX_SEGS];
    size_t tl[MAX_SEGS], nt = split(pattern, ts, tl), i, j;

    *nparams = 0;
    for (i = 0, j = 0; i < nt; i++) {
        if (is_greedy(ts[i], tl[i])) {
            size_t rest = nt - i - 1;
            const char *start;
            if (np < j + 1 + rest)
                goto no;
            size_t take = np - j - rest;
            start = ps[j];
            const char *endp = ps[j + take - 1] + pl[j + take - 1];
            if (!add_param(params, nparams, ts[i] + 1, tl[i] - 3, start, (size_t)(endp - start)))
                goto no;
            j += take;
            continue;
        }
        if (j >= np)
            goto no;
        if (is_param(ts[i], tl[i])) {
            if (pl[j] == 0 || !add_param(params, nparams, ts[i] + 1, tl[i] - 2, ps[j], pl[j]))
                goto no;
        } else if (tl[i] != pl[j] || memcmp(ts[i], ps[j], pl[j]) != 0) {
            goto no;
        }
        j++;
    }
    if (j == np)
        return true;
no:
    free_params(params, nparams);
    return false;
}

enum api_match api_route_match(const struct api_route *routes, size_t n, const char *method,
                               const char *path, const struct api_route **ret,
                               struct api_pair *ret_params, size_t *ret_n)
{
    const char *ps[MAX_SEGS];
    size_t pl[MAX_SEGS], np = split(path, ps, pl);
    enum api_match result = API_MATCH_NONE;

    *ret = NULL;
    *ret_n = 0;
    if (np > MAX_SEGS)
        return API_MATCH_NONE;
    for (size_t i = 0; i < n; i++) {
        struct api_pair tmp[API_MAX_PARAMS];
        size_t ntmp = 0;
        if (!pattern_match(routes[i].pattern, ps, pl, np, tmp, &ntmp))
            continue;
        if (strcmp(routes[i].method, method) != 0) {
            free_params(tmp, &ntmp);
            result = API_MATCH_METHOD;
            continue;
        }
        memcpy(ret_params, tmp, ntmp * sizeof(tmp[0]));
        *ret_n = ntmp;
        *ret = &routes[i];
        return API_MATCH_OK;
    }
    return result;
}
