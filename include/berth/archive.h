/* Image layer extraction: a tar stream (plain, gzip, zstd, xz or bzip2,
 * detected by content) unpacked into a layer directory, confined to it.
 *
 * Blocking: call it from a pool thread (uv_queue_work), never from the loop.
 * Thread-safe: no global state; several extractions may run at once into
 * different directories. Needs root to keep owners and create device nodes,
 * openat2 (Linux 5.6) and /proc (glibc changes the mode of device nodes and
 * fifos through /proc/self/fd without following symlinks).
 *
 * What is kept: owners (uid/gid, also of symlinks), permission bits including
 * setuid/setgid/sticky (applied after chown), mtimes and atimes (directories
 * last, once their children are in place), hard links, symlinks (target kept
 * verbatim), character and block devices, fifos, and the xattrs user.*,
 * security.capability and system.posix_acl_*. Other xattrs in the tar
 * (trusted.*, security.selinux, ...) are ignored; an allowed xattr the
 * filesystem refuses (EPERM, ENOTSUP, EINVAL) is skipped too.
 *
 * Confinement: every path is resolved inside dest_dirfd as if it were "/"
 * (openat2 RESOLVE_IN_ROOT): leading "/" is stripped, ".." never climbs
 * above the root, symlinks from the tar or already present in the directory
 * are followed only inside it, and the last component of an entry is never
 * followed (an existing symlink there is replaced, not written through). An
 * entry whose path or hard-link target climbs above the root with ".." is
 * refused. Existing directories are merged; an existing entry of another type
 * is replaced (a directory recursively).
 *
 * Whiteouts: `.wh.NAME` and the opaque marker `.wh..wh..opq` in a directory;
 * other `.wh..wh.*` entries (aufs metadata) are skipped.
 *
 * Integrity: libarchive does not check gzip CRCs, so a corrupt stored block
 * can extract without an error; the caller must compare diff_id with the
 * image config's rootfs.diff_ids (a mismatch means: remove the directory). */
#ifndef BERTH_ARCHIVE_H
#define BERTH_ARCHIVE_H

#include <stdint.h>

#include "berth/digest.h"

struct bt_err;

enum stor_whiteout_mode {
    /* overlay lower dirs: `.wh.NAME` becomes a 0/0 character device NAME, an
     * opaque marker becomes xattr trusted.overlay.opaque="y" on its directory. */
    STOR_WHITEOUT_OVERLAY,
    /* vfs, extracting on top of a full copy of the parent: `.wh.NAME` removes
     * NAME (recursively); an opaque marker removes every entry below its
     * directory that this layer did not itself extract, whatever the order
     * of the marker and those entries in the tar. */
    STOR_WHITEOUT_DELETE,
    STOR_WHITEOUT_MAX,
};

struct stor_extract_opts {
    enum stor_whiteout_mode whiteout;
    /* Refuse a stream whose uncompressed size passes this many bytes; 0: no cap. */
    uint64_t max_tar_size;
};

struct stor_extract_result {
    /* sha256 of the whole uncompressed stream, trailing padding included:
     * Docker's diff ID, to compare with the config's rootfs.diff_ids. */
    char diff_id[BT_DIGEST_STR_LEN + 1];
    /* Sum of the sizes of the regular files in the tar (Docker's layer Size). */
    uint64_t size;
    /* Bytes of the uncompressed stream. */
    uint64_t tar_size;
};

/* Extract the stream read from src_fd (from its current offset to EOF; not
 * closed) into the directory dest_dirfd (any open directory fd, O_PATH too;
 * not closed). Fills *ret on success. On failure returns -1 and sets *err:
 * BT_EINVAL for a corrupt, truncated or hostile archive (the message names
 * the entry), BT_EINTERNAL with sys_errno for a failed system call (ENOSPC,
 * EIO, ...). The directory is then left partly written; the caller removes
 * it. Nothing outside dest_dirfd is ever read or written. */
int stor_archive_extract(int src_fd, int dest_dirfd, enum stor_whiteout_mode mode,
                         struct stor_extract_result *ret, struct bt_err **err);

/* The same with options; opts may be NULL (overlay mode, no cap). */
int stor_archive_extract_opts(int src_fd, int dest_dirfd, const struct stor_extract_opts *opts,
                              struct stor_extract_result *ret, struct bt_err **err);

#endif
