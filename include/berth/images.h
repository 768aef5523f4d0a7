/* The image store: images by ID (the sha256 of their config), and the
 * references (name:tag and name@digest) that point at them.
 *
 * On disk (data root):
 *   images/repositories.json   {"Repositories":{NAME:{REF:ID}}}, full names
 *   images/<hex>.json          one record per image (layers, size, times)
 *   blobs/sha256/<hex>         the image config itself (content store)
 * The in-memory index belongs to the loop thread; stor_images_open() and
 * the *_write() functions are blocking (start-up, or a pool thread). */
#ifndef BERTH_IMAGES_H
#define BERTH_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/digest.h"
#include "berth/err.h"
#include "berth/kv.h"

struct stor_image {
    char id[BT_DIGEST_STR_LEN + 1]; /* "sha256:<hex>" = config digest */
    char *config;                   /* the config blob, NUL-terminated */
    size_t config_len;
    char **diff_ids;                /* bottom layer first */
    size_t n_layers;
    char top_chain[BT_DIGEST_STR_LEN + 1]; /* layer store key of the top layer; "" when none */
    uint64_t size;                  /* sum of the layers' sizes */
    int64_t created_nano;           /* from the config's "created" */
    int64_t last_tag_nano;
    char *parent;                   /* ID of the parent image (built/committed), or NULL */
    char *os, *architecture, *variant;
    struct bt_kv *labels;           /* config.Labels */
    size_t n_labels;
};

struct stor_images;

/* Load the store (blocking; start-up). A record whose config blob is
 * missing or does not match its ID is dropped (and reported in *ret_dropped). */
int stor_images_open(const char *data_root, struct stor_images **ret, size_t *ret_dropped,
                     struct bt_err **err);
void stor_images_free(struct stor_images *s);

/* Build an image from its config blob (parses created, os, labels, diff_ids). */
int stor_image_from_config(const char *config, size_t len, struct stor_image **ret,
                           struct bt_err **err);
void stor_image_free(struct stor_image *img);

size_t stor_images_count(const struct stor_images *s);
struct stor_image *stor_images_at(const struct stor_images *s, size_t i);
struct stor_image *stor_images_get(const struct stor_images *s, const char *id);
/* Unique match of an ID prefix (>= 1 hex digit, with or without "sha256:");
 * BT_ENOTFOUND, or BT_EINVAL when ambiguous. */
int stor_images_by_prefix(const struct stor_images *s, const char *prefix,
                          struct stor_image **ret, struct bt_err **err);
/* The image a full reference ("docker.io/library/busybox:latest" or
 * "name@sha256:...") points at, NULL if none. */
struct stor_image *stor_images_resolve(const struct stor_images *s, const char *ref);

/* Add (takes img; an image with the same ID already present is kept and
 * img freed: *ret gets the one in the store). */
int stor_images_add(struct stor_images *s, struct stor_image *img, struct stor_image **ret);
/* Point ref at the image; returns the image it pointed at before (or NULL). */
struct stor_image *stor_images_set_ref(struct stor_images *s, const char *ref,
                                       struct stor_image *img, int64_t now_nano);
/* Remove one reference; -ENOENT if absent. */
int stor_images_remove_ref(struct stor_images *s, const char *ref);
/* Take an image and its references out of the index without freeing it. */
void stor_images_detach(struct stor_images *s, struct stor_image *img);
/* Forget an image and its references, and free it. */
void stor_images_remove(struct stor_images *s, struct stor_image *img);
/* The references of an image: tags (name:tag) and digests (name@sha256:..),
 * full forms, in insertion order. The array is malloc'd; strings borrowed. */
size_t stor_images_refs(const struct stor_images *s, const struct stor_image *img, bool digests,
                        const char ***ret);

/* Snapshots for persistence: JSON text the caller writes with
 * stor_images_write_file() (blocking) into data_root/images/NAME. */
char *stor_images_repositories_json(const struct stor_images *s);
char *stor_image_record_json(const struct stor_image *img);
int stor_images_write_file(const char *data_root, const char *name, const char *text,
                           struct bt_err **err);
int stor_images_unlink_record(const char *data_root, const char *id, struct bt_err **err);

#endif
