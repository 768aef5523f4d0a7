/* docker save: images into one tar that both dockerd and berth load: an OCI
 * layout (oci-layout, index.json, blobs/sha256/...) plus the docker-archive
 * manifest.json whose Config and Layers point into blobs/, as dockerd 25+
 * writes it. Layers are the stored compressed blobs (docker load accepts
 * compressed layers). The archive is built on the pool into an unnamed temp
 * file; the caller streams it. Loop thread. */
#ifndef BERTH_IMAGE_SAVE_H
#define BERTH_IMAGE_SAVE_H

#include "berth/config.h"
#include "berth/err.h"

struct bt_daemon;

/* fd: the archive, open for reading at offset 0 (the callee's until cb
 * returns: the callback must dup it or read it before returning... it is
 * handed over: the callback owns it). err borrowed. */
typedef void (*bt_save_cb)(void *arg, int fd, const struct bt_err *err);

/* names: references or IDs. Unknown names fail before anything is built. */
int bt_save_start(struct bt_daemon *d, const struct bt_strv *names, bt_save_cb cb, void *arg,
                  struct bt_err **err);

#endif
