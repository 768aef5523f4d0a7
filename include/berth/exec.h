/* Exec instances (docker exec): a process started inside a running
 * container. Each one gets its own berth-monitor (berth/rt_spec.h, spec
 * join_pid) in exec-root/exec/<exec id>/, so the monitor's start report,
 * attach streams, resize and exit file serve an exec as they serve a
 * container. Records live in memory only (as dockerd's): an exited exec is
 * kept for inspect (the newest BT_EXEC_KEEP_EXITED per container) and all of
 * a container's go when the container is removed. Loop thread only. */
#ifndef BERTH_EXEC_H
#define BERTH_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/container.h"
#include "berth/err.h"

struct bt_daemon;

#define BT_EXEC_ID_LEN 64
#define BT_EXEC_KEEP_EXITED 64

/* What the client asked for (POST /containers/{id}/exec). All malloc'd. */
struct bt_exec_config {
    char **cmd;         /* NULL-terminated, at least one element */
    char **env;         /* NULL-terminated K=V added to the container's, or NULL */
    char *user;         /* NULL or "": the container's User */
    char *working_dir;  /* NULL or "": the container's WorkingDir */
    char *detach_keys;  /* as given, may be NULL */
    bool tty, privileged;
    bool attach_stdin, attach_stdout, attach_stderr;
    unsigned rows, cols; /* ConsoleSize, 0 = unset */
};
void bt_exec_config_done(struct bt_exec_config *cfg);

struct bt_exec {
    char id[BT_EXEC_ID_LEN + 1];
    char ctr_id[BT_CTR_ID_LEN + 1];
    struct bt_exec_config cfg;
    bool started;       /* a start was accepted (a second one is refused) */
    bool running;       /* the process exists */
    bool exited;        /* exit_code is known */
    int exit_code;
    int pid;            /* host pid, 0 before the start */
    unsigned resize_rows, resize_cols; /* a resize that came before the process: sent once it runs */
    struct bt_exec_rt *rt; /* start/monitor bookkeeping (src/ctr_exec_start.c) */
};

/* Create an exec in container c (running and not paused: else BT_ECONFLICT
 * "Container <id> is not running" / "Container <id> is paused, unpause the
 * container before exec"). Takes cfg's contents whatever the result.
 * *ret is the new record, owned by the store. Emits "exec_create: CMD ARGS". */
int bt_exec_create(struct bt_daemon *d, struct bt_ctr *c, struct bt_exec_config *cfg,
                   struct bt_exec **ret, struct bt_err **err);
/* By full ID or unique prefix: BT_ENOTFOUND "No such exec instance: x". */
int bt_exec_lookup(struct bt_daemon *d, const char *id, struct bt_exec **ret,
                   struct bt_err **err);

/* Start. With ops NULL (Detach): done runs once the process was started (err
 * NULL) or could not be. With ops: the client's stream, as an attach
 * session's (berth/container.h: output, input_resume, end); the stream's
 * output starts with the process's first byte and `end` runs once the
 * process has exited, its output was delivered and its exit code is known
 * (a start failure is written into the stream as Docker does, then ends it).
 * BT_ECONFLICT "Error: Exec command <id> is already running" (or "has
 * already run") for a second start, "Container <id> is not running" or paused
 * as for create. Emits "exec_start: CMD ARGS" and, at the exit, "exec_die". */
typedef void (*bt_exec_done_fn)(void *arg, const struct bt_err *err);
struct bt_exec_stream;
int bt_exec_start(struct bt_daemon *d, struct bt_exec *e, bool tty, unsigned rows, unsigned cols,
                  const struct bt_ctr_attach_ops *ops, void *arg, bt_exec_done_fn done,
                  void *done_arg, struct bt_exec_stream **ret, struct bt_err **err);
/* The client's side of a stream: as bt_ctr_attach_input and friends. */
int bt_exec_stream_input(struct bt_exec_stream *s, const char *data, size_t len);
void bt_exec_stream_input_eof(struct bt_exec_stream *s);
void bt_exec_stream_output_resume(struct bt_exec_stream *s);
/* The client is gone (or `end` ran): no callback runs after this. */
void bt_exec_stream_free(struct bt_exec_stream *s);

/* Window size of the exec's tty; BT_ECONFLICT when it is not running. */
int bt_exec_resize(struct bt_daemon *d, struct bt_exec *e, unsigned rows, unsigned cols,
                   struct bt_err **err);

/* The container record is going away: drop its execs. */
void bt_execs_ctr_removed(struct bt_daemon *d, const char *ctr_id);
/* Shutdown: close the handles held for running execs (their monitors run on). */
void bt_execs_close(struct bt_daemon *d);
void bt_execs_free(struct bt_daemon *d);

#endif
