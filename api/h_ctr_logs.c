/* GET /containers/{id}/logs: the json-file log as one chunked stream. The
 * files are read on the pool, a piece at a time, each piece written before
 * the next is read, so a slow client costs one piece of memory and no more.
 * With follow=1 the reader polls the live file, keeps its place across a
 * rotation and ends once the container has stopped and the rest is sent
 * (the monitor has closed the log before the daemon learns of the exit). */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/handlers.h"
#include "berth/container.h"
#include "berth/ctr_logs.h"
#include "berth/daemon.h"
#include "berth/job.h"
#include "berth/timeparse.h"

#define PIECE (64 * 1024)     /* output read per pool job */
#define POLL_MS 50            /* follow: how often the live file is looked at */

struct logs_stream {
    struct api_req *rq;
    uv_loop_t *loop;
    struct bt_logs_reader *reader;
    struct bt_buf out;
    struct bt_ctr_waiter *waiter;
    uv_timer_t timer;
    bool timer_init;
    bool follow;
    bool stopped;     /* the container is not running: what is there is all */
    bool job_running;
    bool job_final;   /* the running job started after the stop */
    bool blocked;     /* waiting for on_drain */
    bool gone;        /* ended or the client left; freed once no job runs */
    enum bt_logs_step last;
};

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void stream_free(struct logs_stream *s)
{
    bt_ctr_wait_cancel(s->waiter);
    s->waiter = NULL;
    bt_logs_reader_free(s->reader);
    bt_buf_done(&s->out);
    if (s->timer_init) {
        s->timer.data = s;
        uv_close((uv_handle_t *)&s->timer, timer_closed);
    } else {
        free(s);
    }
}

/* Let go of the request; the rest goes when no job holds it. */
static void stream_release(struct logs_stream *s, bool end)
{
    struct api_req *rq = s->rq;

    if (s->gone)
        return;
    s->gone = true;
    if (end)
        api_stream_end(rq);
    rq->ctx = NULL;
    rq->on_abort = NULL;
    rq->on_drain = NULL;
    if (s->timer_init)
        uv_timer_stop(&s->timer);
    bt_ctr_wait_cancel(s->waiter);
    s->waiter = NULL;
    api_req_unref(rq);
    if (!s->job_running)
        stream_free(s);
}

static void step_work(void *arg)
{
    struct logs_stream *s = arg;

    s->last = bt_logs_reader_step(s->reader, &s->out, PIECE);
}

static void step_done(void *arg, bool ran);

static void queue_step(struct logs_stream *s)
{
    if (s->gone || s->job_running || s->blocked)
        return;
    s->job_running = true;
    s->job_final = s->stopped;
    if (bt_job_queue(s->loop, step_work, step_done, s) < 0) {
        s->job_running = false;
        stream_release(s, true);
    }
}

static void on_timer(uv_timer_t *t)
{
    queue_step(t->data);
}

static void step_done(void *arg, bool ran)
{
    struct logs_stream *s = arg;
    int w = 0;

    s->job_running = false;
    if (s->gone) {
        stream_free(s);
        return;
    }
    if (!ran) {
        stream_release(s, true);
        return;
    }
    if (s->out.len > 0) {
        w = api_stream_write(s->rq, s->out.p, s->out.len);
        bt_buf_reset(&s->out);
        if (w < 0) {
            stream_release(s, false);
            return;
        }
    }
    if (s->last == BT_LOGS_PAST_UNTIL ||
        (s->last == BT_LOGS_AT_END && (!s->follow || s->job_final))) {
        stream_release(s, true);
        return;
    }
    if (w == 1) {
        s->blocked = true; /* on_drain goes on */
        return;
    }
    if (s->last == BT_LOGS_MORE || s->stopped)
        queue_step(s);
    else
        uv_timer_start(&s->timer, on_timer, POLL_MS, 0);
}

static void on_drain(struct api_req *rq)
{
    struct logs_stream *s = rq->ctx;

    s->blocked = false;
    queue_step(s);
}

static void on_abort(struct api_req *rq)
{
    stream_release(rq->ctx, false);
}

static void on_stopped(void *arg, int exit_code, const struct bt_err *err)
{
    struct logs_stream *s = arg;

    (void)exit_code;
    (void)err; /* daemon shutdown: end the same way */
    s->waiter = NULL;
    s->stopped = true;
    if (s->gone || !s->rq)
        return; /* gone, or still in the handler, which queues the first step */
    if (s->timer_init)
        uv_timer_stop(&s->timer);
    queue_step(s);
}

static int parse_opts(struct api_req *rq, struct bt_logs_opts *o, struct bt_err **err)
{
    const char *tail = api_req_query(rq, "tail");
    const char *since = api_req_query(rq, "since");
    const char *until = api_req_query(rq, "until");
    int64_t now = bt_now_nano();

    *o = (struct bt_logs_opts){.tail = -1};
    o->out = api_req_query_bool(rq, "stdout", false);
    o->err = api_req_query_bool(rq, "stderr", false);
    if (!o->out && !o->err)
        return bt_err_set(err, BT_EINVAL, 0, "Bad parameters: you must choose at least one stream");
    o->timestamps = api_req_query_bool(rq, "timestamps", false);
    o->details = api_req_query_bool(rq, "details", false);
    if (tail && *tail && strcmp(tail, "all") != 0) {
        char *end;
        long n = strtol(tail, &end, 10);
        if (*end == '\0' && n >= 0)
            o->tail = n; /* dockerd reads anything else as "all" */
    }
    if (since && *since && bt_time_parse(since, now, &o->since) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for \"since\": %s", since);
    if (until && *until && bt_time_parse(until, now, &o->until) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for \"until\": %s", until);
    return 0;
}

int h_ctr_logs(struct api_req *rq, struct bt_err **err)
{
    struct bt_logs_opts o;
    struct logs_stream *s;
    struct bt_ctr *c;
    const cJSON *lc, *type;

    if (bt_ctr_lookup(rq->daemon, api_req_param(rq, "id"), &c, err) < 0 ||
        parse_opts(rq, &o, err) < 0)
        return -1;
    lc = cJSON_GetObjectItemCaseSensitive(c->host_config, "LogConfig");
    type = cJSON_GetObjectItemCaseSensitive(lc, "Type");
    if (cJSON_IsString(type) && *type->valuestring && strcmp(type->valuestring, "json-file") != 0)
        return bt_err_set(err, BT_ENOTIMPL, 0,
                          "configured logging driver does not support reading");
    o.tty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->config, "Tty"));

    if (!(s = calloc(1, sizeof(*s))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    s->loop = rq->daemon->loop;
    bt_buf_init(&s->out, 0);
    if (bt_logs_reader_new(c->log_path, &o, &s->reader) < 0) {
        free(s);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    s->follow = api_req_query_bool(rq, "follow", false);
    s->stopped = true;
    if (s->follow) {
        uv_timer_init(s->loop, &s->timer);
        s->timer.data = s;
        s->timer_init = true;
        s->stopped = false;
        /* Runs at once (stopped = true) for a container that is not running. */
        if (bt_ctr_wait(rq->daemon, c, BT_CTR_WAIT_NOT_RUNNING, on_stopped, s, &s->waiter) < 0)
            s->stopped = true;
    }
    s->rq = api_req_ref(rq);
    rq->ctx = s;
    rq->on_abort = on_abort;
    rq->on_drain = on_drain;
    api_stream_begin(rq, 200,
                     o.tty || rq->version < 142 ? "application/vnd.docker.raw-stream"
                                                : "application/vnd.docker.multiplexed-stream");
    queue_step(s);
    return 0;
}
