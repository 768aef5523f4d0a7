/* Attach sessions: one per attached client, relaying between the client
 * (through the callbacks of the API layer) and an attach stream on the
 * container's monitor (berth/rt_spec.h). An attach made before start waits
 * in the record's list; the start's "ok" report connects it, and the spec
 * told the monitor to hold the output until it comes, so nothing is lost.
 * Once connected a session no longer needs the record. Loop thread. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/daemon.h"
#include "berth/log.h"
#include "berth/rt_spec.h"
#include "src/ctr-lifecycle.h"

#define READ_SIZE (64 * 1024)
#define PENDING_IN_MAX (1024 * 1024)  /* stdin held before the monitor is reached */
#define IN_HIGH_MARK (256 * 1024)     /* stdin queued to the monitor: pause the client */

enum att_state {
    ATT_PENDING,    /* in the record's list, waiting for the start */
    ATT_CONNECTING, /* connecting, or waiting for the monitor's "ok" */
    ATT_STREAMING,
    ATT_DONE,
};

struct bt_ctr_attach {
    struct bt_daemon *d;
    struct bt_ctr *c; /* while pending */
    struct bt_ctr_attach *next, **pprev;
    const struct bt_ctr_attach_ops *ops;
    void *arg; /* NULL once the client let go */
    enum att_state state;
    bool in, out, err;
    uv_pipe_t pipe;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    bool pipe_open;
    bool in_eof;       /* the client ended stdin */
    bool in_paused;    /* we asked the client to pause */
    bool out_paused;   /* the client asked us to pause */
    char ok[3];        /* the monitor's "ok\n" */
    size_t ok_len;
    struct bt_buf pending_in;
    char *rbuf;
};

static void att_maybe_free(struct bt_ctr_attach *a)
{
    if (a->arg || a->pipe_open)
        return;
    bt_buf_done(&a->pending_in);
    free(a->rbuf);
    free(a);
}

static void unlink_pending(struct bt_ctr_attach *a)
{
    if (!a->pprev)
        return;
    *a->pprev = a->next;
    if (a->next)
        a->next->pprev = a->pprev;
    a->pprev = NULL;
    a->next = NULL;
    a->c = NULL;
}

static void on_pipe_closed(uv_handle_t *h)
{
    struct bt_ctr_attach *a = h->data;
    a->pipe_open = false;
    att_maybe_free(a);
}

static void close_pipe(struct bt_ctr_attach *a)
{
    if (a->pipe_open && !uv_is_closing((uv_handle_t *)&a->pipe))
        uv_close((uv_handle_t *)&a->pipe, on_pipe_closed);
}

/* The stream is over: tell the client once. */
static void att_end(struct bt_ctr_attach *a)
{
    unlink_pending(a);
    if (a->state != ATT_DONE) {
        a->state = ATT_DONE;
        close_pipe(a);
        if (a->arg)
            a->ops->end(a->arg);
    }
}

static void on_in_written(uv_write_t *w, int status)
{
    struct bt_ctr_attach *a = w->data;

    (void)status;
    free(w);
    if (a->arg && a->in_paused && a->state == ATT_STREAMING &&
        a->pipe.write_queue_size < IN_HIGH_MARK / 4) {
        a->in_paused = false;
        a->ops->input_resume(a->arg);
    }
}

static int send_in(struct bt_ctr_attach *a, const char *data, size_t len)
{
    uv_write_t *w = malloc(sizeof(*w) + len);
    if (!w)
        return -1;
    memcpy(w + 1, data, len);
    w->data = a;
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&a->pipe, &b, 1, on_in_written) < 0) {
        free(w);
        return -1;
    }
    return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req, (void)status;
}

static void send_in_eof(struct bt_ctr_attach *a)
{
    a->shutdown_req.data = a;
    (void)uv_shutdown(&a->shutdown_req, (uv_stream_t *)&a->pipe, on_shutdown);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct bt_ctr_attach *a = h->data;

    (void)hint;
    if (!a->rbuf)
        a->rbuf = malloc(READ_SIZE);
    *buf = uv_buf_init(a->rbuf, a->rbuf ? READ_SIZE : 0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct bt_ctr_attach *a = s->data;
    const char *p = buf->base;
    size_t len = n > 0 ? (size_t)n : 0;

    if (n < 0) { /* the monitor closed the stream: the container is done */
        att_end(a);
        return;
    }
    if (a->state == ATT_CONNECTING) {
        size_t take = len < 3 - a->ok_len ? len : 3 - a->ok_len;
        memcpy(a->ok + a->ok_len, p, take);
        a->ok_len += take;
        p += take;
        len -= take;
        if (a->ok_len < 3)
            return;
        if (memcmp(a->ok, "ok\n", 3) != 0) {
            BT_LOG(WARN, "container", "monitor refused an attach", "reply=%.3s", a->ok);
            att_end(a);
            return;
        }
        a->state = ATT_STREAMING;
        /* stdin that came before the monitor was reached goes first. */
        if (a->pending_in.len && send_in(a, a->pending_in.p, a->pending_in.len) < 0) {
            att_end(a);
            return;
        }
        bt_buf_done(&a->pending_in);
        if (a->in_eof)
            send_in_eof(a);
        if (a->in_paused && a->arg) {
            a->in_paused = false;
            a->ops->input_resume(a->arg);
        }
    }
    if (len && a->arg && a->ops->output(a->arg, p, len) > 0 && a->state == ATT_STREAMING) {
        a->out_paused = true;
        uv_read_stop((uv_stream_t *)&a->pipe);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct bt_ctr_attach *a = req->data;
    char line[32];

    if (a->state != ATT_CONNECTING)
        return;
    if (status < 0) {
        att_end(a);
        return;
    }
    int n = snprintf(line, sizeof(line), "attach %d %d %d\n", a->in, a->out, a->err);
    if (send_in(a, line, (size_t)n) < 0 ||
        uv_read_start((uv_stream_t *)&a->pipe, on_alloc, on_read) < 0)
        att_end(a);
}

static void att_connect_dir(struct bt_ctr_attach *a, const char *run_dir);

static void att_connect(struct bt_ctr_attach *a, struct bt_ctr *c)
{
    _cleanup_free_ char *run_dir = ctr_run_path(a->d, c, NULL);

    att_connect_dir(a, run_dir);
}

static void att_connect_dir(struct bt_ctr_attach *a, const char *run_dir)
{
    unlink_pending(a);
    a->state = ATT_CONNECTING;
    if (!run_dir || uv_pipe_init(a->d->loop, &a->pipe, 0) < 0) {
        att_end(a);
        return;
    }
    a->pipe.data = a;
    a->pipe_open = true;
    a->connect_req.data = a;
    if (ctr_monitor_sock_connect(run_dir, &a->connect_req, &a->pipe, on_connect) < 0)
        att_end(a);
}

int bt_ctr_attach(struct bt_daemon *d, struct bt_ctr *c, bool in, bool out, bool err,
                  const struct bt_ctr_attach_ops *ops, void *arg, struct bt_ctr_attach **ret,
                  struct bt_err **e)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    struct bt_ctr_attach *a = calloc(1, sizeof(*a));

    if (!rt || !a) {
        free(a);
        return bt_err_set(e, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    if (rt->phase == CTR_REMOVING)
        return free(a), bt_err_set(e, BT_ECONFLICT, 0, "container %s is being removed", c->id);
    a->d = d;
    a->ops = ops;
    a->arg = arg;
    a->in = in && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->config, "OpenStdin"));
    a->out = out;
    a->err = err;
    bt_buf_init(&a->pending_in, PENDING_IN_MAX);
    *ret = a;
    ctr_event(d, c, "attach", NULL, NULL); /* dockerd: one per attach, before start */
    /* Running and reported: the monitor is there to take it now. */
    if (c->state.status == BT_CTR_RUNNING && rt->phase != CTR_STARTING && c->state.pid > 0) {
        a->state = ATT_CONNECTING;
        att_connect(a, c);
        return 0;
    }
    a->state = ATT_PENDING;
    a->c = c;
    a->next = rt->attaches;
    if (a->next)
        a->next->pprev = &a->next;
    rt->attaches = a;
    a->pprev = &rt->attaches;
    return 0;
}

int bt_ctr_attach_input(struct bt_ctr_attach *a, const char *data, size_t len)
{
    if (!a->in || a->in_eof || a->state == ATT_DONE)
        return 0; /* not for stdin: dropped, as Docker does */
    if (a->state != ATT_STREAMING) {
        if (bt_buf_append(&a->pending_in, data, len) < 0)
            return 1; /* cannot happen while the client honours pauses */
        if (a->pending_in.len >= PENDING_IN_MAX / 2)
            a->in_paused = true;
        return a->in_paused ? 1 : 0;
    }
    if (send_in(a, data, len) < 0) {
        att_end(a);
        return 0;
    }
    if (a->pipe.write_queue_size >= IN_HIGH_MARK)
        a->in_paused = true;
    return a->in_paused ? 1 : 0;
}

void bt_ctr_attach_input_eof(struct bt_ctr_attach *a)
{
    if (a->in_eof)
        return;
    a->in_eof = true;
    if (a->state == ATT_STREAMING && a->in)
        send_in_eof(a);
}

void bt_ctr_attach_output_resume(struct bt_ctr_attach *a)
{
    if (!a->out_paused || a->state != ATT_STREAMING)
        return;
    a->out_paused = false;
    if (uv_read_start((uv_stream_t *)&a->pipe, on_alloc, on_read) < 0)
        att_end(a);
}

void bt_ctr_attach_free(struct bt_ctr_attach *a)
{
    if (!a)
        return;
    a->arg = NULL;
    unlink_pending(a);
    a->state = ATT_DONE;
    close_pipe(a);
    att_maybe_free(a);
}

bool ctr_attach_pending(const struct bt_ctr *c)
{
    return c->rt && c->rt->attaches;
}

void ctr_attach_started(struct bt_ctr *c)
{
    while (c->rt && c->rt->attaches)
        att_connect(c->rt->attaches, c);
}

void ctr_attach_end_pending(struct bt_ctr *c)
{
    while (c->rt && c->rt->attaches)
        att_end(c->rt->attaches);
}

/* ---- sessions on another monitor (execs: src/ctr_exec_start.c) ---------------- */

struct bt_ctr_attach *ctr_attach_new_pending(struct bt_daemon *d, struct bt_ctr_attach **list,
                                             bool in, bool out, bool err,
                                             const struct bt_ctr_attach_ops *ops, void *arg)
{
    struct bt_ctr_attach *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->d = d;
    a->ops = ops;
    a->arg = arg;
    a->in = in;
    a->out = out;
    a->err = err;
    bt_buf_init(&a->pending_in, PENDING_IN_MAX);
    a->state = ATT_PENDING;
    a->next = *list;
    if (a->next)
        a->next->pprev = &a->next;
    *list = a;
    a->pprev = list;
    return a;
}

void ctr_attach_connect_list(struct bt_ctr_attach **list, const char *run_dir)
{
    while (*list)
        att_connect_dir(*list, run_dir);
}

void ctr_attach_end_list(struct bt_ctr_attach **list)
{
    /* An end callback may free the list's owner (an exec stream): end them
     * from a head of our own, which outlives it. */
    struct bt_ctr_attach *head = *list;

    *list = NULL;
    if (head)
        head->pprev = &head;
    while (head)
        att_end(head);
}
