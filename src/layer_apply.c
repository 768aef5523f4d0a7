#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/archive.h"
#include "berth/daemon.h"
#include "berth/job.h"
#include "berth/layer_apply.h"
#include "berth/storage.h"

struct apply_job {
    struct bt_daemon *d;
    struct stor_layer_tx *tx;
    int fd;
    char blob[BT_DIGEST_STR_LEN + 1]; /* open this blob in the job when fd < 0 */
    char parent_chain[BT_DIGEST_STR_LEN + 1];
    char expected[BT_DIGEST_STR_LEN + 1];
    struct stor_extract_result res;
    struct bt_layer_applied out;
    struct bt_err *err;
    bt_layer_apply_cb cb;
    bt_layer_extract_cb extract_cb; /* deferred finish: the caller gets the tx */
    void *arg;
};

static void apply_work(void *arg)
{
    struct apply_job *j = arg;
    enum stor_whiteout_mode mode;

    if (j->fd < 0 && stor_content_open_blob(j->d->content, j->blob, &j->fd, NULL, &j->err) < 0)
        return;
    if (stor_layer_tx_prepare(j->tx, &j->err) < 0)
        return;
    mode = stor_layer_tx_whiteout(j->tx);
    if (stor_archive_extract(j->fd, stor_layer_tx_fd(j->tx), mode, &j->res, &j->err) < 0)
        goto discard;
    if (j->expected[0] && strcmp(j->expected, j->res.diff_id) != 0) {
        bt_err_set(&j->err, BT_EINVAL, 0, "layer content does not match its diff ID: expected %s, "
                   "got %s", j->expected, j->res.diff_id);
        goto discard;
    }
    if (stor_layer_tx_commit(j->tx, j->res.diff_id, (int64_t)j->res.size, &j->err) < 0)
        return;
    return;
discard:
    stor_layer_tx_discard(j->tx);
}

static void apply_done(void *arg, bool ran)
{
    struct apply_job *j = arg;

    if (!ran && !j->err)
        bt_err_set(&j->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (j->extract_cb) {
        if (j->err) {
            stor_layer_tx_free(j->d->layers, j->tx);
            j->tx = NULL;
        } else {
            memcpy(j->out.diff_id, j->res.diff_id, sizeof(j->out.diff_id));
            j->out.size = j->res.size;
            if (stor_chain_id(j->parent_chain[0] ? j->parent_chain : NULL, j->res.diff_id,
                              j->out.chain_id) < 0)
                j->out.chain_id[0] = '\0';
        }
        j->extract_cb(j->arg, j->tx, j->err ? NULL : &j->out, j->err);
        goto out;
    }
    if (j->err) {
        stor_layer_tx_free(j->d->layers, j->tx);
    } else if (stor_layer_tx_finish(j->d->layers, j->tx, j->out.chain_id, &j->err) == 0) {
        memcpy(j->out.diff_id, j->res.diff_id, sizeof(j->out.diff_id));
        j->out.size = j->res.size;
    }
    j->cb(j->arg, j->err ? NULL : &j->out, j->err);
out:
    bt_err_free(j->err);
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

static int apply_start(struct bt_daemon *d, const char *parent, int src_fd, const char *blob,
                       const char *expected_diff_id, bt_layer_apply_cb cb,
                       bt_layer_extract_cb extract_cb, void *arg, struct bt_err **err)
{
    struct apply_job *j = calloc(1, sizeof(*j));

    if (!j) {
        if (src_fd >= 0)
            close(src_fd);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "apply layer");
    }
    if ((extract_cb ? stor_layer_begin_after(d->layers, parent, &j->tx, err)
                    : stor_layer_begin(d->layers, parent, &j->tx, err)) < 0) {
        if (src_fd >= 0)
            close(src_fd);
        free(j);
        return -1;
    }
    j->d = d;
    j->fd = src_fd;
    j->extract_cb = extract_cb;
    if (parent)
        snprintf(j->parent_chain, sizeof(j->parent_chain), "%s", parent);
    if (blob)
        snprintf(j->blob, sizeof(j->blob), "%s", blob);
    j->cb = cb;
    j->arg = arg;
    if (expected_diff_id)
        snprintf(j->expected, sizeof(j->expected), "%s", expected_diff_id);
    if (bt_job_queue(d->loop, apply_work, apply_done, j) < 0) {
        stor_layer_tx_free(d->layers, j->tx);
        if (src_fd >= 0)
            close(src_fd);
        free(j);
        return bt_err_set(err, BT_EINTERNAL, 0, "cannot queue the layer extraction");
    }
    return 0;
}

int bt_layer_apply(struct bt_daemon *d, const char *parent, int src_fd,
                   const char *expected_diff_id, bt_layer_apply_cb cb, void *arg,
                   struct bt_err **err)
{
    return apply_start(d, parent, src_fd, NULL, expected_diff_id, cb, NULL, arg, err);
}

int bt_layer_apply_blob(struct bt_daemon *d, const char *parent, const char *digest,
                        const char *expected_diff_id, bt_layer_apply_cb cb, void *arg,
                        struct bt_err **err)
{
    return apply_start(d, parent, -1, digest, expected_diff_id, cb, NULL, arg, err);
}

int bt_layer_extract_blob(struct bt_daemon *d, const char *parent, const char *digest,
                          const char *expected_diff_id, bt_layer_extract_cb cb, void *arg,
                          struct bt_err **err)
{
    return apply_start(d, parent, -1, digest, expected_diff_id, NULL, cb, arg, err);
}
