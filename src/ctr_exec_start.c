/* Starting an exec: on the pool, the exec's spec is made from the
 * container's own spec.json (so it carries the container's cgroups,
 * capabilities, seccomp filter, rlimits, env, user and working directory)
 * with the exec's overrides and join_pid; then berth-monitor is spawned for
 * it, its start report read, and the client's stream (an attach session on
 * the exec's monitor) connected. The exit comes from the monitor's exit
 * file once the monitor process has exited: by then the file is written, so
 * the client's stream is only ended once the exit code is known (the CLI
 * inspects the exec right after its stream closes). Loop thread. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/daemon.h"
#include "berth/fdio.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/rt_spec.h"
#include "berth/storage.h"
#include "src/ctr-exec.h"
#include "src/ctr-lifecycle.h"
#include "src/proc_spawn.h"

#define REPORT_MAX 4096
#define SPEC_MAX (4 * 1024 * 1024)
#define FRAME_HDR 8

struct bt_exec_rt {
    struct bt_daemon *d;
    struct bt_exec *e; /* NULL once the record went */
    char *run_dir;     /* exec-root/exec/<exec id> */
    struct bt_proc proc;
    uv_pipe_t report;
    bool report_open;
    unsigned busy;     /* open handles and jobs in flight: free at 0 when done */
    bool reported, failed, done_all;
    bool have_exit; /* the exit file was read (rt_finish) */
    int exit_code;
    int pid;
    struct bt_exec_stream *stream;
    bt_exec_done_fn done;
    void *done_arg;
    char rbuf[REPORT_MAX];
    size_t rlen;
};

struct bt_exec_stream {
    struct bt_exec_rt *rt;
    const struct bt_ctr_attach_ops *ops;
    void *arg;
    struct bt_ctr_attach *a;
    struct bt_ctr_attach *pending; /* the list a waits in until the report */
    bool tty, att_ended, exit_known, ended;
};

/* ---- the client's stream ------------------------------------------------------- */

static void stream_maybe_end(struct bt_exec_stream *s)
{
    if (s->att_ended && s->exit_known && !s->ended && s->arg) {
        s->ended = true;
        s->ops->end(s->arg); /* the client frees s from here */
    }
}

static int wrap_output(void *arg, const char *data, size_t len)
{
    struct bt_exec_stream *s = arg;
    return s->arg ? s->ops->output(s->arg, data, len) : 0;
}

static void wrap_input_resume(void *arg)
{
    struct bt_exec_stream *s = arg;
    if (s->arg)
        s->ops->input_resume(s->arg);
}

static void wrap_end(void *arg)
{
    struct bt_exec_stream *s = arg;
    s->att_ended = true;
    stream_maybe_end(s);
}

static const struct bt_ctr_attach_ops wrap_ops = {
    .output = wrap_output,
    .input_resume = wrap_input_resume,
    .end = wrap_end,
};

int bt_exec_stream_input(struct bt_exec_stream *s, const char *data, size_t len)
{
    return bt_ctr_attach_input(s->a, data, len);
}

void bt_exec_stream_input_eof(struct bt_exec_stream *s)
{
    bt_ctr_attach_input_eof(s->a);
}

void bt_exec_stream_output_resume(struct bt_exec_stream *s)
{
    bt_ctr_attach_output_resume(s->a);
}

void bt_exec_stream_free(struct bt_exec_stream *s)
{
    if (!s)
        return;
    s->arg = NULL;
    bt_ctr_attach_free(s->a);
    if (s->rt)
        s->rt->stream = NULL;
    free(s);
}

/* Docker writes a start error into the stream (a stdout frame without a tty). */
static void stream_fail(struct bt_exec_stream *s, const char *msg)
{
    size_t n = strlen(msg);
    char *buf = malloc(FRAME_HDR + n + 2);

    if (buf && s->arg) {
        size_t off = s->tty ? 0 : FRAME_HDR;
        uint32_t len = (uint32_t)(n + 2);
        if (!s->tty) {
            memset(buf, 0, FRAME_HDR);
            buf[0] = 1;
            buf[4] = (char)(len >> 24), buf[5] = (char)(len >> 16);
            buf[6] = (char)(len >> 8), buf[7] = (char)len;
        }
        memcpy(buf + off, msg, n);
        memcpy(buf + off + n, "\r\n", 2);
        (void)s->ops->output(s->arg, buf, off + n + 2);
    }
    free(buf);
    ctr_attach_end_list(&s->pending); /* frees s: its client lets go of it */
}

/* ---- bookkeeping ---------------------------------------------------------------- */

static void rt_maybe_free(struct bt_exec_rt *rt)
{
    if (rt->busy || !rt->done_all)
        return;
    if (rt->stream)
        rt->stream->rt = NULL;
    free(rt->run_dir);
    free(rt);
}

static void rt_on_closed(uv_handle_t *h)
{
    struct bt_exec_rt *rt = h->data;
    rt->busy--;
    rt_maybe_free(rt);
}

static void rt_close(struct bt_exec_rt *rt, uv_handle_t *h, bool *open)
{
    if (*open) {
        *open = false;
        uv_close(h, rt_on_closed);
    }
}

static void rt_close_proc(struct bt_exec_rt *rt)
{
    if (rt->proc.open)
        bt_proc_close(&rt->proc, rt_on_closed);
}

void exec__rt_detach(struct bt_exec *e)
{
    struct bt_exec_rt *rt = e->rt;

    if (!rt)
        return;
    e->rt = NULL;
    rt->e = NULL;
    if (rt->d->shutting_down) {
        /* The monitor runs on; the daemon lets go of it. */
        rt->done_all = true;
        rt_close(rt, (uv_handle_t *)&rt->report, &rt->report_open);
        rt_close_proc(rt);
        rt_maybe_free(rt);
    }
}

static void rt_report_done(struct bt_exec_rt *rt, const struct bt_err *err)
{
    bt_exec_done_fn fn = rt->done;

    rt->done = NULL;
    if (fn)
        fn(rt->done_arg, err);
}

/* The exec could not start: code and Docker's message, to the client. */
static void rt_fail(struct bt_exec_rt *rt, int code, const char *msg)
{
    _cleanup_free_ char *full = NULL;
    struct bt_err err = {.code = BT_EINTERNAL};

    if (rt->failed || rt->reported)
        return;
    rt->failed = true;
    rt->reported = true;
    if (asprintf(&full, "OCI runtime exec failed: exec failed: unable to start container "
                        "process: %s: unknown", msg) < 0)
        full = NULL;
    err.msg = full ? full : (char *)msg;
    if (rt->e) {
        rt->e->exited = true;
        rt->e->running = false;
        rt->e->exit_code = code == 125 ? 126 : code;
        exec__ids_refresh(rt->d, rt->e->ctr_id);
    }
    BT_LOG(DEBUG, "exec", "start failed", "id=%.12s code=%d err=\"%s\"", rt->e ? rt->e->id : "",
           code, bt_log_q(msg));
    if (rt->stream) {
        rt->stream->exit_known = true;
        stream_fail(rt->stream, err.msg);
    }
    rt_report_done(rt, &err);
}

/* ---- the end: the exit, then the run directory on the pool ------------------------- */

static void cleanup_work(void *arg)
{
    struct bt_exec_rt *rt = arg;
    (void)stor_rm_rf(rt->run_dir);
}

static void cleanup_done(void *arg, bool ran)
{
    struct bt_exec_rt *rt = arg;

    (void)ran;
    rt->busy--;
    rt_maybe_free(rt);
}

/* The monitor has exited, so its exit file is complete (it writes it before
 * it exits). Read here on the loop, not in a pool job: the client's stream
 * ends as soon as the code is known (a job's round trip was a tenth of an
 * exec), and a 30-byte file in the exec root costs no more than the
 * connect and socket calls the loop makes anyway. The directory goes on the
 * pool, after the stream has ended. */
static void read_exit(struct bt_exec_rt *rt)
{
    char path[PATH_MAX], buf[96];
    int64_t ns;
    int oom, fd;
    ssize_t n;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", rt->run_dir, BT_RT_EXIT_FILE) >=
            sizeof(path) ||
        (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    n = read(fd, buf, sizeof(buf) - 1);
    (void)close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    rt->have_exit = sscanf(buf, "%d %d %" SCNd64, &rt->exit_code, &oom, &ns) == 3;
}

static void rt_finish(struct bt_exec_rt *rt)
{
    struct bt_exec *e = rt->e;
    char code[16];

    read_exit(rt);
    if (e && !e->exited) {
        /* No exit file: the monitor died with its process (a container
         * stop kills both); report it as killed. */
        e->exit_code = rt->have_exit ? rt->exit_code : 128 + SIGKILL;
        e->exited = true;
        e->running = false;
        (void)snprintf(code, sizeof(code), "%d", e->exit_code);
        exec__event(rt->d, e, "exec_die", false, code);
        exec__ids_refresh(rt->d, e->ctr_id);
    }
    if (rt->stream) {
        rt->stream->exit_known = true;
        stream_maybe_end(rt->stream);
    }
    if (e) {
        char ctr_id[BT_CTR_ID_LEN + 1];
        memcpy(ctr_id, e->ctr_id, sizeof(ctr_id));
        e->rt = NULL;
        rt->e = NULL;
        exec__prune(rt->d, ctr_id);
    }
    rt->done_all = true;
    rt->busy++;
    if (bt_job_queue(rt->d->loop, cleanup_work, cleanup_done, rt) < 0)
        cleanup_done(rt, false); /* the directory stays; the record has ended */
}

/* ---- the monitor ------------------------------------------------------------------ */

static void report_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct bt_exec_rt *rt = h->data;

    (void)hint;
    buf->base = rt->rbuf + rt->rlen;
    buf->len = sizeof(rt->rbuf) - 1 - rt->rlen;
}

/* ---- resize: one request on a connection of its own -------------------------------- */

struct resize_req {
    uv_pipe_t pipe;
    uv_connect_t connect;
    uv_write_t write;
    char line[48];
    size_t len;
};

static void resize_on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void resize_on_written(uv_write_t *w, int status)
{
    struct resize_req *q = w->data;

    (void)status;
    uv_close((uv_handle_t *)&q->pipe, resize_on_closed);
}

static void resize_on_connect(uv_connect_t *c, int status)
{
    struct resize_req *q = c->data;
    uv_buf_t b = uv_buf_init(q->line, (unsigned)q->len);

    q->write.data = q;
    if (status < 0 || uv_write(&q->write, (uv_stream_t *)&q->pipe, &b, 1, resize_on_written) < 0)
        uv_close((uv_handle_t *)&q->pipe, resize_on_closed);
}

static int send_resize(struct bt_daemon *d, const char *run_dir, unsigned rows, unsigned cols)
{
    struct resize_req *q;

    if (!(q = calloc(1, sizeof(*q))) || uv_pipe_init(d->loop, &q->pipe, 0) < 0) {
        free(q);
        return -ENOMEM;
    }
    q->pipe.data = q;
    q->connect.data = q;
    q->len = (size_t)snprintf(q->line, sizeof(q->line), "resize %u %u\n", rows, cols);
    if (ctr_monitor_sock_connect(run_dir, &q->connect, &q->pipe, resize_on_connect) < 0)
        uv_close((uv_handle_t *)&q->pipe, resize_on_closed);
    return 0;
}

static void report_ok(struct bt_exec_rt *rt, int pid)
{
    rt->reported = true;
    rt->pid = pid;
    if (rt->e) {
        rt->e->pid = pid;
        rt->e->running = true;
        if (rt->e->resize_rows && rt->e->resize_cols)
            (void)send_resize(rt->d, rt->run_dir, rt->e->resize_rows, rt->e->resize_cols);
    }
    if (rt->stream)
        ctr_attach_connect_list(&rt->stream->pending, rt->run_dir);
    rt_report_done(rt, NULL);
}

static void report_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct bt_exec_rt *rt = s->data;
    int pid, code, off = 0;
    char *nl;

    (void)buf;
    if (n < 0) {
        rt_close(rt, (uv_handle_t *)&rt->report, &rt->report_open);
        rt_fail(rt, 126, "berth-monitor exited without reporting");
        return;
    }
    rt->rlen += (size_t)n;
    rt->rbuf[rt->rlen] = 0;
    if (!(nl = strchr(rt->rbuf, '\n'))) {
        if (rt->rlen == sizeof(rt->rbuf) - 1) {
            rt_close(rt, (uv_handle_t *)&rt->report, &rt->report_open);
            rt_fail(rt, 126, "berth-monitor sent a report too long to read");
        }
        return;
    }
    *nl = 0;
    rt_close(rt, (uv_handle_t *)&rt->report, &rt->report_open);
    if (sscanf(rt->rbuf, "ok %d", &pid) == 1 && pid > 0)
        report_ok(rt, pid);
    else if (sscanf(rt->rbuf, "err %d %n", &code, &off) == 1 && off > 0)
        rt_fail(rt, code, rt->rbuf + off);
    else
        rt_fail(rt, 126, "berth-monitor sent an unreadable report");
}

/* The monitor has exited: what it wrote on the report pipe is all there,
 * but the loop may have seen the pidfd before the pipe. Read it now, so an
 * "err" report is never taken for a monitor that died without one. */
static void report_drain(struct bt_exec_rt *rt)
{
    uv_os_fd_t fd;

    if (!rt->report_open || rt->reported || uv_fileno((uv_handle_t *)&rt->report, &fd) < 0)
        return;
    while (rt->report_open && !rt->reported) {
        ssize_t n = read(fd, rt->rbuf + rt->rlen, sizeof(rt->rbuf) - 1 - rt->rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        report_on_read((uv_stream_t *)&rt->report, n > 0 ? n : UV_EOF, NULL);
    }
}

static void proc_on_exit(struct bt_proc *p, int status, int sig)
{
    struct bt_exec_rt *rt = p->poll.data;

    (void)status;
    if (sig != 0)
        BT_LOG(WARN, "exec", "berth-monitor killed", "pid=%d signal=%d", p->pid, sig);
    rt_close_proc(rt);
    report_drain(rt);
    if (!rt->reported)
        rt_fail(rt, 126, "berth-monitor exited without reporting");
    rt_finish(rt);
}

static int rt_spawn(struct bt_exec_rt *rt, struct bt_err **err)
{
    char *args[3];
    int pfd[2], r;

    if ((r = uv_pipe_init(rt->d->loop, &rt->report, 0)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "start monitor: %s", uv_strerror(r));
    rt->report.data = rt;
    rt->report_open = true;
    rt->busy++;
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        r = errno;
        rt_close(rt, (uv_handle_t *)&rt->report, &rt->report_open);
        return bt_err_set(err, BT_EINTERNAL, r, "start monitor: pipe");
    }
    if ((r = uv_pipe_open(&rt->report, pfd[0])) < 0) {
        (void)close(pfd[0]);
        (void)close(pfd[1]);
        rt_close(rt, (uv_handle_t *)&rt->report, &rt->report_open);
        return bt_err_set(err, BT_EINTERNAL, -r, "start monitor: %s", uv_strerror(r));
    }
    args[0] = (char *)ctr_monitor_path();
    args[1] = rt->run_dir;
    args[2] = NULL;
    r = bt_proc_spawn(rt->d->loop, &rt->proc, args, pfd[1], proc_on_exit);
    (void)close(pfd[1]);
    if (rt->proc.open) {
        rt->proc.poll.data = rt;
        rt->busy++;
    }
    if (r < 0) {
        rt_close_proc(rt);
        rt_close(rt, (uv_handle_t *)&rt->report, &rt->report_open);
        return bt_err_set(err, BT_EINTERNAL, -r, "start %s: %s", args[0], strerror(-r));
    }
    if (uv_read_start((uv_stream_t *)&rt->report, report_alloc, report_on_read) < 0)
        rt_close(rt, (uv_handle_t *)&rt->report, &rt->report_open);
    return 0;
}

/* ---- the spec, on the pool ------------------------------------------------------- */

struct spec_job {
    struct bt_exec_rt *rt;
    char *ctr_spec;   /* the container's spec.json */
    char *run_dir;
    struct bt_exec_config cfg; /* a copy: the record may go meanwhile */
    int join_pid;
    bool attach;
    char *error;
};

static char **strv_dup(char *const *v)
{
    size_t n = 0;
    char **r;

    for (; v && v[n]; n++)
        ;
    if (!(r = calloc(n + 1, sizeof(*r))))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(r[i] = strdup(v[i]))) {
            for (size_t k = 0; k < i; k++)
                free(r[k]);
            free(r);
            return NULL;
        }
    return r;
}

/* The container's env with the exec's K=V replacing the same keys. */
static int env_merge(char ***env, char *const *add)
{
    size_t n = 0, extra = 0;
    char **v = *env, **r;

    for (; v && v[n]; n++)
        ;
    for (; add && add[extra]; extra++)
        ;
    if (!(r = realloc(v, (n + extra + 1) * sizeof(*r))))
        return -ENOMEM;
    *env = r;
    r[n] = NULL;
    for (size_t i = 0; i < extra; i++) {
        size_t klen = strcspn(add[i], "=");
        char *dup = strdup(add[i]);
        size_t k;

        if (!dup)
            return -ENOMEM;
        for (k = 0; k < n; k++)
            if (strncmp(r[k], add[i], klen) == 0 && (r[k][klen] == '=' || r[k][klen] == 0))
                break;
        if (k < n) {
            free(r[k]);
            r[k] = dup;
        } else {
            r[n++] = dup;
            r[n] = NULL;
        }
    }
    return 0;
}

static void replace_str(char **dst, const char *src)
{
    if (src && src[0]) {
        char *s = strdup(src);
        if (s) {
            free(*dst);
            *dst = s;
        }
    }
}

static int spec_build(struct spec_job *j, char **ret_text)
{
    _cleanup_free_ char *text = NULL;
    struct bt_rt_spec s;
    struct bt_err *err = NULL;
    int fd, r;

    fd = open(j->ctr_spec, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = bt_read_fd_all(fd, SPEC_MAX, &text, NULL);
    close(fd);
    if (r < 0)
        return r;
    if (bt_rt_spec_decode(text, strlen(text), &s, &err) < 0) {
        bt_err_free(err);
        return -EINVAL;
    }
    free(s.run_dir);
    s.run_dir = strdup(j->run_dir);
    free(s.log_path);
    s.log_path = NULL; /* output goes to the attach clients only */
    s.tty = j->cfg.tty;
    s.open_stdin = j->cfg.attach_stdin;
    s.stdin_once = true;
    s.attach_wait = j->attach;
    s.tty_rows = (unsigned short)j->cfg.rows;
    s.tty_cols = (unsigned short)j->cfg.cols;
    s.init = false;
    s.join_pid = j->join_pid;
    for (char **p = s.argv; p && *p; p++)
        free(*p);
    free(s.argv);
    s.argv = strv_dup(j->cfg.cmd);
    replace_str(&s.user, j->cfg.user);
    replace_str(&s.cwd, j->cfg.working_dir);
    if (j->cfg.privileged) {
        s.caps = ~(uint64_t)0; /* the runtime keeps what the kernel knows */
        free(s.seccomp_bpf);
        s.seccomp_bpf = NULL;
    }
    r = s.argv && s.run_dir ? env_merge(&s.env, j->cfg.env) : -ENOMEM;
    if (r == 0 && bt_rt_spec_encode(&s, ret_text, &err) < 0) {
        bt_err_free(err);
        r = -ENOMEM;
    }
    bt_rt_spec_done(&s);
    return r;
}

static void spec_work(void *arg)
{
    struct spec_job *j = arg;
    _cleanup_free_ char *text = NULL, *path = NULL;
    int fd, r;

    r = spec_build(j, &text);
    if (r == 0 && bt_mkdir_p(j->run_dir, 0700) < 0)
        r = -errno;
    if (r == 0 && asprintf(&path, "%s/%s", j->run_dir, BT_RT_SPEC_FILE) < 0)
        r = -ENOMEM;
    if (r == 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || bt_write_full(fd, text, strlen(text)) < 0)
            r = -EIO;
        if (fd >= 0)
            close(fd);
    }
    if (r < 0 && asprintf(&j->error, "prepare the exec: %s", strerror(-r)) < 0)
        j->error = NULL;
    if (r < 0)
        (void)stor_rm_rf(j->run_dir);
}

static void spec_job_free(struct spec_job *j)
{
    bt_exec_config_done(&j->cfg);
    free(j->ctr_spec);
    free(j->run_dir);
    free(j->error);
    free(j);
}

static void spec_done(void *arg, bool ran)
{
    struct spec_job *j = arg;
    struct bt_exec_rt *rt = j->rt;
    _cleanup_err_ struct bt_err *err = NULL;

    rt->busy--;
    if (!ran || j->error || !rt->e || rt->d->shutting_down) {
        rt_fail(rt, 126, j->error ? j->error : "the exec was cancelled");
        spec_job_free(j);
        rt_finish(rt);
        return;
    }
    spec_job_free(j);
    if (rt_spawn(rt, &err) < 0) {
        rt_fail(rt, 126, err->msg);
        rt_finish(rt);
    }
}

static int cfg_copy(struct bt_exec_config *dst, const struct bt_exec_config *src)
{
    *dst = *src;
    dst->cmd = strv_dup(src->cmd);
    dst->env = src->env ? strv_dup(src->env) : NULL;
    dst->user = src->user ? strdup(src->user) : NULL;
    dst->working_dir = src->working_dir ? strdup(src->working_dir) : NULL;
    dst->detach_keys = NULL;
    if (!dst->cmd || (src->env && !dst->env) || (src->user && !dst->user) ||
        (src->working_dir && !dst->working_dir)) {
        bt_exec_config_done(dst);
        return -ENOMEM;
    }
    return 0;
}

static int queue_spec(struct bt_exec_rt *rt, struct bt_ctr *c, unsigned rows, unsigned cols)
{
    struct bt_exec *e = rt->e;
    struct spec_job *j = calloc(1, sizeof(*j));

    if (!j || cfg_copy(&j->cfg, &e->cfg) < 0) {
        free(j);
        return -ENOMEM;
    }
    j->rt = rt;
    j->join_pid = c->state.pid;
    j->attach = rt->stream != NULL;
    if (rows && cols)
        j->cfg.rows = rows, j->cfg.cols = cols;
    if (!(j->ctr_spec = ctr_run_path(rt->d, c, BT_RT_SPEC_FILE)) ||
        !(j->run_dir = strdup(rt->run_dir))) {
        spec_job_free(j);
        return -ENOMEM;
    }
    rt->busy++;
    if (bt_job_queue(rt->d->loop, spec_work, spec_done, j) < 0) {
        rt->busy--;
        spec_job_free(j);
        return -ENOMEM;
    }
    return 0;
}

int bt_exec_start(struct bt_daemon *d, struct bt_exec *e, bool tty, unsigned rows, unsigned cols,
                  const struct bt_ctr_attach_ops *ops, void *arg, bt_exec_done_fn done,
                  void *done_arg, struct bt_exec_stream **ret, struct bt_err **err)
{
    struct bt_exec_rt *rt;
    struct bt_exec_stream *s = NULL;
    struct bt_ctr *c;

    (void)tty; /* the process's tty is the one asked for at create, as in dockerd */
    if (e->started)
        return bt_err_set(err, BT_ECONFLICT, 0,
                          e->exited ? "Error: Exec command %s has already run"
                                    : "Error: Exec command %s is already running",
                          e->id);
    if (exec__ctr_running(d, e->ctr_id, &c, err) < 0)
        return -1;
    rt = calloc(1, sizeof(*rt));
    if (rt && ops)
        s = calloc(1, sizeof(*s));
    if (!rt || (ops && !s) ||
        asprintf(&rt->run_dir, "%s/exec/%s", d->cfg.exec_root, e->id) < 0) {
        free(rt);
        free(s);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    if (s) {
        s->ops = ops;
        s->arg = arg;
        s->tty = e->cfg.tty;
        s->a = ctr_attach_new_pending(d, &s->pending, e->cfg.attach_stdin,
                                      e->cfg.attach_stdout, e->cfg.attach_stderr, &wrap_ops, s);
        s->rt = rt;
        rt->stream = s;
    }
    rt->d = d;
    rt->e = e;
    rt->done = done;
    rt->done_arg = done_arg;
    if ((s && !s->a) || queue_spec(rt, c, rows, cols) < 0) {
        if (s)
            bt_ctr_attach_free(s->a);
        free(s);
        free(rt->run_dir);
        free(rt);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    e->rt = rt;
    e->started = true;
    exec__event(d, e, "exec_start", true, NULL);
    if (ret)
        *ret = s;
    return 0;
}

int bt_exec_resize(struct bt_daemon *d, struct bt_exec *e, unsigned rows, unsigned cols,
                   struct bt_err **err)
{
    if (e->exited)
        return bt_err_set(err, BT_ECONFLICT, 0, "Exec %s is not running", e->id);
    /* The CLI resizes right after its start request, usually before the
     * process exists (dockerd waits for it): keep the size for then. */
    if (!e->running || !e->rt) {
        e->resize_rows = rows;
        e->resize_cols = cols;
        return 0;
    }
    if (send_resize(d, e->rt->run_dir, rows, cols) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    return 0;
}
