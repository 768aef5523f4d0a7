#include <config.h>

#include <dlfcn.h>

#include "berth/dl.h"

int bt_dl_load(const char *soname, const char *const *names, void **slots, size_t n,
               struct bt_err **err)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

    if (!h)
        return bt_err_set(err, BT_EINTERNAL, 0, "cannot load %s: %s", soname, dlerror());
    for (size_t i = 0; i < n; i++) {
        slots[i] = dlsym(h, names[i]);
        if (!slots[i])
            return bt_err_set(err, BT_EINTERNAL, 0, "%s lacks %s", soname, names[i]);
    }
    /* The handle stays open for the life of the process. */
    return 0;
}
