/* Blocking work on the libuv pool with a completion on the loop thread.
 * The job owns nothing but its arg; `done` runs on the loop even when the
 * work was cancelled at shutdown (then `work` did not run: `ran` is false). */
#ifndef BERTH_JOB_H
#define BERTH_JOB_H

#include <stdbool.h>
#include <uv.h>

typedef void (*bt_job_work_fn)(void *arg);
typedef void (*bt_job_done_fn)(void *arg, bool ran);

/* 0, or a negative libuv error (then nothing runs and arg is the caller's). */
int bt_job_queue(uv_loop_t *loop, bt_job_work_fn work, bt_job_done_fn done, void *arg);

#endif
