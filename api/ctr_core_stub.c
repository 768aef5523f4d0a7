/* TEMPORARY: stand-ins for the container core (include/berth/container.h)
 * that the API handlers call, so this branch links while the core is written
 * in parallel. Every operation fails; there are no containers. Delete this
 * file (and its line in Makefile.am) when the core is merged. */
#include <config.h>

#include "berth/container.h"

static int not_yet(struct bt_err **err)
{
    return bt_err_set(err, BT_ENOTIMPL, 0, "containers are not implemented yet");
}

const char *bt_ctr_status_name(enum bt_ctr_status s)
{
    static const char *const names[BT_CTR_STATUS_MAX] = {
        [BT_CTR_CREATED] = "created", [BT_CTR_RUNNING] = "running",
        [BT_CTR_PAUSED] = "paused",   [BT_CTR_RESTARTING] = "restarting",
        [BT_CTR_REMOVING] = "removing", [BT_CTR_EXITED] = "exited",
        [BT_CTR_DEAD] = "dead",
    };
    return s < BT_CTR_STATUS_MAX ? names[s] : "";
}

size_t bt_ctrs_count(const struct bt_daemon *d)
{
    (void)d;
    return 0;
}

struct bt_ctr *bt_ctrs_at(const struct bt_daemon *d, size_t i)
{
    (void)d;
    (void)i;
    return NULL;
}

int bt_ctr_lookup(const struct bt_daemon *d, const char *name_or_id, struct bt_ctr **ret,
                  struct bt_err **err)
{
    (void)d;
    (void)ret;
    return bt_err_set(err, BT_ENOTFOUND, 0, "No such container: %s", name_or_id);
}

void bt_ctrs_counts(const struct bt_daemon *d, size_t *ret_running, size_t *ret_paused,
                    size_t *ret_stopped)
{
    (void)d;
    *ret_running = *ret_paused = *ret_stopped = 0;
}

int bt_ctr_create(struct bt_daemon *d, const char *name, cJSON *config, cJSON *host_config,
                  cJSON *networking, bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    (void)d, (void)name, (void)done, (void)arg;
    cJSON_Delete(config);
    cJSON_Delete(host_config);
    cJSON_Delete(networking);
    return not_yet(err);
}

int bt_ctr_start(struct bt_daemon *d, struct bt_ctr *c, bt_ctr_done_fn done, void *arg,
                 struct bt_err **err)
{
    (void)d, (void)c, (void)done, (void)arg;
    return not_yet(err);
}

int bt_ctr_stop(struct bt_daemon *d, struct bt_ctr *c, int timeout, const char *signal,
                bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    (void)d, (void)c, (void)timeout, (void)signal, (void)done, (void)arg;
    return not_yet(err);
}

int bt_ctr_restart(struct bt_daemon *d, struct bt_ctr *c, int timeout, const char *signal,
                   bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    (void)d, (void)c, (void)timeout, (void)signal, (void)done, (void)arg;
    return not_yet(err);
}

int bt_ctr_kill(struct bt_daemon *d, struct bt_ctr *c, const char *signal, struct bt_err **err)
{
    (void)d, (void)c, (void)signal;
    return not_yet(err);
}

int bt_ctr_pause(struct bt_daemon *d, struct bt_ctr *c, bool pause, bt_ctr_done_fn done,
                 void *arg, struct bt_err **err)
{
    (void)d, (void)c, (void)pause, (void)done, (void)arg;
    return not_yet(err);
}

int bt_ctr_remove(struct bt_daemon *d, struct bt_ctr *c, bool force, bool volumes,
                  bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    (void)d, (void)c, (void)force, (void)volumes, (void)done, (void)arg;
    return not_yet(err);
}

int bt_ctr_rename(struct bt_daemon *d, struct bt_ctr *c, const char *new_name,
                  struct bt_err **err)
{
    (void)d, (void)c, (void)new_name;
    return not_yet(err);
}

int bt_ctr_update(struct bt_daemon *d, struct bt_ctr *c, const cJSON *update,
                  bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    (void)d, (void)c, (void)update, (void)done, (void)arg;
    return not_yet(err);
}

int bt_ctr_wait(struct bt_daemon *d, struct bt_ctr *c, enum bt_ctr_wait_cond cond,
                bt_ctr_wait_fn done, void *arg, struct bt_ctr_waiter **ret)
{
    (void)d, (void)c, (void)cond, (void)done, (void)arg, (void)ret;
    return -1;
}

void bt_ctr_wait_cancel(struct bt_ctr_waiter *w)
{
    (void)w;
}

int bt_ctr_top(struct bt_daemon *d, struct bt_ctr *c, const char *ps_args, bt_ctr_top_fn done,
               void *arg, struct bt_err **err)
{
    (void)d, (void)c, (void)ps_args, (void)done, (void)arg;
    return not_yet(err);
}

int bt_ctrs_prune(struct bt_daemon *d, const struct bt_filters *f, bt_ctr_prune_fn done,
                  void *arg, struct bt_err **err)
{
    (void)d, (void)f, (void)done, (void)arg;
    return not_yet(err);
}

int bt_ctr_sizes(struct bt_daemon *d, struct bt_ctr *const *ctrs, size_t n, bt_ctr_sizes_fn done,
                 void *arg, struct bt_err **err)
{
    (void)d, (void)ctrs, (void)n, (void)done, (void)arg;
    return not_yet(err);
}
