/* JSON of GET /version and GET /info. Loop thread. */
#ifndef BERTH_API_JSON_SYSTEM_H
#define BERTH_API_JSON_SYSTEM_H

#include <cjson/cJSON.h>

struct bt_daemon;
struct bt_sysinfo;

cJSON *api_json_version(const struct bt_daemon *d, const char *kernel_version,
                        const char *go_arch);
cJSON *api_json_info(const struct bt_daemon *d, const struct bt_sysinfo *si);
/* The storage driver /info names: configured, else overlay2 where the kernel has it. */
const char *api_storage_driver_name(const struct bt_daemon *d, const struct bt_sysinfo *si);

#endif
