/* libarchive through a table filled on first use (see berth/dl.h). Include
 * this instead of the library's headers where its functions are called. */
#ifndef BERTH_DL_ARCHIVE_H
#define BERTH_DL_ARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

#include "berth/err.h"

#define BT_DL_ARCHIVE_FUNCS(X) \
    X(archive_entry_atime) \
    X(archive_entry_atime_is_set) \
    X(archive_entry_atime_nsec) \
    X(archive_entry_filetype) \
    X(archive_entry_free) \
    X(archive_entry_gid) \
    X(archive_entry_hardlink) \
    X(archive_entry_mtime) \
    X(archive_entry_mtime_nsec) \
    X(archive_entry_new) \
    X(archive_entry_pathname) \
    X(archive_entry_perm) \
    X(archive_entry_rdevmajor) \
    X(archive_entry_rdevminor) \
    X(archive_entry_set_filetype) \
    X(archive_entry_set_mtime) \
    X(archive_entry_set_pathname) \
    X(archive_entry_set_perm) \
    X(archive_entry_set_size) \
    X(archive_entry_size) \
    X(archive_entry_symlink) \
    X(archive_entry_uid) \
    X(archive_entry_xattr_next) \
    X(archive_entry_xattr_reset) \
    X(archive_error_string) \
    X(archive_filter_count) \
    X(archive_read_data_block) \
    X(archive_read_free) \
    X(archive_read_new) \
    X(archive_read_next_header) \
    X(archive_read_open) \
    X(archive_read_open_fd) \
    X(archive_read_support_filter_bzip2) \
    X(archive_read_support_filter_gzip) \
    X(archive_read_support_filter_xz) \
    X(archive_read_support_filter_zstd) \
    X(archive_read_support_format_empty) \
    X(archive_read_support_format_raw) \
    X(archive_read_support_format_tar) \
    X(archive_set_error) \
    X(archive_write_close) \
    X(archive_write_data) \
    X(archive_write_free) \
    X(archive_write_header) \
    X(archive_write_new) \
    X(archive_write_open_fd) \
    X(archive_write_set_format_pax_restricted)

struct bt_dl_archive {
#define BT_DL_SLOT(f) __typeof__(f) *f;
    BT_DL_ARCHIVE_FUNCS(BT_DL_SLOT)
#undef BT_DL_SLOT
};
extern struct bt_dl_archive bt_dl_archive;

/* Load the library once (thread-safe); every later call is a no-op. */
int bt_dl_archive_load(struct bt_err **err);

#define archive_entry_atime (*bt_dl_archive.archive_entry_atime)
#define archive_entry_atime_is_set (*bt_dl_archive.archive_entry_atime_is_set)
#define archive_entry_atime_nsec (*bt_dl_archive.archive_entry_atime_nsec)
#define archive_entry_filetype (*bt_dl_archive.archive_entry_filetype)
#define archive_entry_free (*bt_dl_archive.archive_entry_free)
#define archive_entry_gid (*bt_dl_archive.archive_entry_gid)
#define archive_entry_hardlink (*bt_dl_archive.archive_entry_hardlink)
#define archive_entry_mtime (*bt_dl_archive.archive_entry_mtime)
#define archive_entry_mtime_nsec (*bt_dl_archive.archive_entry_mtime_nsec)
#define archive_entry_new (*bt_dl_archive.archive_entry_new)
#define archive_entry_pathname (*bt_dl_archive.archive_entry_pathname)
#define archive_entry_perm (*bt_dl_archive.archive_entry_perm)
#define archive_entry_rdevmajor (*bt_dl_archive.archive_entry_rdevmajor)
#define archive_entry_rdevminor (*bt_dl_archive.archive_entry_rdevminor)
#define archive_entry_set_filetype (*bt_dl_archive.archive_entry_set_filetype)
#define archive_entry_set_mtime (*bt_dl_archive.archive_entry_set_mtime)
#define archive_entry_set_pathname (*bt_dl_archive.archive_entry_set_pathname)
#define archive_entry_set_perm (*bt_dl_archive.archive_entry_set_perm)
#define archive_entry_set_size (*bt_dl_archive.archive_entry_set_size)
#define archive_entry_size (*bt_dl_archive.archive_entry_size)
#define archive_entry_symlink (*bt_dl_archive.archive_entry_symlink)
#define archive_entry_uid (*bt_dl_archive.archive_entry_uid)
#define archive_entry_xattr_next (*bt_dl_archive.archive_entry_xattr_next)
#define archive_entry_xattr_reset (*bt_dl_archive.archive_entry_xattr_reset)
#define archive_error_string (*bt_dl_archive.archive_error_string)
#define archive_filter_count (*bt_dl_archive.archive_filter_count)
#define archive_read_data_block (*bt_dl_archive.archive_read_data_block)
#define archive_read_free (*bt_dl_archive.archive_read_free)
#define archive_read_new (*bt_dl_archive.archive_read_new)
#define archive_read_next_header (*bt_dl_archive.archive_read_next_header)
#define archive_read_open (*bt_dl_archive.archive_read_open)
#define archive_read_open_fd (*bt_dl_archive.archive_read_open_fd)
#define archive_read_support_filter_bzip2 (*bt_dl_archive.archive_read_support_filter_bzip2)
#define archive_read_support_filter_gzip (*bt_dl_archive.archive_read_support_filter_gzip)
#define archive_read_support_filter_xz (*bt_dl_archive.archive_read_support_filter_xz)
#define archive_read_support_filter_zstd (*bt_dl_archive.archive_read_support_filter_zstd)
#define archive_read_support_format_empty (*bt_dl_archive.archive_read_support_format_empty)
#define archive_read_support_format_raw (*bt_dl_archive.archive_read_support_format_raw)
#define archive_read_support_format_tar (*bt_dl_archive.archive_read_support_format_tar)
#define archive_set_error (*bt_dl_archive.archive_set_error)
#define archive_write_close (*bt_dl_archive.archive_write_close)
#define archive_write_data (*bt_dl_archive.archive_write_data)
#define archive_write_free (*bt_dl_archive.archive_write_free)
#define archive_write_header (*bt_dl_archive.archive_write_header)
#define archive_write_new (*bt_dl_archive.archive_write_new)
#define archive_write_open_fd (*bt_dl_archive.archive_write_open_fd)
#define archive_write_set_format_pax_restricted (*bt_dl_archive.archive_write_set_format_pax_restricted)

#endif
