/* Docker's JSON message stream (pull, push, load, import): one object per
 * line, ended by "\r\n", as the docker CLI renders progress bars from. */
#ifndef BERTH_API_PROGRESS_H
#define BERTH_API_PROGRESS_H

#include <stdint.h>

#include "api/api.h"

/* Human size as Docker prints it: 4 significant digits, decimal units
 * ("32.77kB", "3.001MB", "512B"). */
void api_human_size(double bytes, char *out, size_t size);
/* The bar: "[=====>      ]  32.77kB/3.001MB" (50 columns, as Docker's). */
void api_progress_bar(int64_t current, int64_t total, char *out, size_t size);

/* Write {"status":..,"progressDetail":{..},"progress":"..","id":..}.
 * detail: false = no progressDetail key (resets the CLI's layer table);
 * true with total <= 0 = an empty progressDetail {}. id may be NULL. */
int api_progress_write(struct api_req *rq, const char *status, const char *id, bool detail,
                       int64_t current, int64_t total);
/* {"errorDetail":{"message":m},"error":m} — an error once streaming began. */
int api_progress_error(struct api_req *rq, const char *msg);
/* A message of a stream that begins with its first message (pull, push). */
void api_progress_msg(struct api_req *rq, const char *status, const char *id, bool detail,
                      int64_t current, int64_t total);
/* End such a stream: an error before any message is an ordinary error
 * answer, after one an errorDetail line. Clears rq->ctx and rq->on_abort and
 * drops the reference the operation held on rq. */
void api_progress_finish(struct api_req *rq, const struct bt_err *err);
/* Any JSON object as one line of the stream (takes o). */
int api_stream_json_line(struct api_req *rq, cJSON *o);

#endif
