/* berth-monitor's private interface: one process per container, one thread,
 * one poll(2) loop. Files by concern: main.c (setup and the start report),
 * loop.c (poll, SIGCHLD, draining), logfile.c (json-file lines),
 * logrotate.c (rotation and gzip), ctl.c (the control socket), files.c
 * (atomic run-directory files). Memory matters here (one monitor per
 * container): buffers are static and only dirtied as far as output needs. */
#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "berth/err.h"
#include "berth/rt_spec.h"

/* Docker's json-file splits a line longer than this into entries without "\n". */
#define MON_LINE_MAX (16 * 1024)

/* One output stream of the container (stdout, stderr; with a tty the pty master). */
struct mon_stream {
    int fd;           /* -1 once at EOF */
    const char *name; /* "stdout" | "stderr" */
    char *line;       /* pending partial line, MON_LINE_MAX bytes, malloc'd on first use */
    size_t line_len;
};

/* The json-file log writer. */
struct mon_log {
    char *path; /* NULL: driver "none", output is read and dropped */
    int fd;
    int64_t size;     /* bytes in the current file */
    int64_t max_size; /* 0: never rotate */
    int max_file;
    bool compress;
    char *attrs; /* JSON object written as every entry's "attrs", or NULL */
    size_t attrs_len;
    pid_t gz_pid; /* child gzipping <path>.1, 0 if none */
    bool failed;  /* a write failed: reported once on stderr */
};

int mon_log_open(struct mon_log *lg, const struct bt_rt_spec *s, struct bt_err **err);
/* Log what one read of stream st produced, stamped now, in one write(2). */
void mon_log_feed(struct mon_log *lg, struct mon_stream *st, const char *p, size_t n);
/* The stream ended: log its last partial line. */
void mon_log_eof(struct mon_log *lg, struct mon_stream *st);
/* Wait for a running gzip child and close the file. */
void mon_log_close(struct mon_log *lg);
/* Shared by logfile.c and logrotate.c. */
int mon__log_reopen(struct mon_log *lg);
void mon__log_rotate(struct mon_log *lg);
void mon__log_wait_gzip(struct mon_log *lg);
/* A child exited: true when it was the gzip child (the log forgets it). */
bool mon_log_reaped(struct mon_log *lg, pid_t pid);

/* Control socket clients. The type says what the connection speaks: request
 * lines, or (after "attach") the container's output down and stdin up. */
enum mon_client_type {
    MON_CLIENT_CTL,
    MON_CLIENT_ATTACH,
    MON_CLIENT_TYPE_MAX,
};

struct mon_client {
    int fd;
    enum mon_client_type type;
    char *in; /* request bytes up to a newline, capped */
    size_t in_len;
    char *out; /* reply bytes the client has not read yet, capped */
    size_t out_len;
    size_t out_cap; /* attach clients: out grows up to MON_ATTACH_OUT_MAX */
    bool a_stdin, a_stdout, a_stderr; /* what an attach client asked for */
    bool rd_eof;                      /* an attach client shut its writing side */
    bool dead; /* dropped: freed by the loop after this pass */
};

struct mon {
    pid_t pid;    /* the container's init */
    int stdin_fd; /* kept for attach; -1 unless open_stdin */
    int tty_fd;   /* the pty master, kept for resizes; -1 without a tty */
    bool joined;  /* an exec: our children live in the container's PID namespace */
    struct mon_stream out, err;
    struct mon_log log;
    int sig_fd; /* signalfd for SIGCHLD */
    int listen_fd;
    struct mon_client **clients;
    size_t n_clients;

    bool exited; /* the init has been reaped */
    int exit_code;
    int64_t finished_ns; /* CLOCK_REALTIME when it was reaped */
    int64_t drain_until; /* CLOCK_MONOTONIC ns: stop waiting for EOF */

    /* Attach. With spec attach_wait the output pipes are not read until the
     * first attach client arrives (or hold_until passes): output made before
     * it connects waits in the pipes, so none is lost to it. */
    bool tty, stdin_once;
    int64_t hold_until; /* CLOCK_MONOTONIC ns; 0: not holding */
    char *in_buf;       /* stdin bytes from an attach client not yet written */
    size_t in_len;
    bool stdin_close;   /* close stdin_fd once in_buf is written */
};

#define MON_ATTACH_OUT_MAX (8 * 1024 * 1024)

/* attach.c */
/* "attach <stdin> <stdout> <stderr>": turn c into an attach client. */
void mon_attach_begin(struct mon *m, struct mon_client *c, const char *args);
/* Bytes (or EOF, n == 0) an attach client sent: the container's stdin. */
void mon_attach_input(struct mon *m, struct mon_client *c, const char *p, size_t n);
void mon_attach_on_readable(struct mon *m, struct mon_client *c);
/* One read of stream st (m->out or m->err) to every attach client wanting it. */
void mon_attach_output(struct mon *m, const struct mon_stream *st, const char *p, size_t n);
/* Write pending stdin (stdin_fd is writable). */
void mon_attach_stdin_flush(struct mon *m);
/* Stop holding the output pipes. */
void mon_attach_hold_end(struct mon *m);
/* At exit: give attach clients up to a bound to take what is queued. */
void mon_attach_flush_all(struct mon *m);

/* ctl.c */
int mon_ctl_listen(struct mon *m, struct bt_err **err);
void mon_ctl_accept(struct mon *m);
void mon_ctl_on_readable(struct mon *m, struct mon_client *c);
void mon_ctl_on_writable(struct mon *m, struct mon_client *c);
/* Queue text for a client; a client whose backlog passes its cap is dropped. */
void mon_client_send(struct mon_client *c, const char *s, size_t n);
void mon_ctl_reap_dead(struct mon *m);
void mon_ctl_close(struct mon *m);

/* loop.c */
int mon_loop_run(struct mon *m);

/* files.c: run-directory files, relative to the current directory (RUN_DIR). */
int mon_write_atomic(const char *name, const char *text, struct bt_err **err);
int64_t mon_now_ns(clockid_t clock);

#endif
