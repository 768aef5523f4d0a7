#include <config.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/dl.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int dl_open(struct bt_dl_lib *lib)
{
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    char msg[512];

    if (!h) {
        snprintf(msg, sizeof(msg), "cannot load %s: %s", lib->soname, dlerror());
        lib->error = strdup(msg);
        return -1;
    }
    for (size_t i = 0; i < lib->n; i++) {
        lib->slots[i] = dlsym(h, lib->names[i]);
        if (!lib->slots[i]) {
            snprintf(msg, sizeof(msg), "%s lacks %s", lib->soname, lib->names[i]);
            lib->error = strdup(msg);
            return -1;
        }
    }
    /* The handle stays open for the life of the process. */
    return 1;
}

int bt_dl_load(struct bt_dl_lib *lib, struct bt_err **err)
{
    int state;

    pthread_mutex_lock(&lock);
    if (lib->state == 0)
        lib->state = dl_open(lib);
    state = lib->state;
    pthread_mutex_unlock(&lock);
    if (state < 0)
        return bt_err_set(err, BT_EINTERNAL, 0, "%s", lib->error ? lib->error : "dlopen failed");
    return 0;
}
