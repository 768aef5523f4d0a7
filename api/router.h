/* Routes: one static table of {method, pattern, handler, body limit}.
 * Patterns are /-separated; "{name}" matches one segment, "{name*}" one or
 * more (image names contain '/' and ':'), so /images/{name*}/json matches
 * /images/127.0.0.1:5000/x/y:latest/json by its suffix. */
#ifndef BERTH_API_ROUTER_H
#define BERTH_API_ROUTER_H

#include <stddef.h>

#include "api/api.h"

typedef int (*api_handler_fn)(struct api_req *rq, struct bt_err **err);

struct api_route {
    const char *method;
    const char *pattern;
    api_handler_fn handler;
    size_t max_body; /* 0: API_DEFAULT_MAX_BODY */
};

enum api_match {
    API_MATCH_OK,
    API_MATCH_NONE,   /* 404 page not found */
    API_MATCH_METHOD, /* the path exists with another method: 405 */
};

/* Match path (already without version prefix) against the table. On
 * API_MATCH_OK, ret_params gets malloc'd copies of the parameters. */
enum api_match api_route_match(const struct api_route *routes, size_t n, const char *method,
                               const char *path, const struct api_route **ret,
                               struct api_pair *ret_params, size_t *ret_n);
/* The daemon's table. */
extern const struct api_route api_routes[];
extern const size_t api_routes_n;

/* Split a request target into the decoded path without /vX.Y, the version
 * (or BT_API_VERSION_NUM when absent), and the decoded query.
 * -EINVAL for a target we cannot decode. *ret_version_str gets the version
 * text as sent ("1.41") or NULL. */
int api_target_parse(const char *target, char **ret_path, int *ret_version,
                     char **ret_version_str, struct api_pair **ret_query, size_t *ret_n_query);
void api_pairs_free(struct api_pair *p, size_t n);

#endif
