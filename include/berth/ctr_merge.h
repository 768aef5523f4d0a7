/* A container's Config from the request's and the image's, as dockerd
 * merges them at create, and the command that runs from it. Pure: cJSON in,
 * cJSON out. ANY thread. */
#ifndef BERTH_CTR_MERGE_H
#define BERTH_CTR_MERGE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "berth/err.h"

#define BT_CTR_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Merge the "config" object of an image config blob into `config` (the
 * request's Config, changed in place), as dockerd does:
 *  - User, WorkingDir, StopSignal: the image's when the request's is empty;
 *  - Env: the image's entries whose name the request does not set are
 *    appended; then PATH=<default> is appended when no entry sets PATH;
 *  - Labels: image ∪ request, the request winning (always an object after);
 *  - ExposedPorts, Volumes: the union;
 *  - Entrypoint/Cmd: when the request's Entrypoint is empty (null, missing or
 *    []), the image's Cmd replaces an empty request Cmd, and the image's
 *    Entrypoint a missing or null one (so a request Entrypoint drops the
 *    image's Cmd, and Entrypoint [] keeps the image's Cmd but not its
 *    Entrypoint); then Entrypoint [""] (`--entrypoint ""`) becomes null;
 *  - Healthcheck: the image's when the request has none, else each of Test,
 *    Interval, Timeout, StartPeriod, StartInterval and Retries the request
 *    leaves empty.
 * A string Entrypoint or Cmd (the API accepts both) becomes a one-element
 * array. OnBuild, Shell and ArgsEscaped are not merged (nor are they by
 * dockerd). BT_EINVAL naming a request key of the wrong type; BT_EINTERNAL
 * when the image config is not JSON. */
int bt_ctr_merge_image(cJSON *config, const char *image_config_json, size_t len,
                       struct bt_err **err);

/* Path and Args of the merged config: Entrypoint followed by Cmd, the first
 * word the path. Both empty: BT_EINVAL "No command specified". ret_args is
 * NULL-terminated; all of it malloc'd. */
int bt_ctr_command(const cJSON *config, char **ret_path, char ***ret_args, struct bt_err **err);

#endif
