/* Libraries loaded on first use. libcurl, libarchive and libcrypto bring
 * dozens of dependent libraries whose start-up (relocations, constructors)
 * would cost an idle daemon several MiB of resident memory; berthd loads
 * them with dlopen the first time a pull, an extraction or a digest needs
 * them. Each dl_*.h header routes the library's calls through a table that
 * its loader fills once (any thread). */
#ifndef BERTH_DL_H
#define BERTH_DL_H

#include <stddef.h>

#include "berth/err.h"

/* dlopen soname and resolve names[i] into slots[i]; -1 with *err. */
int bt_dl_load(const char *soname, const char *const *names, void **slots, size_t n,
               struct bt_err **err);

#endif
