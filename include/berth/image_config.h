/* Building image configs: the Dockerfile instructions `docker import
 * --change` and `docker commit --change` take, and a new single-layer config.
 * Image configs are JSON on disk and in registries, so this module speaks
 * cJSON. Any thread. */
#ifndef BERTH_IMAGE_CONFIG_H
#define BERTH_IMAGE_CONFIG_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "berth/err.h"

/* Apply one instruction ("CMD [\"sh\"]", "ENV A=1 B=2", "EXPOSE 80/tcp",
 * "LABEL a=b", "USER x", "WORKDIR /w", "ENTRYPOINT sh", "VOLUME /d",
 * "STOPSIGNAL TERM", "ONBUILD RUN x") to a container config object.
 * BT_EINVAL naming the instruction for anything else. */
int bt_config_apply_change(cJSON *config, const char *change, struct bt_err **err);

/* {"architecture","os","created","config","rootfs":{"diff_ids":[diff_id]},
 * "history":[{"created","comment"}],"comment"} for an imported layer.
 * Takes config (may be NULL). Returns the serialised config blob. */
char *bt_image_config_single_layer(cJSON *config, const char *diff_id, const char *comment,
                                   const char *os, const char *arch);

#endif
