/* Running berth's nft commands: one libnftables context behind a mutex
 * (a context is not thread-safe, and making one per call costs more than
 * the commands themselves). */
#include <config.h>

#include <errno.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net/nft-internal.h"

struct net_nft {
    pthread_mutex_t lock;
    struct nft_ctx *ctx;
};

int net_nft_new(struct net_nft **ret, struct bt_err **err)
{
    struct net_nft *nft = calloc(1, sizeof(*nft));

    if (!nft)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "nftables");
    nft->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!nft->ctx) {
        free(nft);
        return bt_err_set(err, BT_EINTERNAL, 0, "nftables: cannot create a context");
    }
    if (nft_ctx_buffer_output(nft->ctx) < 0 || nft_ctx_buffer_error(nft->ctx) < 0) {
        nft_ctx_free(nft->ctx);
        free(nft);
        return bt_err_set(err, BT_EINTERNAL, 0, "nftables: cannot buffer output");
    }
    pthread_mutex_init(&nft->lock, NULL);
    *ret = nft;
    return 0;
}

void net_nft_free(struct net_nft *nft)
{
    if (!nft)
        return;
    nft_ctx_free(nft->ctx);
    pthread_mutex_destroy(&nft->lock);
    free(nft);
}

/* The first error line libnftables printed, for the message. */
static int run_error(const char *msg, struct bt_err **err)
{
    size_t n = msg ? strcspn(msg, "\n") : 0;

    if (n == 0)
        return bt_err_set(err, BT_EINTERNAL, 0, "nftables: the transaction failed");
    if (strstr(msg, "File exists"))
        return bt_err_set(err, BT_ECONFLICT, EEXIST, "nftables: %.*s", (int)n, msg);
    return bt_err_set(err, BT_EINTERNAL, 0, "nftables: %.*s", (int)n, msg);
}

/* Run cmds as one batch (one transaction). With ret_out, hand back what
 * the commands printed. */
static int run(struct net_nft *nft, const char *cmds, char **ret_out, struct bt_err **err)
{
    int r;

    pthread_mutex_lock(&nft->lock);
    r = nft_run_cmd_from_buffer(nft->ctx, cmds);
    /* Fetching the buffers also empties them for the next call. */
    const char *out = nft_ctx_get_output_buffer(nft->ctx);
    const char *msg = nft_ctx_get_error_buffer(nft->ctx);
    if (r != 0) {
        r = run_error(msg, err);
    } else if (ret_out) {
        *ret_out = strdup(out ? out : "");
        if (!*ret_out)
            r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "nftables");
    }
    pthread_mutex_unlock(&nft->lock);
    return r;
}

static int run_buf(struct net_nft *nft, struct bt_buf *b, int built, struct bt_err **err)
{
    int r;

    if (built == -EINVAL)
        r = bt_err_set(err, BT_EINVAL, EINVAL, "nftables: invalid bridge or port");
    else if (built < 0)
        r = bt_err_set(err, BT_EINTERNAL, -built, "nftables");
    else
        r = b->len ? run(nft, b->p, NULL, err) : 0;
    bt_buf_done(b);
    return r;
}

int net_nft_apply(struct net_nft *nft, const struct net_nft_state *st, struct bt_err **err)
{
    struct bt_buf b;

    for (size_t i = 0; i < st->nbridges; i++)
        if (net__nft_check_bridge(&st->bridges[i], err) < 0)
            return -1;
    for (size_t i = 0; i < st->nports; i++)
        if (net__nft_check_port(&st->ports[i], err) < 0)
            return -1;
    bt_buf_init(&b, 0);
    return run_buf(nft, &b, net__nft_text_apply(&b, st), err);
}

int net_nft_bridge_add(struct net_nft *nft, const struct net_nft_bridge *br, struct bt_err **err)
{
    struct bt_buf b;

    if (net__nft_check_bridge(br, err) < 0)
        return -1;
    bt_buf_init(&b, 0);
    return run_buf(nft, &b, net__nft_text_bridge_add(&b, br), err);
}

int net_nft_bridge_del(struct net_nft *nft, const char *ifname, struct bt_err **err)
{
    struct net_nft_bridge br = {ifname, {0x0a000000u, 8}, false};
    struct bt_buf b;

    if (net__nft_check_bridge(&br, err) < 0)
        return -1;
    bt_buf_init(&b, 0);
    return run_buf(nft, &b, net__nft_text_bridge_del(&b, ifname), err);
}

static int ports(struct net_nft *nft, const struct net_nft_port *p, size_t n, bool del,
                 struct bt_err **err)
{
    struct bt_buf b;

    for (size_t i = 0; i < n; i++)
        if (net__nft_check_port(&p[i], err) < 0)
            return -1;
    bt_buf_init(&b, 0);
    return run_buf(nft, &b, net__nft_text_ports(&b, p, n, del), err);
}

int net_nft_ports_add(struct net_nft *nft, const struct net_nft_port *p, size_t n,
                      struct bt_err **err)
{
    return ports(nft, p, n, false, err);
}

int net_nft_ports_del(struct net_nft *nft, const struct net_nft_port *p, size_t n,
                      struct bt_err **err)
{
    return ports(nft, p, n, true, err);
}

int net_nft_teardown(struct net_nft *nft, struct bt_err **err)
{
    struct bt_buf b;

    bt_buf_init(&b, 0);
    return run_buf(nft, &b, net__nft_text_teardown(&b), err);
}

int net_nft_table_exists(struct net_nft *nft, bool *ret, struct bt_err **err)
{
    char *tables = NULL;

    /* "list table" of an absent table fails: look for it among the tables. */
    if (run(nft, "list tables ip", &tables, err) < 0)
        return -1;
    *ret = strstr(tables, "table ip " NET_NFT_TABLE "\n") != NULL;
    free(tables);
    return 0;
}

int net_nft_ports_reset(struct net_nft *nft, const struct net_nft_port *p, size_t n,
                        struct bt_err **err)
{
    struct net_nft_state st = {.ports = p, .nports = n};
    struct bt_buf b;
    bool have;

    for (size_t i = 0; i < n; i++)
        if (net__nft_check_port(&p[i], err) < 0)
            return -1;
    if (net_nft_table_exists(nft, &have, err) < 0)
        return -1;
    if (!have)
        return n ? net_nft_apply(nft, &st, err) : 0;
    bt_buf_init(&b, 0);
    return run_buf(nft, &b, net__nft_text_ports_reset(&b, p, n), err);
}

int net_nft_list(struct net_nft *nft, char **ret, struct bt_err **err)
{
    bool have;

    if (net_nft_table_exists(nft, &have, err) < 0)
        return -1;
    if (!have) {
        *ret = strdup("");
        return *ret ? 0 : bt_err_set(err, BT_EINTERNAL, ENOMEM, "nftables");
    }
    return run(nft, "list table ip " NET_NFT_TABLE, ret, err);
}
