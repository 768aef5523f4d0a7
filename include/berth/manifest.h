/* Reading image manifests and indexes (Docker schema 2, manifest lists, OCI
 * manifests and indexes): what pull needs from them. Any thread. */
#ifndef BERTH_MANIFEST_H
#define BERTH_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/digest.h"
#include "berth/err.h"

struct bt_descriptor {
    char digest[BT_DIGEST_STR_LEN + 1];
    uint64_t size;
    char media_type[96];
};

struct bt_manifest {
    struct bt_descriptor config;
    struct bt_descriptor *layers;
    size_t n_layers;
};

struct bt_platform {
    char os[16], arch[16], variant[16]; /* variant "" = any */
};

/* A list or index ("manifests" and no "layers")? */
bool bt_manifest_is_index(const char *body, size_t len, const char *media_type);
/* The entry of an index for a platform; BT_ENOTFOUND in dockerd's words when
 * none matches. An entry without a variant matches any variant wanted only
 * when no entry has that exact variant. */
int bt_manifest_pick(const char *body, size_t len, const struct bt_platform *want,
                     char ret_digest[BT_DIGEST_STR_LEN + 1], struct bt_err **err);
/* Config and layers of an image manifest; layers without a media type get
 * the OCI gzip type. BT_EINVAL for anything malformed. */
int bt_manifest_parse(const char *body, size_t len, struct bt_manifest *ret, struct bt_err **err);
void bt_manifest_done(struct bt_manifest *m);
/* "os/arch[/variant]"; NULL or "" gives the host's platform. */
int bt_platform_parse(const char *s, struct bt_platform *ret, struct bt_err **err);

#endif
