/* The one place that says which Engine API berthd speaks. Raising the API
 * version is this change plus the behaviours the new version adds
 * (see docs/engine-api.md section 1.6). */
#ifndef BERTH_VERSION_H
#define BERTH_VERSION_H

#define BT_API_VERSION "1.41"
#define BT_API_VERSION_NUM 141 /* major*100 + minor */
#define BT_API_MIN_VERSION "1.24"
#define BT_API_MIN_VERSION_NUM 124
#define BT_API_DEFAULT_VERSION_NUM BT_API_VERSION_NUM

#define BT_VERSION PACKAGE_VERSION
#ifndef BT_GIT_COMMIT
#define BT_GIT_COMMIT "unknown"
#endif

#endif
