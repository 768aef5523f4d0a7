#include <config.h>

#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "api/stream_file.h"
#include "berth/daemon.h"

#define CHUNK (256 * 1024)

struct file_stream {
    uv_fs_t req;
    struct api_req *rq;
    int fd;
    int64_t off;
    bool reading, waiting, aborted;
    char buf[CHUNK];
};

static void fs_read_next(struct file_stream *s);

static void fs_finish(struct file_stream *s)
{
    struct api_req *rq = s->rq;

    rq->ctx = NULL;
    rq->on_abort = NULL;
    rq->on_drain = NULL;
    close(s->fd);
    free(s);
    api_req_unref(rq);
}

/* While busy (a read in flight, or its result being sent) an abort only
 * marks the stream; the busy path then frees it. */
static void fs_on_read(uv_fs_t *req)
{
    struct file_stream *s = container_of(req, struct file_stream, req);
    ssize_t n = req->result;
    int r = 0;

    uv_fs_req_cleanup(req);
    if (!s->aborted) {
        if (n < 0)
            api_req_abort(s->rq); /* a read error: the client sees a cut stream */
        else if (n == 0)
            api_stream_end(s->rq);
        else
            r = api_stream_write(s->rq, s->buf, (size_t)n);
    }
    s->reading = false;
    if (s->aborted || n <= 0 || r < 0) {
        fs_finish(s);
        return;
    }
    s->off += n;
    if (r > 0) {
        s->waiting = true; /* on_drain resumes */
        return;
    }
    fs_read_next(s);
}

static void fs_read_next(struct file_stream *s)
{
    uv_buf_t b = uv_buf_init(s->buf, CHUNK);

    s->reading = true;
    if (uv_fs_read(s->rq->daemon->loop, &s->req, s->fd, &b, 1, s->off, fs_on_read) < 0) {
        s->rq->on_abort = NULL;
        api_req_abort(s->rq);
        s->reading = false;
        fs_finish(s);
    }
}

static void fs_on_drain(struct api_req *rq)
{
    struct file_stream *s = rq->ctx;

    if (s && s->waiting) {
        s->waiting = false;
        fs_read_next(s);
    }
}

static void fs_on_abort(struct api_req *rq)
{
    struct file_stream *s = rq->ctx;

    if (!s)
        return;
    if (s->reading) {
        s->aborted = true; /* the read in flight finishes the job */
        return;
    }
    fs_finish(s);
}

int api_stream_file(struct api_req *rq, int fd, const char *ctype)
{
    struct file_stream *s = calloc(1, sizeof(*s));

    if (!s) {
        close(fd);
        return -1;
    }
    s->rq = api_req_ref(rq);
    s->fd = fd;
    rq->ctx = s;
    rq->on_abort = fs_on_abort;
    rq->on_drain = fs_on_drain;
    if (api_stream_begin(rq, 200, ctype) < 0) {
        fs_finish(s);
        return -1;
    }
    fs_read_next(s);
    return 0;
}
