/* Content store, layer store and graph drivers (overlay, vfs).
 *
 * On disk, under the data root:
 *   blobs/sha256/<hex>      verified blobs: manifests, configs, compressed layers
 *   blobs/ingest/<hex>      a download in progress, named by its expected digest so that
 *                           an interrupted one resumes; removed at open after a day
 *   layers/driver           name of the driver that made the layers
 *   layers/<chain hex>/     one layer: diff/ (its content), meta.json (diff_id, parent,
 *                           size, created), refs/<holder> (one empty file per reference),
 *                           link (overlay: the layer's short name)
 *   layers/l/<short>        overlay: symlink to ../<chain hex>/diff, keeps mount options short
 *   layers/.tmp-*           work in progress (a layer being built or removed, a probe)
 * Every change is atomic on disk (temp, fsync, rename, fsync dir). Whatever a kill -9
 * leaves behind, the next open loads a consistent store and removes the leftovers.
 *
 * Threads. The daemon is one libuv loop plus the libuv thread pool; each function says
 * where it may run:
 *   POOL  blocks on the disk. Run it with uv_queue_work (or at start-up, before the loop).
 *         It touches its own arguments and, of a store, only what open fixed (paths, fds,
 *         the driver), never the in-memory index.
 *   LOOP  reads or changes a store's in-memory index. Only the thread that owns the store
 *         (the loop) calls it; it never blocks and takes no locks.
 *   ANY   pure computation on its arguments; any thread.
 * An object (ingest, layer transaction, removal) is used by one thread at a time; handing
 * it to a pool job and back is the caller's business.
 *
 * Errors follow include/berth/err.h: < 0 and *err filled (when err is not NULL). */
#ifndef BERTH_STORAGE_H
#define BERTH_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/archive.h"
#include "berth/digest.h"
#include "berth/err.h"

/* ---- content store ------------------------------------------------------- */

struct stor_content;
struct stor_ingest;

/* Largest blob stor_content_get() reads into memory unless told otherwise. */
#define STOR_CONTENT_GET_MAX (16u << 20)
/* Ingests untouched for this long are removed at open. */
#define STOR_INGEST_STALE_SEC (24 * 3600)

/* POOL. Create data_root/blobs/{sha256,ingest} as needed, remove temp files of
 * interrupted puts and ingests older than a day. */
int stor_content_open(const char *data_root, struct stor_content **ret, struct bt_err **err);
/* ANY. Accepts NULL. Open ingests must be freed first. */
void stor_content_free(struct stor_content *cs);

/* POOL. Store a small blob (manifest, config). With `expected` (may be NULL) the data must
 * hash to it, else BT_EINVAL and nothing is stored. ret_digest (may be NULL) gets the
 * digest. Storing a blob that is already there is a success. */
int stor_content_put(struct stor_content *cs, const char *expected, const void *data, size_t len,
                     char ret_digest[BT_DIGEST_STR_LEN + 1], struct bt_err **err);
/* POOL. Read a blob of at most `max` bytes (0: STOR_CONTENT_GET_MAX) and verify it. The
 * malloc'd buffer (caller frees) has a NUL after the data. BT_ENOTFOUND when absent,
 * BT_ETOOLARGE past max; a blob whose content does not match its name is deleted and
 * reported as BT_EINTERNAL ("blob sha256:... is corrupt ..."). */
int stor_content_get(struct stor_content *cs, const char *digest, size_t max, char **ret_data,
                     size_t *ret_len, struct bt_err **err);
/* POOL (one stat). 1 when present (and *ret_size, may be NULL, gets its size), 0 when
 * absent, -EINVAL for a malformed digest, -errno on other failures. */
int stor_content_has(const struct stor_content *cs, const char *digest, int64_t *ret_size);
/* ANY. Path of a blob, present or not (malloc'd, caller frees); BT_EINVAL for a bad digest. */
int stor_content_path(const struct stor_content *cs, const char *digest, char **ret_path,
                      struct bt_err **err);
/* POOL. Open a blob read-only (O_CLOEXEC; the caller closes); no verification. */
int stor_content_open_blob(const struct stor_content *cs, const char *digest, int *ret_fd,
                           int64_t *ret_size, struct bt_err **err);
/* POOL. Remove a blob; BT_ENOTFOUND when absent. */
int stor_content_delete(struct stor_content *cs, const char *digest, struct bt_err **err);

/* POOL. Start or resume the download of a big blob. `size` is the expected size, -1 when
 * unknown. Bytes left by an earlier, interrupted ingest of the same digest are kept and
 * hashed again (stor_ingest_offset() says how many: ask the server for the rest), unless
 * they exceed `size`, in which case the ingest starts over. Returns 1 with *ret = NULL
 * when the blob is already in the store, 0 with an ingest otherwise; BT_ECONFLICT when
 * another ingest of the digest is open (in this process or another). */
int stor_ingest_open(struct stor_content *cs, const char *digest, int64_t size,
                     struct stor_ingest **ret, struct bt_err **err);
/* ANY. Bytes the ingest holds (those found at open plus those written since). */
int64_t stor_ingest_offset(const struct stor_ingest *in);
/* ANY. The digest the ingest was opened for. */
const char *stor_ingest_digest(const struct stor_ingest *in);
/* POOL. Append and hash. More bytes than the expected size is BT_EINVAL (nothing written);
 * a failed write (ENOSPC) leaves the ingest as it was before the call. */
int stor_ingest_write(struct stor_ingest *in, const void *data, size_t len, struct bt_err **err);
/* POOL. Verify size and digest, fsync, rename into blobs/sha256. On a mismatch the
 * partial data is deleted and the error (BT_EINTERNAL) names the expected and actual
 * digest or size. Either way the ingest is finished: only stor_ingest_free() remains. */
int stor_ingest_commit(struct stor_ingest *in, struct bt_err **err);
/* POOL. Stop: keep the partial data for a later resume, or drop it. */
int stor_ingest_abort(struct stor_ingest *in, bool keep, struct bt_err **err);
/* ANY. Accepts NULL. Closes the ingest; one neither committed nor aborted keeps its data
 * (as stor_ingest_abort(in, true)). */
void stor_ingest_free(struct stor_ingest *in);

/* ---- graph drivers ------------------------------------------------------ */

struct stor_driver;

/* How the extractor treats whiteouts for a driver: enum stor_whiteout_mode
 * (berth/archive.h): overlay keeps them as overlay whiteouts, vfs applies them. */

/* POOL. Pick the driver for data_root and create its directories. `name` is the configured
 * driver ("overlay" or "vfs"; NULL or "" to choose): a configured driver that cannot work
 * here is an error. Otherwise: the driver that made the existing layers, else overlay if a
 * test mount under data_root/layers works, else vfs. When the choice fell back from
 * overlay, *ret_reason (may be NULL; malloc'd, caller frees) says why, for the caller to
 * log; it is NULL otherwise. */
int stor_driver_open(const char *data_root, const char *name, struct stor_driver **ret,
                     char **ret_reason, struct bt_err **err);
/* ANY. Accepts NULL. */
void stor_driver_free(struct stor_driver *d);
/* ANY. "overlay" or "vfs". */
const char *stor_driver_name(const struct stor_driver *d);
/* ANY. */
enum stor_whiteout_mode stor_driver_whiteout(const struct stor_driver *d);

/* POOL. Mount the rootfs of a layer chain onto `target` (an existing directory).
 * top_chain is the chain ID of the top layer ("sha256:..."; NULL or "" for an image
 * without layers); the chain below it is read from the layers' meta.json, so the caller
 * must keep the layers alive (an image reference or a pin) while mounted. rw_dir is the
 * container's writable layer (created if missing): overlay uses rw_dir/upper and
 * rw_dir/work; vfs copies the top layer into rw_dir/rootfs once (atomically) and bind
 * mounts it. Writes in the rootfs land in rw_dir. */
int stor_driver_mount(struct stor_driver *d, const char *top_chain, const char *rw_dir,
                      const char *target, struct bt_err **err);
/* POOL. Unmount what stor_driver_mount() put on target (lazily, MNT_DETACH). Not mounted
 * is a success. */
int stor_driver_unmount(struct stor_driver *d, const char *target, struct bt_err **err);
/* POOL. Remove a writable layer (it must not be mounted). Absent is a success. */
int stor_driver_rw_remove(struct stor_driver *d, const char *rw_dir, struct bt_err **err);
/* POOL. Remove a directory tree: renamed aside first (so the name is gone at once and
 * for good), then deleted without crossing into other mounts. Absent is a success;
 * -errno otherwise. */
int stor_rm_rf(const char *path);
/* POOL. Bytes in the files under path (regular files and symlinks, hard links once). */
int stor_driver_usage(struct stor_driver *d, const char *path, int64_t *ret_bytes,
                      struct bt_err **err);

/* ---- layer store --------------------------------------------------------- */

struct stor_layers;
struct stor_layer_tx;
struct stor_layer_rm;

/* A holder names who keeps a layer (an image ID's hex, a container ID): 1 to
 * STOR_HOLDER_MAX characters of [A-Za-z0-9_.-], not starting with '.'. */
#define STOR_HOLDER_MAX 128

struct stor_layer_info {
    char chain_id[BT_DIGEST_STR_LEN + 1];
    char diff_id[BT_DIGEST_STR_LEN + 1];
    char parent[BT_DIGEST_STR_LEN + 1]; /* chain ID of the parent, "" for a base layer */
    int64_t size;                       /* bytes of this layer's content */
    int64_t created_nano;
    size_t refs;     /* persisted references (holders) */
    size_t children; /* layers whose parent this is */
    size_t pins;     /* in-memory holds (builds on top, fresh commits, mounts) */
    bool removing;
};

/* ANY. Docker's chain ID: chain(L0) = diffID0, chain(Ln) = sha256("chain(Ln-1) diffIDn").
 * parent_chain NULL or "" for a base layer. -EINVAL for a malformed digest. */
int stor_chain_id(const char *parent_chain, const char *diff_id,
                  char ret[BT_DIGEST_STR_LEN + 1]);
/* ANY. Chain ID of the top of a list of diff IDs (bottom first); n >= 1. */
int stor_chain_id_top(char *const *diff_ids, size_t n, char ret[BT_DIGEST_STR_LEN + 1]);

/* POOL, at start-up: the returned store then belongs to one thread (the loop). Loads every
 * layer's meta and holders; removes temp leftovers, layers whose meta is missing or broken
 * (and the layers above them), and the driver's stale links. *ret_dropped (may be NULL)
 * counts the layers removed. The driver is borrowed and must outlive the store. Layers
 * made by another driver are BT_ECONFLICT (choose that driver, or remove them). */
int stor_layers_open(const char *data_root, struct stor_driver *drv, struct stor_layers **ret,
                     size_t *ret_dropped, struct bt_err **err);
/* LOOP. Accepts NULL. Transactions and removals must be finished first. */
void stor_layers_free(struct stor_layers *ls);
/* ANY. */
struct stor_driver *stor_layers_driver(const struct stor_layers *ls);

/* LOOP. Number of layers, and the i-th one (0 <= i < count, order by chain ID). */
size_t stor_layers_count(const struct stor_layers *ls);
void stor_layers_at(const struct stor_layers *ls, size_t i, struct stor_layer_info *ret);
/* LOOP. 0 and *ret (may be NULL) filled, or -ENOENT. */
int stor_layers_get(const struct stor_layers *ls, const char *chain_id,
                    struct stor_layer_info *ret);
/* LOOP. The holders of a layer (borrowed until the next change); -ENOENT. */
int stor_layers_holders(const struct stor_layers *ls, const char *chain_id,
                        const char *const **ret, size_t *ret_n);
/* ANY. Path of a layer's content directory (malloc'd; caller frees). */
int stor_layers_diff_path(const struct stor_layers *ls, const char *chain_id, char **ret_path,
                          struct bt_err **err);

/* Building a layer:
 *   LOOP stor_layer_begin(parent)        pins the parent so it stays while we build
 *   POOL stor_layer_tx_prepare()         temp dir, driver prepares it (vfs copies the parent)
 *   POOL (extract into stor_layer_tx_fd() with stor_layer_tx_whiteout())
 *   POOL stor_layer_tx_commit(diff_id)   meta, fsync, rename into place; a layer already
 *                                        there wins and the new one is dropped
 *   LOOP stor_layer_tx_finish()          index updated; the layer comes back pinned
 * or, to abandon it: POOL stor_layer_tx_discard(), then LOOP stor_layer_tx_free(). */

/* LOOP. parent: chain ID, NULL or "" for a base layer. BT_ENOTFOUND when the parent is
 * unknown, BT_ECONFLICT while it is being removed. */
int stor_layer_begin(struct stor_layers *ls, const char *parent, struct stor_layer_tx **ret,
                     struct bt_err **err);
/* LOOP. Like stor_layer_begin, but the parent may still be under construction
 * (overlay only: its layers do not need their parent's content), so layers of
 * one image can be extracted at the same time. Finish them in order: finishing
 * a layer whose parent is not in the store yet is BT_ECONFLICT. A kill -9
 * between the commits leaves a child without its parent, which open removes.
 * BT_EINVAL with the vfs driver. */
int stor_layer_begin_after(struct stor_layers *ls, const char *parent, struct stor_layer_tx **ret,
                           struct bt_err **err);
/* POOL. */
int stor_layer_tx_prepare(struct stor_layer_tx *tx, struct bt_err **err);
/* ANY. After prepare: the directory to extract into (owned by tx: do not close) and its
 * path, and how to treat whiteouts. */
int stor_layer_tx_fd(const struct stor_layer_tx *tx);
const char *stor_layer_tx_path(const struct stor_layer_tx *tx);
enum stor_whiteout_mode stor_layer_tx_whiteout(const struct stor_layer_tx *tx);
/* POOL. diff_id is the digest of the uncompressed tar; size its content bytes, or -1 to
 * have the driver measure it. Syncs the content, writes meta.json and renames the layer
 * into place. If the layer already exists the new copy is removed and the existing one
 * stands. On failure the temp dir is removed. */
int stor_layer_tx_commit(struct stor_layer_tx *tx, const char *diff_id, int64_t size,
                         struct bt_err **err);
/* POOL. Remove the temp dir of a transaction that will not be committed (idempotent). */
void stor_layer_tx_discard(struct stor_layer_tx *tx);
/* LOOP. After a successful commit: add the layer to the index and give the caller a pin
 * on it (release with stor_layer_unpin() once an image holds a reference); ret_chain
 * (may be NULL) gets its chain ID. Frees tx whatever the result. BT_ECONFLICT (rare)
 * when the same layer was removed while this one was built: build it again. */
int stor_layer_tx_finish(struct stor_layers *ls, struct stor_layer_tx *tx,
                         char ret_chain[BT_DIGEST_STR_LEN + 1], struct bt_err **err);
/* LOOP. Accepts NULL. Drop a transaction without finishing it (releases the parent pin);
 * discard its temp dir first, or the next open will. */
void stor_layer_tx_free(struct stor_layers *ls, struct stor_layer_tx *tx);

/* LOOP. In-memory holds: a pinned layer is never removed. BT_ENOTFOUND, or BT_ECONFLICT
 * while the layer is being removed. */
int stor_layer_pin(struct stor_layers *ls, const char *chain_id, struct bt_err **err);
void stor_layer_unpin(struct stor_layers *ls, const char *chain_id);

/* References: images hold references on their top layer (which keeps its parents), and
 * each is persisted as layers/<hex>/refs/<holder>. Taking one: LOOP stor_layer_ref(),
 * then POOL stor_layer_ref_write() (on failure, undo with stor_layer_unref()). Dropping
 * one: LOOP stor_layer_unref(), then POOL stor_layer_unref_write(). Both are idempotent
 * per holder, so retrying after a crash is safe. */

/* LOOP. 1 when added, 0 when the holder already held it; BT_ENOTFOUND, BT_EINVAL (bad
 * holder), BT_ECONFLICT while the layer is being removed. */
int stor_layer_ref(struct stor_layers *ls, const char *chain_id, const char *holder,
                   struct bt_err **err);
/* LOOP. 1 when removed, 0 when the holder held no reference; BT_ENOTFOUND. */
int stor_layer_unref(struct stor_layers *ls, const char *chain_id, const char *holder,
                     struct bt_err **err);
/* POOL. Persist a reference taken / dropped with the two functions above. Writing a
 * reference of a layer that is gone is BT_ENOTFOUND; dropping one that is gone is fine. */
int stor_layer_ref_write(const struct stor_layers *ls, const char *chain_id, const char *holder,
                         struct bt_err **err);
int stor_layer_unref_write(const struct stor_layers *ls, const char *chain_id,
                           const char *holder, struct bt_err **err);
/* LOOP. No references, no children, no pins, not being removed. */
bool stor_layer_removable(const struct stor_layers *ls, const char *chain_id);

/* Removing a layer: LOOP stor_layer_remove_begin(), POOL stor_layer_remove_run(),
 * LOOP stor_layer_remove_end(). Its parent may become removable afterwards. */

/* LOOP. BT_ENOTFOUND; BT_ECONFLICT unless stor_layer_removable(). */
int stor_layer_remove_begin(struct stor_layers *ls, const char *chain_id,
                            struct stor_layer_rm **ret, struct bt_err **err);
/* POOL. Rename the layer out of the way (atomic), drop the driver's link, delete it. */
int stor_layer_remove_run(struct stor_layer_rm *rm, struct bt_err **err);
/* LOOP. Apply the outcome of run (drops the layer from the index on success, otherwise
 * the layer stays) and free rm. Accepts a rm that never ran (cancelled job). */
void stor_layer_remove_end(struct stor_layers *ls, struct stor_layer_rm *rm);

#endif
