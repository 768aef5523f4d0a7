/* Loads libarchive on first use: this file sees the real declarations. */
#include <config.h>

#include <pthread.h>

#include "berth/dl.h"
#include "berth/dl_archive.h"

struct bt_dl_archive bt_dl_archive;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct bt_err *load_err;
static int load_r;

static void load(void)
{
    static const char *const names[] = {
#define BT_DL_NAME(f) #f,
        BT_DL_ARCHIVE_FUNCS(BT_DL_NAME)
#undef BT_DL_NAME
    };
    load_r = bt_dl_load(BT_SONAME_ARCHIVE, names, (void **)&bt_dl_archive, sizeof(names) / sizeof(names[0]),
                        &load_err);
}

int bt_dl_archive_load(struct bt_err **err)
{
    pthread_once(&once, load);
    if (load_r < 0)
        return bt_err_set(err, load_err->code, 0, "%s", load_err->msg);
    return 0;
}
