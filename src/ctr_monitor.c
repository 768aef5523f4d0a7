/* The daemon's side of berth-monitor: spawn it, read its one-line start
 * report, hold a connection to its control socket (signals go down, the exit
 * comes up) and, when the connection ends without an exit line, read the
 * exit file it left. A session lives on its own (its handles close
 * asynchronously) and is detached from the record when the record no longer
 * needs it. Loop thread. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "berth/daemon.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/rt_spec.h"
#include "src/ctr-lifecycle.h"

#define REPORT_MAX 4096
#define CTL_LINE_MAX 512
#define CONNECT_RETRIES 20
#define CONNECT_RETRY_MS 50

struct ctr_monitor {
    struct bt_daemon *d;
    struct bt_ctr *c;            /* NULL once detached */
    char *run_dir;
    ctr_report_fn report_fn;
    uv_process_t proc;
    uv_pipe_t report;
    uv_pipe_t ctl;
    uv_connect_t connect_req;
    uv_timer_t retry;
    unsigned handles;            /* open uv handles; free at 0 */
    bool proc_open, report_open, ctl_open, retry_open;
    bool reported;               /* the start report was handled */
    bool connected;
    bool finished;               /* the exit was handed to the lifecycle */
    int retries;
    char rbuf[REPORT_MAX];
    size_t rlen;
    char cbuf[CTL_LINE_MAX];
    size_t clen;
};

static void mon_maybe_free(struct ctr_monitor *m)
{
    if (m->handles == 0 && !m->c) {
        free(m->run_dir);
        free(m);
    }
}

static void mon_on_closed(uv_handle_t *h)
{
    struct ctr_monitor *m = h->data;

    m->handles--;
    mon_maybe_free(m);
}

static void mon_close(struct ctr_monitor *m, uv_handle_t *h, bool *open)
{
    if (*open) {
        *open = false;
        uv_close(h, mon_on_closed);
    }
}

static void mon_close_all(struct ctr_monitor *m)
{
    mon_close(m, (uv_handle_t *)&m->report, &m->report_open);
    mon_close(m, (uv_handle_t *)&m->ctl, &m->ctl_open);
    mon_close(m, (uv_handle_t *)&m->retry, &m->retry_open);
    /* The process handle stays until libuv reaps the monitor (exit_cb),
     * except at shutdown: the monitor outlives the daemon. */
    if (m->d->shutting_down)
        mon_close(m, (uv_handle_t *)&m->proc, &m->proc_open);
}

/* The record lets go of the session. */
static void mon_detach(struct ctr_monitor *m)
{
    if (m->c && m->c->rt && m->c->rt->mon == m)
        m->c->rt->mon = NULL;
    m->c = NULL;
    mon_close_all(m);
    mon_maybe_free(m);
}

/* Hand the exit to the lifecycle, once. */
static void mon_finish(struct ctr_monitor *m, bool have_exit, int code, int64_t finished)
{
    struct bt_ctr *c = m->c;
    struct bt_daemon *d = m->d;

    if (m->finished || !c)
        return;
    m->finished = true;
    mon_detach(m);
    ctr_exited(d, c, have_exit, code, finished);
}

/* ---- the exit file, when the socket is gone ------------------------------------ */

struct exit_read {
    struct ctr_monitor *m;
    char *path;
    int monitor_pid;
    bool have, monitor_alive;
    int code;
    int64_t finished;
};

static bool exit_file_read(struct exit_read *j)
{
    FILE *f = fopen(j->path, "re");
    int oom;

    if (f) {
        j->have = fscanf(f, "%d %d %" SCNd64, &j->code, &oom, &j->finished) == 3;
        fclose(f);
    }
    return j->have;
}

static void exit_read_work(void *arg)
{
    struct exit_read *j = arg;

    if (exit_file_read(j))
        return;
    j->monitor_alive = j->monitor_pid > 0 && kill(j->monitor_pid, 0) == 0;
    /* It may have written the file and exited between the two looks: a
     * dead monitor's file is complete, look once more. */
    if (!j->monitor_alive)
        (void)exit_file_read(j);
}

static void mon_connect(struct ctr_monitor *m);

static void mon_on_retry(uv_timer_t *t)
{
    mon_connect(t->data);
}

static void exit_read_done(void *arg, bool ran)
{
    struct exit_read *j = arg;
    struct ctr_monitor *m = j->m;

    /* The job counts as a handle until the end: mon_finish() below may
     * detach the session, which frees it when nothing else is open, and the
     * mon_maybe_free() after it would then free it a second time. */
    if (ran && m->c && !m->finished) {
        if (j->have) {
            mon_finish(m, true, j->code, j->finished);
        } else if (j->monitor_alive && m->retries++ < CONNECT_RETRIES) {
            /* Not listening yet (or a transient failure): try again shortly. */
            if (!m->retry_open && uv_timer_init(m->d->loop, &m->retry) == 0) {
                m->retry.data = m;
                m->retry_open = true;
                m->handles++;
            }
            if (m->retry_open)
                uv_timer_start(&m->retry, mon_on_retry, CONNECT_RETRY_MS, 0);
        } else {
            mon_finish(m, false, 0, 0);
        }
    }
    m->handles--;
    mon_maybe_free(m);
    free(j->path);
    free(j);
}

static void mon_gone(struct ctr_monitor *m)
{
    struct exit_read *j;

    m->connected = false;
    mon_close(m, (uv_handle_t *)&m->ctl, &m->ctl_open);
    if (m->finished || !m->c)
        return;
    j = calloc(1, sizeof(*j));
    if (!j || asprintf(&j->path, "%s/%s", m->run_dir, BT_RT_EXIT_FILE) < 0) {
        free(j);
        mon_finish(m, false, 0, 0);
        return;
    }
    j->m = m;
    j->monitor_pid = m->c->state.monitor_pid;
    m->handles++;
    if (bt_job_queue(m->d->loop, exit_read_work, exit_read_done, j) < 0) {
        m->handles--;
        free(j->path);
        free(j);
        mon_finish(m, false, 0, 0);
    }
}

/* ---- the control socket ---------------------------------------------------------- */

static void ctl_line(struct ctr_monitor *m, char *line)
{
    int code, oom;
    int64_t finished;

    if (sscanf(line, "exit %d %d %" SCNd64, &code, &oom, &finished) == 3) {
        mon_finish(m, true, code, finished);
    } else if (strncmp(line, "err ", 4) == 0 && m->c) {
        BT_LOG(WARN, "container", "monitor refused a request", "id=%.12s err=\"%s\"", m->c->id,
               bt_log_q(line + 4));
    }
}

static void ctl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct ctr_monitor *m = h->data;

    (void)hint;
    buf->base = m->cbuf + m->clen;
    buf->len = sizeof(m->cbuf) - m->clen;
}

static void ctl_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct ctr_monitor *m = s->data;
    char *nl;

    (void)buf;
    if (n < 0) {
        mon_gone(m);
        return;
    }
    m->clen += (size_t)n;
    while (m->c && (nl = memchr(m->cbuf, '\n', m->clen))) {
        size_t len = (size_t)(nl - m->cbuf) + 1;
        *nl = 0;
        ctl_line(m, m->cbuf);
        if (!m->ctl_open)
            return;
        memmove(m->cbuf, m->cbuf + len, m->clen - len);
        m->clen -= len;
    }
    if (m->clen == sizeof(m->cbuf)) /* a line that long is not ours */
        m->clen = 0;
}

static void ctl_on_connect(uv_connect_t *req, int status)
{
    struct ctr_monitor *m = req->data;

    if (!m->ctl_open)
        return;
    if (status < 0 || uv_read_start((uv_stream_t *)&m->ctl, ctl_alloc, ctl_on_read) < 0) {
        mon_gone(m);
        return;
    }
    m->connected = true;
}

int ctr_monitor_sock_connect(const char *run_dir, uv_connect_t *req, uv_pipe_t *p,
                             uv_connect_cb cb)
{
    _cleanup_free_ char *path = NULL;
    struct sockaddr_un sa;
    int dir_fd = -1;

    if (asprintf(&path, "%s/%s", run_dir, BT_RT_CTL_SOCK) < 0)
        return -ENOMEM;
    /* A socket path does not fit in sun_path under a long exec root (libuv
     * would cut it short and connect to nothing): reach it through an fd of
     * the run directory instead. libuv connects before uv_pipe_connect
     * returns, so the fd is closed right after. */
    if (strlen(path) >= sizeof(sa.sun_path)) {
        dir_fd = open(run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        free(path);
        path = NULL;
        if (dir_fd < 0 || asprintf(&path, "/proc/self/fd/%d/%s", dir_fd, BT_RT_CTL_SOCK) < 0) {
            if (dir_fd >= 0)
                close(dir_fd);
            return -EIO;
        }
    }
    uv_pipe_connect(req, p, path, cb);
    if (dir_fd >= 0)
        close(dir_fd);
    return 0;
}

static void mon_connect(struct ctr_monitor *m)
{
    if (!m->c || m->finished)
        return;
    mon_close(m, (uv_handle_t *)&m->ctl, &m->ctl_open);
    if (uv_pipe_init(m->d->loop, &m->ctl, 0) < 0) {
        mon_gone(m);
        return;
    }
    m->ctl.data = m;
    m->ctl_open = true;
    m->handles++;
    m->clen = 0;
    m->connect_req.data = m;
    if (ctr_monitor_sock_connect(m->run_dir, &m->connect_req, &m->ctl, ctl_on_connect) < 0)
        mon_gone(m);
}

/* ---- the start report ------------------------------------------------------------- */

static void report_deliver(struct ctr_monitor *m, int pid, int code, const char *msg)
{
    struct bt_ctr *c = m->c;

    if (m->reported || !c)
        return;
    m->reported = true;
    mon_close(m, (uv_handle_t *)&m->report, &m->report_open);
    if (pid > 0) {
        m->report_fn(c, pid, 0, NULL);
        mon_connect(m);
    } else {
        /* The monitor exits by itself after an "err" report. */
        m->finished = true;
        mon_detach(m);
        m->report_fn(c, 0, code, msg);
    }
}

static void report_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct ctr_monitor *m = h->data;

    (void)hint;
    buf->base = m->rbuf + m->rlen;
    buf->len = sizeof(m->rbuf) - 1 - m->rlen;
}

static void report_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct ctr_monitor *m = s->data;
    char *nl;
    int pid, code, off = 0;

    (void)buf;
    if (n < 0) {
        report_deliver(m, 0, 125, "berth-monitor exited without reporting");
        return;
    }
    m->rlen += (size_t)n;
    m->rbuf[m->rlen] = 0;
    nl = strchr(m->rbuf, '\n');
    if (!nl) {
        if (m->rlen == sizeof(m->rbuf) - 1)
            report_deliver(m, 0, 125, "berth-monitor sent a report too long to read");
        return;
    }
    *nl = 0;
    if (sscanf(m->rbuf, "ok %d", &pid) == 1 && pid > 0)
        report_deliver(m, pid, 0, NULL);
    else if (sscanf(m->rbuf, "err %d %n", &code, &off) == 1 && off > 0)
        report_deliver(m, 0, code, m->rbuf + off);
    else
        report_deliver(m, 0, 125, "berth-monitor sent an unreadable report");
}

static void proc_on_exit(uv_process_t *p, int64_t status, int sig)
{
    struct ctr_monitor *m = p->data;

    /* A monitor only dies of a signal when someone kills it: worth a line,
     * since its container then ends without an exit status. */
    if (sig != 0)
        BT_LOG(WARN, "container", "berth-monitor killed", "pid=%d signal=%d status=%" PRId64,
               p->pid, sig, status);
    mon_close(m, (uv_handle_t *)&m->proc, &m->proc_open);
}

/* berth-monitor sits next to berthd (the build tree and an install alike),
 * else it is looked up in PATH. */
const char *ctr_monitor_path(void)
{
    static char path[PATH_MAX];
    static bool done;

    if (!done) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        char *slash;

        done = true;
        snprintf(path, sizeof(path), "berth-monitor");
        if (n > 0) {
            self[n] = 0;
            if ((slash = strrchr(self, '/'))) {
                *slash = 0;
                char cand[PATH_MAX];
                if ((size_t)snprintf(cand, sizeof(cand), "%s/berth-monitor", self) < sizeof(cand) &&
                    access(cand, X_OK) == 0)
                    memcpy(path, cand, sizeof(cand) < sizeof(path) ? sizeof(cand) : sizeof(path));
            }
        }
    }
    return path;
}

static struct ctr_monitor *mon_new(struct bt_daemon *d, struct bt_ctr *c, const char *run_dir)
{
    struct ctr_monitor *m = calloc(1, sizeof(*m));

    if (!m || !(m->run_dir = strdup(run_dir))) {
        free(m);
        return NULL;
    }
    m->d = d;
    m->c = c;
    return m;
}

int ctr_monitor_spawn(struct bt_daemon *d, struct bt_ctr *c, const char *run_dir,
                      ctr_report_fn report, struct bt_err **err)
{
    struct ctr_monitor *m = mon_new(d, c, run_dir);
    uv_process_options_t opts = {0};
    uv_stdio_container_t stdio[3];
    char *args[3];
    int r;

    if (!m)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if ((r = uv_pipe_init(d->loop, &m->report, 0)) < 0) {
        free(m->run_dir);
        free(m);
        return bt_err_set(err, BT_EINTERNAL, -r, "start monitor: %s", uv_strerror(r));
    }
    m->report.data = m;
    m->report_open = true;
    m->handles++;
    m->report_fn = report;

    args[0] = (char *)ctr_monitor_path();
    args[1] = (char *)run_dir;
    args[2] = NULL;
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&m->report;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    opts.file = args[0];
    opts.args = args;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.exit_cb = proc_on_exit;
    /* Its own session: a signal to the daemon's process group never reaches
     * a monitor, and the monitor outlives the daemon. */
    opts.flags = UV_PROCESS_DETACHED;
    m->proc.data = m;
    r = uv_spawn(d->loop, &m->proc, &opts);
    if (r < 0) {
        m->c = NULL;
        mon_close_all(m);
        return bt_err_set(err, BT_EINTERNAL, -r, "start %s: %s", args[0], uv_strerror(r));
    }
    m->proc_open = true;
    m->handles++;
    c->state.monitor_pid = m->proc.pid;
    uv_read_start((uv_stream_t *)&m->report, report_alloc, report_on_read);
    c->rt->mon = m;
    return 0;
}

int ctr_monitor_attach(struct bt_daemon *d, struct bt_ctr *c, const char *run_dir)
{
    struct ctr_monitor *m = mon_new(d, c, run_dir);

    if (!m)
        return -ENOMEM;
    m->reported = true;
    c->rt->mon = m;
    mon_connect(m);
    return 0;
}

static void ctl_on_write(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

/* Requests on the control connection are fire-and-forget: an "ok" needs no
 * action and an "err" is logged by ctl_line. */
static int ctl_send(struct ctr_monitor *m, const char *line, size_t len)
{
    struct {
        uv_write_t w;
        char line[48];
    } *req;

    if (len >= sizeof(req->line) || !(req = malloc(sizeof(*req))))
        return -ENOMEM;
    memcpy(req->line, line, len);
    uv_buf_t buf = uv_buf_init(req->line, (unsigned)len);
    int r = uv_write(&req->w, (uv_stream_t *)&m->ctl, &buf, 1, ctl_on_write);
    if (r < 0)
        free(req);
    return r;
}

int ctr_monitor_signal(struct bt_ctr *c, int sig, struct bt_err **err)
{
    struct ctr_monitor *m = c->rt ? c->rt->mon : NULL;
    char line[32];

    if (!m || !m->connected) {
        /* Between the report and the connection: the monitor has not reaped
         * the pid yet (it reports first), so signalling it directly is safe. */
        if (c->state.pid > 0 && kill(c->state.pid, sig) == 0)
            return 0;
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is not running", c->id);
    }
    int n = snprintf(line, sizeof(line), "signal %d\n", sig);
    if (ctl_send(m, line, (size_t)n) < 0)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is not running", c->id);
    return 0;
}

int ctr_monitor_resize(struct bt_ctr *c, unsigned rows, unsigned cols, struct bt_err **err)
{
    struct ctr_monitor *m = c->rt ? c->rt->mon : NULL;
    char line[48];

    /* Before the connection is up there is nothing to resize yet: the
     * spec's initial size applies, as a resize racing a start does in dockerd. */
    if (!m || !m->connected)
        return 0;
    int n = snprintf(line, sizeof(line), "resize %u %u\n", rows, cols);
    if (ctl_send(m, line, (size_t)n) < 0)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is not running", c->id);
    return 0;
}

void ctr_monitor_detach(struct bt_ctr *c)
{
    if (c->rt && c->rt->mon)
        mon_detach(c->rt->mon);
}
