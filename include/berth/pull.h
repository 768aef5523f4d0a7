/* docker pull: resolve the manifest (picking the platform from a list or
 * index), fetch the config, fetch the layers (several at once, shared with
 * other pulls), extract them into the layer store in order, register the
 * image. Progress goes to the caller as structured messages; the API turns
 * them into the JSON stream the docker CLI draws. Loop thread. */
#ifndef BERTH_PULL_H
#define BERTH_PULL_H

#include <stdbool.h>
#include <stdint.h>

#include "berth/err.h"

struct bt_daemon;
struct bt_pull;
struct bt_reg_creds;

struct bt_pull_msg {
    const char *status;
    const char *id;      /* layer short ID, tag, or NULL */
    bool detail;         /* carries a progressDetail (a per-layer line) */
    uint64_t current, total;
};

struct bt_pull_cb {
    /* The manifest is resolved: from here on messages follow (the API starts
     * its stream on the first one). */
    void (*message)(void *arg, const struct bt_pull_msg *m);
    /* Exactly once, at the end. started tells whether any message was sent
     * (before that, an error is an ordinary API error). err is borrowed. */
    void (*done)(void *arg, bool started, const struct bt_err *err);
    void *arg;
};

struct bt_pull_opts {
    const char *image;    /* fromImage as sent */
    const char *tag;      /* tag or digest, may be NULL */
    const char *platform; /* "os/arch[/variant]", NULL: the host's */
    const struct bt_reg_creds *creds; /* may be NULL */
};

int bt_pull_start(struct bt_daemon *d, const struct bt_pull_opts *o, const struct bt_pull_cb *cb,
                  struct bt_pull **ret, struct bt_err **err);
/* The client left: downloads nobody else needs stop (their bytes are kept),
 * layers being extracted finish; no more callbacks. */
void bt_pull_cancel(struct bt_pull *p);

/* docker pull -a: every tag of the repository (image names no tag), one
 * after the other, with the same callbacks; done comes once at the end. */
struct bt_pull_all;
int bt_pull_all_start(struct bt_daemon *d, const struct bt_pull_opts *o, const struct bt_pull_cb *cb,
                      struct bt_pull_all **ret, struct bt_err **err);
void bt_pull_all_cancel(struct bt_pull_all *a);

#endif
