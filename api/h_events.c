/* GET /events: replay from the bus's ring (since/until), then live, as one
 * chunked stream of JSON lines. A reader that falls too far behind is
 * disconnected with a log line; it is never skipped silently. */
#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/handlers.h"
#include "api/json.h"
#include "berth/daemon.h"
#include "berth/events.h"
#include "berth/filters.h"
#include "berth/log.h"
#include "berth/timeparse.h"

struct events_stream {
    struct api_req *rq;
    struct bt_events_sub *sub;
    int64_t until_nano; /* -1: no end */
    uv_timer_t until_timer;
    bool timer_active;
    bool blocked; /* waiting for on_drain */
};

static void stream_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Release the subscription and the request; the struct goes with the timer. */
static void stream_free(struct events_stream *s)
{
    struct api_req *rq = s->rq;

    if (s->sub)
        bt_events_unsubscribe(s->sub);
    s->sub = NULL;
    rq->ctx = NULL;
    rq->on_abort = NULL;
    rq->on_drain = NULL;
    if (s->timer_active) {
        s->until_timer.data = s;
        uv_close((uv_handle_t *)&s->until_timer, stream_timer_closed);
    } else {
        free(s);
    }
    api_req_unref(rq);
}

static void stream_end(struct events_stream *s)
{
    api_stream_end(s->rq);
    stream_free(s);
}

/* Write queued events until the backlog is full or the queue empty. */
static void stream_pump(struct events_stream *s)
{
    struct bt_event *e;

    while (!s->blocked && (e = bt_events_sub_next(s->sub))) {
        cJSON *j;
        char *txt;
        int r;

        if (s->until_nano >= 0 && e->time_nano > s->until_nano) {
            bt_event_unref(e);
            stream_end(s);
            return;
        }
        j = api_json_event(e);
        bt_event_unref(e);
        txt = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        if (!txt) {
            api_req_abort(s->rq);
            return;
        }
        size_t n = strlen(txt);
        char *line = realloc(txt, n + 2);
        if (!line) {
            free(txt);
            api_req_abort(s->rq);
            return;
        }
        line[n] = '\n';
        r = api_stream_write(s->rq, line, n + 1);
        free(line);
        if (r < 0)
            return; /* the connection is gone: on_abort cleans up */
        if (r > 0)
            s->blocked = true;
    }
}

static void stream_on_event(struct bt_events_sub *sub, void *userdata)
{
    stream_pump(userdata);
}

static void stream_on_overflow(struct bt_events_sub *sub, void *userdata)
{
    struct events_stream *s = userdata;

    BT_LOG(WARN, "events", "subscriber fell behind, disconnecting", "req=%" PRIu64 " queued=%zu",
           s->rq->id, bt_events_sub_pending(sub));
    api_req_abort(s->rq);
}

static void stream_on_drain(struct api_req *rq)
{
    struct events_stream *s = rq->ctx;
    s->blocked = false;
    stream_pump(s);
}

static void stream_on_abort(struct api_req *rq)
{
    stream_free(rq->ctx);
}

static void stream_on_until(uv_timer_t *t)
{
    struct events_stream *s = container_of(t, struct events_stream, until_timer);
    struct api_req *rq = api_req_ref(s->rq);

    stream_pump(s);
    if (rq->ctx == s) /* still streaming: nothing more can come before until */
        stream_end(s);
    api_req_unref(rq);
}

static const char *const event_filter_keys[] = {
    "container", "daemon", "event", "image", "label", "network", "plugin", "scope",
    "type",      "volume", "node",  "service", "secret", "config", NULL,
};

static int parse_time_param(struct api_req *rq, const char *key, int64_t now, int64_t *ret,
                            struct bt_err **err)
{
    const char *v = api_req_query(rq, key);

    *ret = -1;
    if (!v || !*v)
        return 0;
    if (bt_time_parse(v, now, ret) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for %s: %s", key, v);
    return 0;
}

int h_events(struct api_req *rq, struct bt_err **err)
{
    _cleanup_filters_ struct bt_filters *f = NULL;
    struct events_stream *s;
    int64_t now = bt_now_nano(), since, until;

    if (parse_time_param(rq, "since", now, &since, err) < 0 ||
        parse_time_param(rq, "until", now, &until, err) < 0)
        return -1;
    if (until >= 0 && since > until)
        return bt_err_set(err, BT_EINVAL, 0, "`since` time cannot be after `until` time");
    if (api_filters_parse(api_req_query(rq, "filters"), &f, err) < 0 ||
        bt_filters_validate(f, event_filter_keys, err) < 0)
        return -1;

    s = calloc(1, sizeof(*s));
    if (!s)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "events");
    s->rq = api_req_ref(rq);
    s->until_nano = until;
    /* `until` alone replays the whole ring up to it, as dockerd does. */
    s->sub = bt_events_subscribe(rq->daemon->events, f, since >= 0 ? since : (until >= 0 ? 0 : -1),
                                 BT_EVENTS_QUEUE_DEFAULT, stream_on_event, stream_on_overflow, s);
    if (!s->sub) {
        api_req_unref(rq);
        free(s);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "events subscribe");
    }
    rq->ctx = s;
    rq->on_abort = stream_on_abort;
    rq->on_drain = stream_on_drain;
    if (api_stream_begin(rq, 200, "application/json") < 0) {
        stream_free(s);
        return 0;
    }
    if (until >= 0) {
        uv_timer_init(rq->daemon->loop, &s->until_timer);
        s->timer_active = true;
        uv_timer_start(&s->until_timer, stream_on_until,
                       until > now ? (uint64_t)((until - now) / 1000000) + 1 : 0, 0);
    }
    stream_pump(s);
    return 0;
}
