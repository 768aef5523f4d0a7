/* libcurl through a table filled on first use (see berth/dl.h). Include
 * this instead of <curl/curl.h> where curl functions are called. */
#ifndef BERTH_DL_CURL_H
#define BERTH_DL_CURL_H

#include <curl/curl.h>

#include "berth/err.h"

#define BT_DL_CURL_FUNCS(X)                                                                        \
    X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_getinfo) X(curl_easy_cleanup)               \
    X(curl_easy_pause) X(curl_easy_strerror) X(curl_multi_init) X(curl_multi_setopt)              \
    X(curl_multi_cleanup) X(curl_multi_assign) X(curl_multi_socket_action)                        \
    X(curl_multi_add_handle) X(curl_multi_remove_handle) X(curl_multi_info_read)                  \
    X(curl_multi_strerror) X(curl_slist_append) X(curl_slist_free_all) X(curl_free) X(curl_url)   \
    X(curl_url_set) X(curl_url_get) X(curl_url_cleanup) X(curl_url_dup)

struct bt_dl_curl {
#define BT_DL_SLOT(f) __typeof__(f) *f;
    BT_DL_CURL_FUNCS(BT_DL_SLOT)
#undef BT_DL_SLOT
};
extern struct bt_dl_curl bt_dl_curl;

/* Load libcurl once (thread-safe); every later call is a no-op. */
int bt_dl_curl_load(struct bt_err **err);

/* curl's own type-checking macros call the functions directly: route them. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_easy_init (*bt_dl_curl.curl_easy_init)
#define curl_easy_setopt (*bt_dl_curl.curl_easy_setopt)
#define curl_easy_getinfo (*bt_dl_curl.curl_easy_getinfo)
#define curl_easy_cleanup (*bt_dl_curl.curl_easy_cleanup)
#define curl_easy_pause (*bt_dl_curl.curl_easy_pause)
#define curl_easy_strerror (*bt_dl_curl.curl_easy_strerror)
#define curl_multi_init (*bt_dl_curl.curl_multi_init)
#define curl_multi_setopt (*bt_dl_curl.curl_multi_setopt)
#define curl_multi_cleanup (*bt_dl_curl.curl_multi_cleanup)
#define curl_multi_assign (*bt_dl_curl.curl_multi_assign)
#define curl_multi_socket_action (*bt_dl_curl.curl_multi_socket_action)
#define curl_multi_add_handle (*bt_dl_curl.curl_multi_add_handle)
#define curl_multi_remove_handle (*bt_dl_curl.curl_multi_remove_handle)
#define curl_multi_info_read (*bt_dl_curl.curl_multi_info_read)
#define curl_multi_strerror (*bt_dl_curl.curl_multi_strerror)
#define curl_slist_append (*bt_dl_curl.curl_slist_append)
#define curl_slist_free_all (*bt_dl_curl.curl_slist_free_all)
#define curl_free (*bt_dl_curl.curl_free)
#define curl_url (*bt_dl_curl.curl_url)
#define curl_url_set (*bt_dl_curl.curl_url_set)
#define curl_url_get (*bt_dl_curl.curl_url_get)
#define curl_url_cleanup (*bt_dl_curl.curl_url_cleanup)
#define curl_url_dup (*bt_dl_curl.curl_url_dup)

#endif
