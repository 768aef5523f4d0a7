/* The hijacked stream of attach and exec start: one client connection
 * relayed to one core session (a container attach or an exec stream), with
 * the client's stdin watched for the detach keys when the stream has a tty
 * (as dockerd: never without one, where stdin is data). Loop thread. */
#ifndef BERTH_API_RELAY_H
#define BERTH_API_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "berth/container.h"
#include "berth/detach_keys.h"

/* The session's half of the relay: bt_ctr_attach_* or bt_exec_stream_*. */
struct api_relay_session_ops {
    int (*input)(void *s, const char *data, size_t len); /* > 0: pause the client */
    void (*input_eof)(void *s);
    void (*output_resume)(void *s);
    void (*free)(void *s);
};

struct api_relay;
/* The core's callbacks for a session made with api_relay_new()'s relay as arg. */
extern const struct bt_ctr_attach_ops api_relay_core_ops;

/* A relay for a session about to be made; keys NULL: no detach keys.
 * NULL on ENOMEM. */
struct api_relay *api_relay_new(const struct bt_detach_keys *keys);
/* The session could not be made: free the relay. */
void api_relay_abandon(struct api_relay *x);
/* Hijack rq (101 or 200 with ctype) and relay it to session s. The relay
 * owns s from here on and frees it when the stream ends, the client leaves
 * or detaches. */
void api_relay_begin(struct api_relay *x, struct api_req *rq, void *s,
                     const struct api_relay_session_ops *sops, const char *ctype);

#endif
