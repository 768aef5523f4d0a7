/* What the daemon does with images, on top of the image, layer and content
 * stores: look up by name or ID, tag, delete, register a new image, and keep
 * the store's files current. Loop thread; disk work goes to the pool. */
#ifndef BERTH_IMAGE_OPS_H
#define BERTH_IMAGE_OPS_H

#include <stdbool.h>

#include "berth/config.h"
#include "berth/err.h"

struct bt_daemon;
struct stor_image;

/* dockerd's order: a reference (name[:tag], name@digest), then a full ID,
 * then a unique ID prefix. BT_ENOTFOUND "No such image: busybox:latest". */
int bt_image_lookup(struct bt_daemon *d, const char *name, struct stor_image **ret,
                    struct bt_err **err);
/* The image's tags (digests = false) or digests in the short form the API
 * shows ("busybox:latest", "127.0.0.1:5000/x@sha256:.."), sorted. */
int bt_image_familiar_refs(const struct bt_daemon *d, const struct stor_image *img, bool digests,
                           struct bt_strv *ret);
/* Point repo[:tag] at img (tag NULL or "" = latest; repo may carry the tag). */
int bt_image_tag(struct bt_daemon *d, struct stor_image *img, const char *repo, const char *tag,
                 struct bt_err **err);

/* Publish an image event: Actor.ID = actor, Attributes name = name plus the
 * image's labels (img may be NULL). */
void bt_image_event(struct bt_daemon *d, const struct stor_image *img, const char *actor,
                    const char *name, const char *action);

struct bt_image_delete_result {
    struct bt_strv untagged; /* familiar refs */
    struct bt_strv deleted;  /* image ID, then the layers' chain IDs removed */
};
typedef void (*bt_image_delete_cb)(void *arg, struct bt_image_delete_result *res,
                                   struct bt_err *err);
/* DELETE /images/{name}: untag, and delete the image once no reference is
 * left. cb runs later on the loop (res and err are the callee's; cb must not
 * keep them). A synchronous refusal (not found, conflict) returns < 0 with
 * *err and cb never runs. */
int bt_image_delete(struct bt_daemon *d, const char *name, bool force, bool noprune,
                    bt_image_delete_cb cb, void *arg, struct bt_err **err);

/* Add a new image (pull, load, import) whose config blob and layers are
 * stored and whose top layer the caller holds pinned: the image takes a
 * reference on it, its record is written, `refs` (full references) point at
 * it. cb runs on the loop with the image as stored (NULL on error). */
typedef void (*bt_image_register_cb)(void *arg, struct stor_image *img, struct bt_err *err);
int bt_image_register(struct bt_daemon *d, struct stor_image *img, const struct bt_strv *refs,
                      bt_image_register_cb cb, void *arg);

/* Undo what a failed load or pull left: layers (bottom first in `chains`,
 * removed from the top while nothing holds them) and blobs (deleted). The
 * caller must have released its pins. done (may be NULL) runs on the loop
 * once everything is gone, so the answer to the client comes after it. */
void bt_storage_gc(struct bt_daemon *d, const struct bt_strv *chains, const struct bt_strv *blobs,
                   void (*done)(void *arg), void *arg);

/* Write images/repositories.json soon (coalesced; on the pool). */
void bt_images_persist(struct bt_daemon *d);

#endif
