/* Private to src/ctr_exec*.c: the exec store and the start bookkeeping.
 * Loop thread. */
#ifndef BERTH_CTR_EXEC_H
#define BERTH_CTR_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/exec.h"

/* Every exec record, in creation order (lookups are linear: a container
 * keeps at most BT_EXEC_KEEP_EXITED exited ones plus its live ones). */
struct bt_execs {
    struct bt_exec **v;
    size_t n, cap;
};

/* The container's ExecIDs (execs not yet exited) from the store. */
void exec__ids_refresh(struct bt_daemon *d, const char *ctr_id);
/* An exec exited: drop the oldest exited ones past the bound. */
void exec__prune(struct bt_daemon *d, const char *ctr_id);
/* "CMD ARGS" as Docker's exec event actions show it (malloc'd). */
char *exec__cmdline(const struct bt_exec *e);
/* Container events for e (exec_create, exec_start, exec_die). */
void exec__event(struct bt_daemon *d, const struct bt_exec *e, const char *action,
                 bool with_cmd, const char *exit_code);

/* c (by ID) is running and not paused: BT_ECONFLICT as Docker words it. */
int exec__ctr_running(struct bt_daemon *d, const char *ctr_id, struct bt_ctr **ret,
                      struct bt_err **err);

/* ctr_exec_start.c: the record goes (its start bookkeeping lets go of it). */
void exec__rt_detach(struct bt_exec *e);

#endif
