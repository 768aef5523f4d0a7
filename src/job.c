#include <config.h>

#include <stdlib.h>

#include "berth/job.h"
#include "berth/macro.h"

struct job {
    uv_work_t w;
    bt_job_work_fn work;
    bt_job_done_fn done;
    void *arg;
};

static void job_work(uv_work_t *w)
{
    struct job *j = container_of(w, struct job, w);
    j->work(j->arg);
}

static void job_after(uv_work_t *w, int status)
{
    struct job *j = container_of(w, struct job, w);
    if (j->done)
        j->done(j->arg, status == 0);
    free(j);
}

int bt_job_queue(uv_loop_t *loop, bt_job_work_fn work, bt_job_done_fn done, void *arg)
{
    struct job *j = malloc(sizeof(*j));
    int r;

    if (!j)
        return UV_ENOMEM;
    j->work = work;
    j->done = done;
    j->arg = arg;
    r = uv_queue_work(loop, &j->w, job_work, job_after);
    if (r < 0)
        free(j);
    return r;
}
