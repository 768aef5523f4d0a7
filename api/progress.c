#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/progress.h"

void api_human_size(double bytes, char *out, size_t size)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    size_t u = 0;

    while (bytes >= 1000.0 && u < sizeof(units) / sizeof(units[0]) - 1) {
        bytes /= 1000.0;
        u++;
    }
    snprintf(out, size, "%.4g%s", bytes, units[u]);
}

void api_progress_bar(int64_t current, int64_t total, char *out, size_t size)
{
    char cur[32], tot[32], bar[53];
    int width = 50, filled;

    api_human_size((double)current, cur, sizeof(cur));
    if (total <= 0) {
        snprintf(out, size, "%s", cur);
        return;
    }
    if (current > total)
        current = total;
    filled = (int)((double)width * (double)current / (double)total);
    bar[0] = '[';
    for (int i = 0; i < width; i++)
        bar[1 + i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    if (filled >= width)
        bar[width] = '>';
    bar[width + 1] = ']';
    bar[width + 2] = '\0';
    api_human_size((double)total, tot, sizeof(tot));
    snprintf(out, size, "%s %8s/%s", bar, cur, tot);
}

int api_stream_json_line(struct api_req *rq, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    size_t n;
    char *line;
    int r;

    cJSON_Delete(o);
    if (!s)
        return -1;
    n = strlen(s);
    line = realloc(s, n + 3);
    if (!line) {
        free(s);
        return -1;
    }
    memcpy(line + n, "\r\n", 3);
    r = api_stream_write(rq, line, n + 2);
    free(line);
    return r;
}

static void add_i64(cJSON *o, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    cJSON_AddRawToObject(o, key, buf);
}

int api_progress_write(struct api_req *rq, const char *status, const char *id, bool detail,
                       int64_t current, int64_t total)
{
    cJSON *o = cJSON_CreateObject(), *d;

    cJSON_AddStringToObject(o, "status", status);
    if (detail) {
        d = cJSON_AddObjectToObject(o, "progressDetail");
        if (total > 0) {
            char bar[128];
            add_i64(d, "current", current);
            add_i64(d, "total", total);
            api_progress_bar(current, total, bar, sizeof(bar));
            cJSON_AddStringToObject(o, "progress", bar);
        }
    }
    if (id)
        cJSON_AddStringToObject(o, "id", id);
    return api_stream_json_line(rq, o);
}

int api_progress_error(struct api_req *rq, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "errorDetail"), "message", msg);
    cJSON_AddStringToObject(o, "error", msg);
    return api_stream_json_line(rq, o);
}

void api_progress_msg(struct api_req *rq, const char *status, const char *id, bool detail,
                      int64_t current, int64_t total)
{
    if (!rq->streaming)
        api_stream_begin(rq, 200, "application/json");
    api_progress_write(rq, status, id, detail, current, total);
}

void api_progress_finish(struct api_req *rq, const struct bt_err *err)
{
    rq->ctx = NULL;
    rq->on_abort = NULL;
    if (api_req_alive(rq)) {
        if (err && !rq->streaming) {
            api_reply_err(rq, err);
        } else {
            if (!rq->streaming)
                api_stream_begin(rq, 200, "application/json");
            if (err)
                api_progress_error(rq, err->msg);
            api_stream_end(rq);
        }
    }
    api_req_unref(rq);
}
