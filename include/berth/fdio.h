/* Whole reads and writes on a file descriptor, retrying EINTR and short
 * transfers. Shared by the daemon and berth-monitor. Any thread. */
#ifndef BERTH_FDIO_H
#define BERTH_FDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read until len bytes or end of file: the bytes read, or -errno. */
ssize_t bt_read_full(int fd, void *buf, size_t len);
/* Write all len bytes: 0, or -errno (-EIO when the fd takes nothing). */
int bt_write_full(int fd, const void *buf, size_t len);
/* Read to end of file into a malloc'd, NUL-terminated buffer of at most max
 * bytes (-EFBIG past it); *ret_len (may be NULL) gets the length. -errno. */
int bt_read_fd_all(int fd, size_t max, char **ret, size_t *ret_len);
/* Replace path with data in one step: a temporary file beside it, then
 * rename(2), so a reader or a crash sees the old contents or the new ones.
 * durable: fsync the file before the rename and the directory after it.
 * 0, or -errno (nothing is left behind). */
int bt_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         bool durable);
/* openat2(root, path, flags | O_CLOEXEC) with RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS | extra_resolve: path ("" = the root itself) is
 * resolved as if root were "/", never leaving it. The kernel answers EAGAIN
 * when a rename or mount anywhere raced with the lookup: that is retried.
 * The fd, or -errno. */
int bt_open_in_root(int root, const char *path, int flags, uint64_t extra_resolve);

#endif
