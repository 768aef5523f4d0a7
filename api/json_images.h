/* JSON of images: list items, inspect and history, as dockerd 20.10 shapes them. */
#ifndef BERTH_API_JSON_IMAGES_H
#define BERTH_API_JSON_IMAGES_H

#include <cjson/cJSON.h>
#include <stdbool.h>

struct bt_daemon;
struct stor_image;

/* The diff dirs of a layer's parents (and of the layer itself when with_top),
 * top first, joined by ':' as overlay2 shows them; NULL on failure. */
char *api_layer_lower_dirs(struct bt_daemon *d, const char *top, bool with_top);
cJSON *api_json_image_summary(struct bt_daemon *d, const struct stor_image *img);
cJSON *api_json_image_inspect(struct bt_daemon *d, const struct stor_image *img);
cJSON *api_json_image_history(struct bt_daemon *d, const struct stor_image *img);

#endif
