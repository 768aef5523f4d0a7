/* Shared inside storage/: file helpers, the driver vtable, the layer chain reader.
 * Everything here blocks (POOL) unless it says otherwise. */
#ifndef BERTH_STORAGE_INTERNAL_H
#define BERTH_STORAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "berth/err.h"
#include "berth/storage.h"

/* Prefix of every temporary name; open removes what carries it. */
#define STOR__TMP_PREFIX ".tmp-"
/* Overlay short link names: this many characters of [A-Z2-7]. */
#define STOR__LINK_LEN 8

/* ---- files (driver.c) ----------------------------------------------------- */

/* ANY. s is exactly 64 lowercase hex digits. */
bool stor__is_hex64(const char *s);
/* ANY. Fill buf with n random characters of [A-Z2-7] and a NUL (buf holds n + 1). */
int stor__random_name(char *buf, size_t n);
/* mkdirat that accepts an existing directory. 0 or -errno. */
int stor__mkdirat(int dfd, const char *name, mode_t mode);
/* Write everything, retrying short writes and EINTR. 0 or -errno. */
int stor__write_all(int fd, const void *data, size_t len);
/* Open name (relative to dfd) as a directory and fsync it. 0 or -errno. */
int stor__fsync_dirat(int dfd, const char *name);
/* Atomically replace dfd/name: temp file, fsync, rename, fsync dfd. 0 or -errno. */
int stor__write_file_at(int dfd, const char *name, const void *data, size_t len, mode_t mode);
/* Read a whole file of at most max bytes; NUL-terminated, caller frees. 0 or -errno
 * (-EFBIG past max). */
int stor__read_file_at(int dfd, const char *name, size_t max, char **ret, size_t *ret_len);
/* Remove dfd/name, a file or a whole tree, without crossing into other mounts (a mount
 * inside is -EBUSY and stops the removal). Absent is a success. 0 or -errno. */
int stor__rm_rf_at(int dfd, const char *name);
/* Remove every entry of the directory dfd whose name starts with
 * STOR__TMP_PREFIX (what an interrupted operation left); best effort. */
void stor__rm_tmp_entries(int dfd);
/* Rename dfd/name to a temp name in the same directory (so it disappears at once and a
 * crash leaves only a leftover that open removes), then remove it. 0 or -errno. */
int stor__trash_at(int dfd, const char *name);
/* Copy the content of directory src_fd into the empty directory dst_fd, keeping types,
 * owners, modes, times, xattrs and hard links; the metadata of src_fd goes to dst_fd. */
int stor__copy_tree(int src_fd, int dst_fd, struct bt_err **err);
/* Bytes of regular files and symlinks under dfd/name, hard links counted once, not
 * crossing mounts. 0 or -errno. */
int stor__usage_at(int dfd, const char *name, int64_t *ret);

/* ---- drivers (driver.c, overlay.c, vfs.c) ------------------------------- */

/* What a driver does; every hook is POOL. `layer_fd` is a layer's top directory (the
 * one holding diff/ and meta.json), `hex` a chain ID's hex. */
struct stor_driver_ops {
    const char *name;
    enum stor_whiteout_mode whiteout;
    /* Create the driver's directories. */
    int (*init)(struct stor_driver *d, struct bt_err **err);
    /* Can the driver work on this data root? 0, or -1 and *ret_reason (malloc'd). */
    int (*probe)(struct stor_driver *d, char **ret_reason);
    /* Fill a fresh layer directory: diff/ (vfs: a copy of the parent's; parent_hex may
     * be NULL). */
    int (*create)(struct stor_driver *d, int layer_fd, const char *parent_hex,
                  struct bt_err **err);
    /* Measure a layer's own content (for a commit that did not say). */
    int (*layer_size)(struct stor_driver *d, int layer_fd, const char *parent_hex,
                      int64_t *ret);
    /* Just before the layer directory is renamed to hex (may be NULL). */
    int (*install)(struct stor_driver *d, int layer_fd, const char *hex, struct bt_err **err);
    /* The rename lost (the layer existed): undo install (may be NULL). */
    void (*uninstall)(struct stor_driver *d, int layer_fd);
    /* At open, for each layer: repair what can be repaired; < 0 when the layer is broken. */
    int (*check)(struct stor_driver *d, int layer_fd, const char *hex);
    /* At open, after the layers were loaded: drop the driver's stale entries (may be NULL). */
    void (*gc)(struct stor_driver *d);
    /* A layer directory renamed away for removal: drop what points at it (may be NULL). */
    void (*remove)(struct stor_driver *d, int layer_fd);
    /* Mount the layers (hexes, top first; n may be 0) plus the writable layer rw_dir
     * (absolute, exists) onto target (absolute). */
    int (*mount)(struct stor_driver *d, char *const *hexes, size_t n, const char *rw_dir,
                 const char *target, struct bt_err **err);
};

/* Knobs for tests. */
#define STOR__F_OVERLAY_LEGACY 0x1u /* overlay: mount(2) from a child in layers/, no fsconfig */

struct stor_driver {
    const struct stor_driver_ops *ops;
    char *data_root; /* absolute */
    char *layers;    /* data_root/layers */
    int layers_fd;
    unsigned flags; /* STOR__F_* */
};

extern const struct stor_driver_ops stor__overlay_ops;
extern const struct stor_driver_ops stor__vfs_ops;

/* Build a driver without probing or choosing (driver.c; tests use it to set flags). */
int stor__driver_new(const struct stor_driver_ops *ops, const char *data_root,
                     struct stor_driver **ret, struct bt_err **err);

/* overlay.c: mount an overlay of absolute lower dirs (top first, n >= 1) with upper and
 * work onto target, through fsconfig when the kernel has it; used by the probe too. */
int stor__overlay_mount_dirs(struct stor_driver *d, char *const *lowers, size_t n,
                             const char *upper, const char *work, const char *target,
                             struct bt_err **err);

/* ---- layers (layers.c) -------------------------------------------------- */

/* Largest layer chain followed (overlay stacks at most 500 layers). */
#define STOR__CHAIN_MAX 1000

/* The chain from the layer top_hex down to its base, top first, read from the layers'
 * meta.json: *ret is a malloc'd array of malloc'd hex strings (free with
 * stor__strv_free). */
int stor__layer_chain(int layers_fd, const char *top_hex, char ***ret, size_t *ret_n,
                      struct bt_err **err);
void stor__strv_free(char **v, size_t n);

#endif
