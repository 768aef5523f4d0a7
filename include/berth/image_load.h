/* docker load: a docker-archive (manifest.json with Config and Layers paths,
 * as dockerd and skopeo write it, layers plain or compressed) or the OCI
 * layout dockerd 25+ adds, arriving as a request body. The body is spooled,
 * unpacked on the pool into a private temp dir (confined like any layer),
 * each layer kept as a blob and extracted into the layer store, then the
 * images registered with their RepoTags. Loop thread. */
#ifndef BERTH_IMAGE_LOAD_H
#define BERTH_IMAGE_LOAD_H

#include <stddef.h>

#include "berth/err.h"

struct bt_daemon;
struct bt_load;

/* One line per image: "Loaded image: busybox:latest" or "Loaded image ID: sha256:..". */
typedef void (*bt_load_line_fn)(void *arg, const char *line);
/* Once, at the end; err borrowed. */
typedef void (*bt_load_done_fn)(void *arg, const struct bt_err *err);

int bt_load_begin(struct bt_daemon *d, struct bt_load **ret, struct bt_err **err);
int bt_load_write(struct bt_load *l, const char *data, size_t len, struct bt_err **err);
void bt_load_finish(struct bt_load *l, bt_load_line_fn line, bt_load_done_fn done, void *arg);
/* Before finish: drop everything. After: finish quietly. */
void bt_load_cancel(struct bt_load *l);

#endif
