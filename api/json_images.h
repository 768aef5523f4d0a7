/* JSON of images: list items, inspect and history, as dockerd 20.10 shapes them. */
#ifndef BERTH_API_JSON_IMAGES_H
#define BERTH_API_JSON_IMAGES_H

#include <cjson/cJSON.h>

struct bt_daemon;
struct stor_image;

cJSON *api_json_image_summary(struct bt_daemon *d, const struct stor_image *img);
cJSON *api_json_image_inspect(struct bt_daemon *d, const struct stor_image *img);
cJSON *api_json_image_history(struct bt_daemon *d, const struct stor_image *img);

#endif
