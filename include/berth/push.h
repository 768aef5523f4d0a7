/* docker push: the layers' stored blobs go up (skipped when the registry has
 * them, mounted from another repository of the same registry when it can),
 * then the config, then the manifest. Loop thread. */
#ifndef BERTH_PUSH_H
#define BERTH_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "berth/err.h"

struct bt_daemon;
struct bt_push;
struct bt_reg_creds;

struct bt_push_cb {
    void (*message)(void *arg, const char *status, const char *id, bool detail, uint64_t current,
                    uint64_t total);
    /* After each tag: {"aux":{"Tag","Digest","Size"}}. */
    void (*aux)(void *arg, const char *tag, const char *digest, uint64_t size);
    /* Once; err borrowed; started: some message was sent. */
    void (*done)(void *arg, bool started, const struct bt_err *err);
    void *arg;
};

/* name: the repository as the client sent it (may carry a tag); tag: the
 * tag to push, or NULL/"" for every tag of the repository. */
int bt_push_start(struct bt_daemon *d, const char *name, const char *tag,
                  const struct bt_reg_creds *creds, const struct bt_push_cb *cb,
                  struct bt_push **ret, struct bt_err **err);
void bt_push_cancel(struct bt_push *p);

#endif
