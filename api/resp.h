/* Between the connection (conn.c) and requests/responses (req.c, resp.c). */
#ifndef BERTH_API_RESP_H
#define BERTH_API_RESP_H

#include "api/api.h"
#include "api/conn.h"

struct api_req *api__req_new(struct api_conn *c, uint64_t id);
/* Decode the target, check nothing yet: find the route and its parameters. */
void api__req_route(struct api_req *rq);
/* Version checks, then the handler (or the error answer). */
void api__req_dispatch(struct api_req *rq);

/* Hand bytes to the transport (takes data). */
void api__conn_write(struct api_conn *c, char *data, size_t len);
void api__conn_write_str(struct api_conn *c, const char *s);
/* A complete error answer outside any request, with Connection: close. */
void api__conn_reply_error_close(struct api_conn *c, int status, const char *msg);
void api__conn_request_done(struct api_conn *c, struct api_req *rq);

#endif
