/* The two host settings the bridge driver needs, written to /proc/sys. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "berth/err.h"
#include "net/nl-internal.h"

static int sysctl_write_one(const char *path, struct bt_err **err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return bt_err_set(err, errno == ENOENT ? BT_ENOTFOUND : BT_EINTERNAL, errno, "open %s",
                          path);
    if (write(fd, "1\n", 2) != 2)
        return bt_err_set(err, BT_EINTERNAL, errno, "write %s", path);
    return 0;
}

int net_ip_forward_enable(struct bt_err **err)
{
    return sysctl_write_one("/proc/sys/net/ipv4/ip_forward", err);
}

int net_route_localnet_enable(const char *ifname, struct bt_err **err)
{
    char path[96];

    /* The name becomes a path: net__ifname_valid refuses '/' and dots. */
    if (!net__ifname_valid(ifname))
        return bt_err_set(err, BT_EINVAL, 0, "invalid interface name \"%s\"", ifname ? ifname : "");
    (void)snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", ifname);
    return sysctl_write_one(path, err);
}
