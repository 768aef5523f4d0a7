/* Loads libcrypto on first use: this file sees the real declarations. */
#include <config.h>

#include "berth/dl.h"
#include "berth/dl_crypto.h"

BT_DL_DEFINE(crypto, CRYPTO, BT_SONAME_CRYPTO)
