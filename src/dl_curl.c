/* Loads libcurl on first use: this file sees the real declarations. */
#include <config.h>

#include "berth/dl.h"
#include "berth/dl_curl.h"

BT_DL_DEFINE(curl, CURL, BT_SONAME_CURL)
