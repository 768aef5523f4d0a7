/* Loads libarchive on first use: this file sees the real declarations. */
#include <config.h>

#include "berth/dl.h"
#include "berth/dl_archive.h"

BT_DL_DEFINE(archive, ARCHIVE, BT_SONAME_ARCHIVE)
