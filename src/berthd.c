/* berthd: the container engine daemon. */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <uv.h>

#include "berth/daemon.h"
#include "berth/log.h"

/* Every API connection and log follower is an fd: allow as many as the
 * hard limit does, as dockerd does. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            BT_LOG(WARN, "daemon", "cannot raise the open file limit, continuing", "limit=%llu",
                   (unsigned long long)rl.rlim_max);
    }
}

int main(int argc, char **argv)
{
    _cleanup_err_ struct bt_err *err = NULL;
    struct bt_daemon d = {0};
    enum bt_config_parse what;
    uv_loop_t loop;
    int r, rc = 0;

    bt_config_init(&d.cfg);
    if (bt_config_load(&d.cfg, argc, argv, &what, &err) < 0) {
        BT_LOG(ERROR, "daemon", "start-up failed", "err=\"%s\"",
               bt_log_q(err ? err->msg : "invalid configuration"));
        bt_config_done(&d.cfg);
        return 1;
    }
    if (what == BT_CONFIG_EXIT_OK) {
        bt_config_done(&d.cfg);
        return 0;
    }
    bt_log_threshold = d.cfg.log_level;
    /* Clients drop streams all the time: EPIPE is a normal end, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    r = uv_loop_init(&loop);
    if (r < 0) {
        BT_LOG(ERROR, "daemon", "cannot create the event loop", "err=\"%s\"", uv_strerror(r));
        return 1;
    }
    if (bt_daemon_init(&d, &loop, &err) < 0) {
        BT_LOG(ERROR, "daemon", "start-up failed", "err=\"%s\"", bt_log_q(err ? err->msg : "unknown"));
        rc = 1;
    } else {
        bt_daemon_run(&d);
    }
    bt_daemon_done(&d);
    r = uv_loop_close(&loop);
    if (r < 0)
        BT_LOG(WARN, "daemon", "handles left open at exit", "err=\"%s\"", uv_strerror(r));
    if (rc == 0)
        BT_LOG(INFO, "daemon", "stopped", NULL);
    bt_config_done(&d.cfg);
    return rc;
}
