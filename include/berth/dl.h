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

/* One library: its soname and the functions to resolve into `slots` (a
 * struct of function pointers in the order of `names`). */
struct bt_dl_lib {
    const char *soname;
    const char *const *names;
    void **slots;
    size_t n;
    /* Private: loaded once, whatever thread asks first. */
    int state; /* 0 not tried, 1 loaded, -1 failed */
    char *error;
};

/* Load the library once; later calls return the first result. -1 with *err. */
int bt_dl_load(struct bt_dl_lib *lib, struct bt_err **err);

/* The loader of one dl_*.h table: `names` from its function list, the
 * table itself as the slots. */
#define BT_DL_DEFINE(name, NAME, soname)                                                           \
    struct bt_dl_##name bt_dl_##name;                                                              \
    int bt_dl_##name##_load(struct bt_err **err)                                                   \
    {                                                                                              \
        static const char *const names[] = {BT_DL_##NAME##_FUNCS(BT_DL_STRING)};                   \
        static struct bt_dl_lib lib = {soname, names, (void **)&bt_dl_##name,                      \
                                       sizeof(names) / sizeof(names[0]), 0, NULL};                 \
        return bt_dl_load(&lib, err);                                                              \
    }
#define BT_DL_STRING(f) #f,

#endif
