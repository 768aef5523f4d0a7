/* Error categories to the status codes dockerd uses. */
#include <config.h>

#include "api/api.h"

int api_err_status(const struct bt_err *e)
{
    static const int status[BT_ERR_MAX] = {
        [BT_EINTERNAL] = 500, [BT_EINVAL] = 400,      [BT_ENOTFOUND] = 404,
        [BT_ECONFLICT] = 409, [BT_EFORBIDDEN] = 403,  [BT_ENOTMODIFIED] = 304,
        [BT_ETOOLARGE] = 413, [BT_EUNAVAIL] = 503,    [BT_ENOTIMPL] = 501, [BT_EUNAUTHORIZED] = 401,
    };
    if (!e || e->code <= 0 || e->code >= BT_ERR_MAX || !status[e->code])
        return 500;
    return status[e->code];
}
