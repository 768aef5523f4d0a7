#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "berth/layer_blob.h"
#include "berth/registry.h"
#include "berth/spool.h"
#include "berth/storage.h"

#define BUF (64 * 1024)

static const char *media_type_of(int fd)
{
    unsigned char m[4] = {0};
    ssize_t n = pread(fd, m, sizeof(m), 0);

    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return BT_REG_MT_LAYER_GZIP;
    if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return BT_REG_MT_OCI_LAYER_ZSTD;
    if (n >= 3 && m[0] == 'B' && m[1] == 'Z' && m[2] == 'h')
        return NULL; /* bzip2/xz: recompress to gzip like a plain tar */
    if (n >= 6 && m[0] == 0xfd && m[1] == '7' && m[2] == 'z')
        return NULL;
    return "";
}

/* gzip src into a temp file, hashing the output. Returns the temp fd. */
static int gzip_to_spool(int src, const char *data_root, char digest[BT_DIGEST_STR_LEN + 1],
                         int64_t *ret_size, struct bt_err **err)
{
    unsigned char in[BUF], out[BUF];
    struct bt_sha256 *h = bt_sha256_new();
    z_stream z = {0};
    int fd = bt_spool_open(data_root, err), zr = Z_OK;
    off_t off = 0;
    int64_t size = 0;

    if (fd < 0 || !h || deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + 15, 8,
                                      Z_DEFAULT_STRATEGY) != Z_OK) {
        bt_sha256_free(h);
        if (fd >= 0)
            close(fd);
        return fd < 0 ? -1 : bt_err_set(err, BT_EINTERNAL, ENOMEM, "gzip a layer");
    }
    while (zr != Z_STREAM_END) {
        ssize_t n = pread(src, in, sizeof(in), off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bt_err_set(err, BT_EINTERNAL, errno, "read a layer");
            goto fail;
        }
        off += n;
        z.next_in = in;
        z.avail_in = (uInt)n;
        do {
            z.next_out = out;
            z.avail_out = sizeof(out);
            zr = deflate(&z, n == 0 ? Z_FINISH : Z_NO_FLUSH);
            size_t have = sizeof(out) - z.avail_out;
            bt_sha256_update(h, out, have);
            size += (int64_t)have;
            if (have && bt_spool_write(fd, out, have, err) < 0)
                goto fail;
        } while (z.avail_out == 0);
    }
    deflateEnd(&z);
    bt_sha256_final(h, digest);
    bt_sha256_free(h);
    *ret_size = size;
    return fd;
fail:
    deflateEnd(&z);
    bt_sha256_free(h);
    close(fd);
    return -1;
}

static int hash_fd(int fd, char digest[BT_DIGEST_STR_LEN + 1], int64_t *ret_size,
                   struct bt_err **err)
{
    unsigned char buf[BUF];
    struct bt_sha256 *h = bt_sha256_new();
    off_t off = 0;
    ssize_t n;

    if (!h)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "hash a layer");
    while ((n = pread(fd, buf, sizeof(buf), off)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            bt_sha256_free(h);
            return bt_err_set(err, BT_EINTERNAL, errno, "read a layer");
        }
        bt_sha256_update(h, buf, (size_t)n);
        off += n;
    }
    bt_sha256_final(h, digest);
    bt_sha256_free(h);
    *ret_size = off;
    return 0;
}

static int copy_in(struct stor_content *cs, int fd, const char *digest, int64_t size, bool *ret_new,
                   struct bt_err **err)
{
    unsigned char buf[BUF];
    struct stor_ingest *in = NULL;
    int r = stor_ingest_open(cs, digest, size, &in, err);
    off_t off;
    ssize_t n;

    *ret_new = false;
    if (r != 0)
        return r == 1 ? 0 : -1;
    for (off = (off_t)stor_ingest_offset(in); (n = pread(fd, buf, sizeof(buf), off)) > 0; off += n)
        if (stor_ingest_write(in, buf, (size_t)n, err) < 0)
            break;
    r = (err && *err) ? -1 : stor_ingest_commit(in, err);
    if (r < 0)
        (void)stor_ingest_abort(in, false, NULL);
    stor_ingest_free(in);
    *ret_new = r == 0;
    return r;
}

int bt_layer_blob_store(struct stor_content *cs, const char *data_root, int src_fd,
                        struct stor_blob_desc *ret, bool *ret_new, struct bt_err **err)
{
    const char *mt = media_type_of(src_fd);
    int fd = src_fd, r;

    memset(ret, 0, sizeof(*ret));
    if (mt && *mt) {
        if (hash_fd(src_fd, ret->digest, &ret->size, err) < 0)
            return -1;
    } else {
        fd = gzip_to_spool(src_fd, data_root, ret->digest, &ret->size, err);
        if (fd < 0)
            return -1;
        mt = BT_REG_MT_LAYER_GZIP;
    }
    snprintf(ret->media_type, sizeof(ret->media_type), "%s", mt);
    r = copy_in(cs, fd, ret->digest, ret->size, ret_new, err);
    if (fd != src_fd)
        close(fd);
    return r;
}
