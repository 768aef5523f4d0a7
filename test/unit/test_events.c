#include <config.h>

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/json.h"
#include "berth/events.h"
#include "berth/filters.h"
#include "berth/kv.h"

#define CTR "2752ea5db34c1dc718967086526c49d5f55793678e2002db3f7a3e45a4a97b2a"
#define CTR2 "9b24028d16bc9753f4f837746c63dc2ce2c973d135293681b7db6e8e5dadb80a"
#define NET "a08a0fcbdeafd3c1b3a4b495b9a9c9d96850f08946b52bc0622347d3b6e73b78"
#define IMG "sha256:b29814cf5792e684cd75d6a7fce7a67a11887e312f87ca2ac2496d81f365ff72"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static struct bt_filters *parse_ok(const char *json)
{
    struct bt_filters *f = NULL;
    struct bt_err *err = NULL;

    if (api_filters_parse(json, &f, &err) < 0)
        fail_msg("parse %s: %s", json, err->msg);
    return f;
}

/* ---- a subscriber that records what the bus does to it --------------------- */

struct probe {
    struct bt_events *bus;
    struct bt_events_sub *self;
    int notified, overflowed;
    bool unsub_self_on_notify, unsub_self_on_overflow;
    struct bt_events_sub **victim;      /* unsubscribed (and cleared) on the next notify */
    const char *publish_on_notify;      /* published (once) from the next notify */
    struct probe *child; /* subscribed (once, since child_since) from the next notify */
    int64_t child_since;
};

static void probe_on_overflow(struct bt_events_sub *sub, void *userdata);

static void probe_on_notify(struct bt_events_sub *sub, void *userdata)
{
    struct probe *p = userdata;
    const char *action = p->publish_on_notify;

    assert_ptr_equal(sub, p->self);
    p->notified++;
    if (p->victim) {
        bt_events_unsubscribe(*p->victim);
        *p->victim = NULL;
        p->victim = NULL;
    }
    if (action) {
        p->publish_on_notify = NULL;
        assert_int_equal(bt_events_publish(p->bus, "container", action, CTR, NULL, 0), 0);
    }
    if (p->child) {
        struct probe *child = p->child;

        p->child = NULL;
        child->bus = p->bus;
        child->self = bt_events_subscribe(p->bus, NULL, p->child_since, 0, probe_on_notify,
                                          probe_on_overflow, child);
        assert_non_null(child->self);
    }
    if (p->unsub_self_on_notify) {
        bt_events_unsubscribe(sub);
        p->self = NULL;
    }
}

static void probe_on_overflow(struct bt_events_sub *sub, void *userdata)
{
    struct probe *p = userdata;

    assert_ptr_equal(sub, p->self);
    p->overflowed++;
    if (p->unsub_self_on_overflow) {
        bt_events_unsubscribe(sub);
        p->self = NULL;
    }
}

static struct bt_events_sub *sub_new(struct bt_events *bus, struct probe *p,
                                     const struct bt_filters *f, int64_t since, size_t queue_max)
{
    p->bus = bus;
    p->self = bt_events_subscribe(bus, f, since, queue_max, probe_on_notify, probe_on_overflow, p);
    assert_non_null(p->self);
    return p->self;
}

static void pub(struct bt_events *bus, const char *type, const char *action)
{
    assert_int_equal(bt_events_publish(bus, type, action, CTR, NULL, 0), 0);
}

/* Pop the next event, check its action, return its time. */
static int64_t expect_next(struct bt_events_sub *sub, const char *action)
{
    struct bt_event *e = bt_events_sub_next(sub);
    int64_t t;

    if (!e)
        fail_msg("queue empty, want %s", action);
    assert_string_equal(e->action, action);
    t = e->time_nano;
    bt_event_unref(e);
    return t;
}

/* ---- publish, queue, time -------------------------------------------------- */

static void test_publish_copies_and_queues(void **state)
{
    struct bt_events *bus = bt_events_new(8);
    struct probe p = {0};
    char key[] = "name", value[] = "web";
    struct bt_kv attrs[] = {{key, value}, {(char *)"image", (char *)"busybox"}};
    struct bt_event *e;

    (void)state;
    sub_new(bus, &p, NULL, -1, 8);
    assert_int_equal(bt_events_subscribers(bus), 1);
    assert_int_equal(bt_events_publish(bus, "container", "start", CTR, attrs, 2), 0);
    memcpy(value, "xyz", 4); /* the bus copied the attributes */
    assert_int_equal(p.notified, 1);
    assert_int_equal(bt_events_sub_pending(p.self), 1);
    e = bt_events_sub_next(p.self);
    assert_non_null(e);
    assert_string_equal(e->type, "container");
    assert_string_equal(e->action, "start");
    assert_string_equal(e->actor_id, CTR);
    assert_string_equal(e->scope, "local");
    assert_int_equal(e->n_attrs, 2);
    assert_string_equal(bt_kv_get(e->attrs, e->n_attrs, "name"), "web");
    assert_string_equal(bt_kv_get(e->attrs, e->n_attrs, "image"), "busybox");
    assert_true(e->time_nano > INT64_C(1600000000) * 1000000000);
    bt_event_unref(e);
    assert_null(bt_events_sub_next(p.self));
    assert_int_equal(bt_events_sub_pending(p.self), 0);
    bt_events_unsubscribe(p.self);
    assert_int_equal(bt_events_subscribers(bus), 0);
    bt_events_unsubscribe(NULL);
    bt_events_free(bus);
}

static void test_time_strictly_increases(void **state)
{
    struct bt_events *bus = bt_events_new(2000);
    struct probe p = {0};
    int64_t last = 0;

    (void)state;
    sub_new(bus, &p, NULL, -1, 2000);
    for (int i = 0; i < 2000; i++)
        pub(bus, "container", "top");
    for (int i = 0; i < 2000; i++) {
        int64_t t = expect_next(p.self, "top");

        if (t <= last)
            fail_msg("event %d: time %" PRId64 " after %" PRId64, i, t, last);
        last = t;
    }
    bt_events_free(bus);
}

static int64_t fake_now;

static int64_t fake_clock(void)
{
    return fake_now;
}

static void test_time_bumped_when_clock_stalls(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct probe p = {0}, since = {0}, after = {0};

    (void)state;
    bt_events_set_clock(bus, fake_clock);
    sub_new(bus, &p, NULL, -1, 16);
    fake_now = 1000;
    pub(bus, "container", "t1");
    pub(bus, "container", "t2");
    pub(bus, "container", "t3");
    fake_now = 5; /* the wall clock stepped back */
    pub(bus, "container", "t4");
    fake_now = 2000;
    pub(bus, "container", "t5");
    assert_int_equal(expect_next(p.self, "t1"), 1000);
    assert_int_equal(expect_next(p.self, "t2"), 1001);
    assert_int_equal(expect_next(p.self, "t3"), 1002);
    assert_int_equal(expect_next(p.self, "t4"), 1003);
    assert_int_equal(expect_next(p.self, "t5"), 2000);
    sub_new(bus, &since, NULL, 1001, 16);
    sub_new(bus, &after, NULL, 1004, 16);
    assert_int_equal(bt_events_sub_pending(since.self), 4);
    expect_next(since.self, "t2");
    assert_int_equal(bt_events_sub_pending(after.self), 1);
    expect_next(after.self, "t5");
    bt_events_set_clock(bus, NULL);
    pub(bus, "container", "t6");
    assert_true(expect_next(p.self, "t6") > INT64_C(1600000000) * 1000000000);
    bt_events_free(bus);
}

/* ---- ring and replay ------------------------------------------------------- */

static void test_ring_drops_oldest(void **state)
{
    struct bt_events *bus = bt_events_new(3);
    struct probe live = {0}, late = {0};
    struct bt_event *e;
    static const char *const names[] = {"e1", "e2", "e3", "e4", "e5"};

    (void)state;
    sub_new(bus, &live, NULL, -1, 10);
    for (size_t i = 0; i < N_ELEMS(names); i++)
        pub(bus, "container", names[i]);
    sub_new(bus, &late, NULL, 0, 10);
    assert_int_equal(bt_events_sub_pending(late.self), 3);
    expect_next(late.self, "e3");
    expect_next(late.self, "e4");
    expect_next(late.self, "e5");
    assert_int_equal(late.notified, 0); /* a replay does not notify */

    /* e1 left the ring but the live queue still holds it: refcounted. */
    e = bt_events_sub_next(live.self);
    assert_string_equal(e->action, "e1");
    assert_int_equal(e->refs, 1);
    bt_event_unref(e);
    for (int i = 0; i < 3; i++)
        bt_event_unref(bt_events_sub_next(live.self));
    e = bt_events_sub_next(live.self);
    assert_string_equal(e->action, "e5");
    assert_int_equal(e->refs, 2); /* the ring's and ours */
    bt_event_unref(e);
    bt_events_free(bus);
}

static void test_default_sizes(void **state)
{
    struct bt_events *bus = bt_events_new(0);
    struct probe p = {0};

    (void)state;
    for (int i = 0; i < BT_EVENTS_RING_DEFAULT + 10; i++)
        pub(bus, "container", "top");
    sub_new(bus, &p, NULL, 0, 0);
    assert_int_equal(bt_events_sub_pending(p.self), BT_EVENTS_RING_DEFAULT);
    bt_events_free(bus);
}

static void test_since_replays_exactly(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct probe all = {0}, from_b = {0}, after_b = {0}, after_c = {0}, none = {0};
    int64_t ta, tb, tc;

    (void)state;
    pub(bus, "container", "a");
    pub(bus, "container", "b");
    pub(bus, "container", "c");
    sub_new(bus, &all, NULL, 0, 16);
    ta = expect_next(all.self, "a");
    tb = expect_next(all.self, "b");
    tc = expect_next(all.self, "c");
    assert_true(ta < tb && tb < tc);

    sub_new(bus, &from_b, NULL, tb, 16);
    sub_new(bus, &after_b, NULL, tb + 1, 16);
    sub_new(bus, &after_c, NULL, tc + 1, 16);
    sub_new(bus, &none, NULL, -1, 16);
    assert_int_equal(bt_events_sub_pending(from_b.self), 2);
    assert_int_equal(bt_events_sub_pending(after_b.self), 1);
    assert_int_equal(bt_events_sub_pending(after_c.self), 0);
    assert_int_equal(bt_events_sub_pending(none.self), 0);

    /* Live events follow the replay, in order. */
    pub(bus, "container", "d");
    expect_next(from_b.self, "b");
    expect_next(from_b.self, "c");
    expect_next(from_b.self, "d");
    expect_next(after_b.self, "c");
    expect_next(after_b.self, "d");
    expect_next(after_c.self, "d");
    expect_next(none.self, "d");
    assert_null(bt_events_sub_next(from_b.self));
    bt_events_free(bus);
}

static void test_replay_filtered_and_filter_copied(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct bt_filters *f = parse_ok("{\"type\":[\"image\"]}");
    struct probe p = {0};

    (void)state;
    pub(bus, "container", "create");
    pub(bus, "image", "pull");
    pub(bus, "container", "start");
    sub_new(bus, &p, f, 0, 16);
    bt_filters_free(f); /* the subscriber keeps its own copy */
    pub(bus, "container", "die");
    pub(bus, "image", "tag");
    assert_int_equal(p.notified, 1);
    expect_next(p.self, "pull");
    expect_next(p.self, "tag");
    assert_null(bt_events_sub_next(p.self));
    bt_events_free(bus);
}

static void test_replay_larger_than_queue(void **state)
{
    struct bt_events *bus = bt_events_new(8);
    struct probe p = {0};

    (void)state;
    for (int i = 0; i < 5; i++)
        pub(bus, "container", "top");
    sub_new(bus, &p, NULL, 0, 2);
    assert_int_equal(bt_events_sub_pending(p.self), 5); /* the replay is never cut */
    pub(bus, "container", "die");                       /* but the queue is full now */
    assert_int_equal(p.overflowed, 1);
    assert_int_equal(p.notified, 0);
    assert_int_equal(bt_events_sub_pending(p.self), 5);
    bt_events_free(bus);
}

/* ---- overflow -------------------------------------------------------------- */

static void test_overflow_exactly_when_full(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct probe p = {0};

    (void)state;
    sub_new(bus, &p, NULL, -1, 2);
    pub(bus, "container", "x1");
    pub(bus, "container", "x2");
    assert_int_equal(p.notified, 2);
    assert_int_equal(p.overflowed, 0);
    pub(bus, "container", "x3");
    assert_int_equal(p.notified, 2);
    assert_int_equal(p.overflowed, 1);
    assert_int_equal(bt_events_sub_pending(p.self), 2);
    pub(bus, "container", "x4"); /* told once */
    assert_int_equal(p.overflowed, 1);
    /* Draining does not resume delivery: that would hide the gap. */
    expect_next(p.self, "x1");
    expect_next(p.self, "x2");
    pub(bus, "container", "x5");
    assert_int_equal(bt_events_sub_pending(p.self), 0);
    assert_int_equal(p.notified, 2);
    bt_events_free(bus);
}

static void test_overflow_filtered_events_do_not_count(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct bt_filters *f = parse_ok("{\"event\":[\"die\"]}");
    struct probe p = {0};

    (void)state;
    sub_new(bus, &p, f, -1, 1);
    pub(bus, "container", "start");
    pub(bus, "container", "die");
    pub(bus, "container", "stop");
    assert_int_equal(p.notified, 1);
    assert_int_equal(p.overflowed, 0);
    pub(bus, "container", "die");
    assert_int_equal(p.overflowed, 1);
    bt_filters_free(f);
    bt_events_free(bus);
}

static void test_unsubscribe_inside_overflow(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct probe slow = {.unsub_self_on_overflow = true}, other = {0};

    (void)state;
    sub_new(bus, &slow, NULL, -1, 1);
    sub_new(bus, &other, NULL, -1, 16);
    pub(bus, "container", "y1");
    pub(bus, "container", "y2"); /* slow overflows and leaves */
    assert_int_equal(slow.overflowed, 1);
    assert_null(slow.self);
    assert_int_equal(bt_events_subscribers(bus), 1);
    assert_int_equal(other.notified, 2); /* the walk went on past it */
    pub(bus, "container", "y3");
    assert_int_equal(other.notified, 3);
    assert_int_equal(slow.notified, 1);
    expect_next(other.self, "y1");
    expect_next(other.self, "y2");
    expect_next(other.self, "y3");
    bt_events_free(bus);
}

/* ---- callbacks changing the subscriber list --------------------------------- */

static void test_unsubscribe_other_during_publish(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct probe a = {0}, b = {0}, c = {0};
    struct bt_events_sub *b_sub;

    (void)state;
    sub_new(bus, &a, NULL, -1, 16);
    b_sub = sub_new(bus, &b, NULL, -1, 16);
    sub_new(bus, &c, NULL, -1, 16);
    pub(bus, "container", "z0");
    b.self = NULL; /* b's handle now lives in b_sub, which a will clear */
    a.victim = &b_sub;
    pub(bus, "container", "z1"); /* a drops b before b's turn */
    assert_null(b_sub);
    assert_int_equal(a.notified, 2);
    assert_int_equal(b.notified, 1);
    assert_int_equal(c.notified, 2);
    assert_int_equal(bt_events_subscribers(bus), 2);
    pub(bus, "container", "z2");
    assert_int_equal(b.notified, 1);
    assert_int_equal(c.notified, 3);
    bt_events_free(bus);
}

static void test_unsubscribe_earlier_and_self_during_publish(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct probe a = {0}, b = {0}, c = {.unsub_self_on_notify = true};
    struct bt_events_sub *a_sub;

    (void)state;
    a_sub = sub_new(bus, &a, NULL, -1, 16);
    sub_new(bus, &b, NULL, -1, 16);
    sub_new(bus, &c, NULL, -1, 16);
    b.victim = &a_sub; /* a was already served for this event */
    pub(bus, "container", "w1");
    assert_int_equal(a.notified, 1);
    assert_int_equal(b.notified, 1);
    assert_int_equal(c.notified, 1);
    assert_null(a_sub);
    assert_null(c.self);
    assert_int_equal(bt_events_subscribers(bus), 1);
    pub(bus, "container", "w2");
    assert_int_equal(a.notified, 1);
    assert_int_equal(b.notified, 2);
    assert_int_equal(c.notified, 1);
    bt_events_free(bus);
}

static void test_subscribe_inside_callback(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct probe live = {0}, replayed = {0};
    struct probe a = {.child = &live, .child_since = -1};
    struct probe b = {.child = &replayed, .child_since = 0};

    (void)state;
    sub_new(bus, &a, NULL, -1, 16);
    sub_new(bus, &b, NULL, -1, 16);
    pub(bus, "container", "v1");
    assert_int_equal(bt_events_subscribers(bus), 4);
    assert_int_equal(live.notified, 0);
    assert_int_equal(replayed.notified, 0);
    assert_int_equal(bt_events_sub_pending(live.self), 0);     /* published before it came */
    assert_int_equal(bt_events_sub_pending(replayed.self), 1); /* replayed, not delivered too */
    pub(bus, "container", "v2");
    assert_int_equal(live.notified, 1);
    expect_next(live.self, "v2");
    expect_next(replayed.self, "v1");
    expect_next(replayed.self, "v2");
    assert_null(bt_events_sub_next(replayed.self));
    bt_events_free(bus);
}

static void test_publish_inside_callback_keeps_order(void **state)
{
    struct bt_events *bus = bt_events_new(16);
    struct probe a = {.publish_on_notify = "nested"}, b = {0};
    int64_t t1, t2;

    (void)state;
    sub_new(bus, &a, NULL, -1, 16);
    sub_new(bus, &b, NULL, -1, 16);
    pub(bus, "container", "first");
    assert_int_equal(a.notified, 2);
    assert_int_equal(b.notified, 2);
    t1 = expect_next(b.self, "first");
    t2 = expect_next(b.self, "nested");
    assert_true(t1 < t2);
    expect_next(a.self, "first");
    expect_next(a.self, "nested");
    bt_events_free(bus);
}

static void test_free_with_subscribers(void **state)
{
    struct bt_events *bus = bt_events_new(2);
    struct probe a = {0}, b = {0};
    struct bt_filters *f = parse_ok("{\"type\":[\"container\"]}");

    (void)state;
    sub_new(bus, &a, f, -1, 4);
    sub_new(bus, &b, NULL, -1, 4);
    for (int i = 0; i < 6; i++)
        pub(bus, "container", "top");
    bt_filters_free(f);
    bt_events_free(bus); /* leaks show under ASan */
    bt_events_free(NULL);
    assert_int_equal(a.overflowed, 1);
}

/* ---- bt_event_matches ------------------------------------------------------ */

#define KV(k, v)                                                                                   \
    {                                                                                              \
        (char *)(k), (char *)(v)                                                                   \
    }

static struct bt_kv a_die[] = {KV("name", "web"), KV("image", "busybox"), KV("exitCode", "0"),
                               KV("com.example.team", "infra")};
static struct bt_kv a_exec[] = {KV("image", "docker.io/library/busybox:latest"), KV("name", "web"),
                                KV("execID", "e1")};
static struct bt_kv a_health[] = {KV("image", "busybox:1.36"), KV("name", "web")};
static struct bt_kv a_pull[] = {KV("name", "alpine")};
static struct bt_kv a_tag[] = {KV("name", "busybox:latest"), KV("com.example.team", "infra")};
static struct bt_kv a_net[] = {KV("container", CTR), KV("name", "bridge"), KV("type", "bridge")};
static struct bt_kv a_vol[] = {KV("container", CTR), KV("destination", "/data"),
                               KV("driver", "local")};
static struct bt_kv a_daemon[] = {KV("name", "host1")};
static struct bt_kv a_app[] = {KV("image", "quay.io/org/app:v1"), KV("name", "webapp")};

#define EV(t_, a_, id_, kv_)                                                                       \
    {                                                                                              \
        .refs = 1, .type = (char *)(t_), .action = (char *)(a_), .actor_id = (char *)(id_),        \
        .attrs = (kv_), .n_attrs = N_ELEMS(kv_), .scope = (char *)"local",                         \
        .time_nano = INT64_C(1795342907123456789)                                                  \
    }

/* The events every row of the table is tried against, in this order. */
static const struct bt_event table_events[] = {
    EV("container", "die", CTR, a_die),
    EV("container", "exec_start: sh -c x", CTR, a_exec),
    EV("container", "health_status: healthy", CTR, a_health),
    EV("image", "pull", "alpine:3.18", a_pull),
    EV("image", "tag", IMG, a_tag),
    EV("network", "connect", NET, a_net),
    EV("volume", "mount", "data", a_vol),
    EV("daemon", "reload", "ABCD:EFGH", a_daemon),
    EV("container", "start", CTR2, a_app),
};

struct match_case {
    const char *filter; /* JSON */
    const char *want;   /* '1' where table_events[i] matches */
};

static const struct match_case match_cases[] = {
    {"{}", "111111111"},
    {"{\"type\":[\"container\"]}", "111000001"},
    {"{\"type\":{\"image\":true,\"network\":true}}", "000111000"},
    {"{\"type\":[\"plugin\"]}", "000000000"},
    /* event: exact, or the part before ": " */
    {"{\"event\":[\"die\"]}", "100000000"},
    {"{\"event\":[\"exec_start\"]}", "010000000"},
    {"{\"event\":[\"exec_start: sh -c x\"]}", "010000000"},
    {"{\"event\":[\"exec_start: sh\"]}", "000000000"},
    {"{\"event\":[\"exec\"]}", "000000000"},
    {"{\"event\":[\"health_status\"]}", "001000000"},
    {"{\"event\":[\"start\"]}", "000000001"},
    {"{\"event\":[\"die\",\"start\"]}", "100000001"},
    {"{\"event\":[]}", "111111111"},
    /* container, network, volume, daemon: actor ID or name, by prefix as moby */
    {"{\"container\":[\"web\"]}", "111000001"},
    {"{\"container\":[\"webapp\"]}", "000000001"},
    {"{\"container\":[\"" CTR "\"]}", "111000000"},
    {"{\"container\":[\"2752ea5d\"]}", "111000000"},
    {"{\"container\":[\"eb\"]}", "000000000"},
    {"{\"container\":[\"web\",\"" CTR2 "\"]}", "111000001"},
    {"{\"network\":[\"bridge\"]}", "000001000"},
    {"{\"network\":[\"a08a0f\"]}", "000001000"},
    {"{\"volume\":[\"data\"]}", "000000100"},
    {"{\"daemon\":[\"host1\"]}", "000000010"},
    {"{\"daemon\":[\"ABCD\"]}", "000000010"},
    /* image: container "image" attribute, image actor ID and "name" */
    {"{\"image\":[\"busybox\"]}", "111010000"},
    {"{\"image\":[\"busybox:latest\"]}", "010010000"},
    {"{\"image\":[\"docker.io/library/busybox:latest\"]}", "010010000"},
    {"{\"image\":[\"docker.io/library/busybox\"]}", "100000000"},
    {"{\"image\":[\"busybox:1.36\"]}", "001000000"},
    {"{\"image\":[\"alpine\"]}", "000100000"},
    {"{\"image\":[\"alpine:3.18\"]}", "000100000"},
    {"{\"image\":[\"alpine:latest\"]}", "000000000"},
    {"{\"image\":[\"" IMG "\"]}", "000010000"},
    {"{\"image\":[\"quay.io/org/app\"]}", "000000001"},
    {"{\"image\":[\"quay.io/org/app:v1\"]}", "000000001"},
    {"{\"image\":[\"app\"]}", "000000000"},
    {"{\"image\":[\"sha256\"]}", "000000000"},
    /* label: attributes, every value must hold */
    {"{\"label\":[\"com.example.team=infra\"]}", "100010000"},
    {"{\"label\":[\"com.example.team\"]}", "100010000"},
    {"{\"label\":[\"com.example.team=infra\",\"name=web\"]}", "100000000"},
    {"{\"label\":[\"name=web\"]}", "111000000"},
    {"{\"label\":[\"com.example.team=other\"]}", "000000000"},
    /* scope; keys AND; unknown keys ignored */
    {"{\"scope\":[\"local\"]}", "111111111"},
    {"{\"scope\":[\"swarm\"]}", "000000000"},
    {"{\"type\":[\"container\"],\"event\":[\"die\",\"start\"]}", "100000001"},
    {"{\"type\":[\"image\"],\"container\":[\"web\"]}", "000000000"},
    {"{\"container\":[\"web\"],\"image\":[\"busybox\"]}", "111000000"},
    {"{\"bogus\":[\"x\"]}", "111111111"},
};

static void check_match_case(const struct match_case *c)
{
    struct bt_filters *f = parse_ok(c->filter);
    char got[N_ELEMS(table_events) + 1] = {0};

    assert_int_equal(strlen(c->want), N_ELEMS(table_events));
    for (size_t i = 0; i < N_ELEMS(table_events); i++)
        got[i] = bt_event_matches(&table_events[i], f) ? '1' : '0';
    bt_filters_free(f);
    if (strcmp(got, c->want) != 0)
        fail_msg("filter %s: got %s, want %s", c->filter, got, c->want);
}

static void test_matches_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(match_cases); i++)
        check_match_case(&match_cases[i]);
}

static void test_matches_null_filter(void **state)
{
    (void)state;
    assert_true(bt_event_matches(&table_events[0], NULL));
}

static void test_filter_keys_validate(void **state)
{
    struct bt_filters *ok = parse_ok("{\"type\":[\"container\"],\"label\":[\"a\"],\"image\":[\"x\"]}");
    struct bt_filters *bad = parse_ok("{\"type\":[\"container\"],\"status\":[\"x\"]}");
    struct bt_err *err = NULL;

    (void)state;
    assert_int_equal(bt_filters_validate(ok, bt_event_filter_keys, &err), 0);
    assert_true(bt_filters_validate(bad, bt_event_filter_keys, &err) < 0);
    assert_string_equal(err->msg, "Invalid filter 'status'");
    bt_err_free(err);
    bt_filters_free(ok);
    bt_filters_free(bad);
}

/* ---- api_json_event -------------------------------------------------------- */

static void expect_json(const struct bt_event *e, const char *want)
{
    cJSON *o = api_json_event(e);
    char *got;

    assert_non_null(o);
    got = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_json_container_event(void **state)
{
    static struct bt_kv attrs[] = {KV("name", "web"), KV("image", "busybox"),
                                   KV("exitCode", "4"), KV("com.example.team", "infra"),
                                   KV("Zed", "upper sorts first")};
    const struct bt_event e = EV("container", "die", CTR, attrs);

    (void)state;
    expect_json(&e, "{\"status\":\"die\",\"id\":\"" CTR "\",\"from\":\"busybox\","
                    "\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"" CTR "\","
                    "\"Attributes\":{\"Zed\":\"upper sorts first\",\"com.example.team\":\"infra\","
                    "\"exitCode\":\"4\",\"image\":\"busybox\",\"name\":\"web\"}},"
                    "\"scope\":\"local\",\"time\":1795342907,\"timeNano\":1795342907123456789}");
}

static void test_json_container_without_image(void **state)
{
    static struct bt_kv attrs[] = {KV("execID", "e1"), KV("exitCode", "0"), KV("a", "1"),
                                   KV("a", "2")};
    struct bt_event e = EV("container", "exec_die", CTR, attrs);

    (void)state;
    e.time_nano = INT64_C(1700000000000000001);
    expect_json(&e, "{\"status\":\"exec_die\",\"id\":\"" CTR "\",\"Type\":\"container\","
                    "\"Action\":\"exec_die\",\"Actor\":{\"ID\":\"" CTR "\",\"Attributes\":"
                    "{\"a\":\"2\",\"execID\":\"e1\",\"exitCode\":\"0\"}},\"scope\":\"local\","
                    "\"time\":1700000000,\"timeNano\":1700000000000000001}");
}

static void test_json_image_event(void **state)
{
    static struct bt_kv attrs[] = {KV("name", "busybox:latest")};
    const struct bt_event e = EV("image", "tag", IMG, attrs);

    (void)state;
    expect_json(&e, "{\"status\":\"tag\",\"id\":\"" IMG "\",\"Type\":\"image\",\"Action\":\"tag\","
                    "\"Actor\":{\"ID\":\"" IMG "\",\"Attributes\":{\"name\":\"busybox:latest\"}},"
                    "\"scope\":\"local\",\"time\":1795342907,\"timeNano\":1795342907123456789}");
}

static void test_json_network_event(void **state)
{
    const struct bt_event e = EV("network", "connect", NET, a_net);

    (void)state;
    expect_json(&e, "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"" NET "\","
                    "\"Attributes\":{\"container\":\"" CTR "\",\"name\":\"bridge\","
                    "\"type\":\"bridge\"}},\"scope\":\"local\",\"time\":1795342907,"
                    "\"timeNano\":1795342907123456789}");
}

static void test_json_no_attributes(void **state)
{
    struct bt_event e = EV("daemon", "reload", "ABCD:EFGH", a_daemon);

    (void)state;
    e.attrs = NULL;
    e.n_attrs = 0;
    expect_json(&e, "{\"Type\":\"daemon\",\"Action\":\"reload\",\"Actor\":{\"ID\":\"ABCD:EFGH\","
                    "\"Attributes\":{}},\"scope\":\"local\",\"time\":1795342907,"
                    "\"timeNano\":1795342907123456789}");
}

static void test_json_escapes(void **state)
{
    static struct bt_kv attrs[] = {KV("name", "a\"b\\c\n")};
    const struct bt_event e = EV("volume", "create", "v", attrs);

    (void)state;
    expect_json(&e, "{\"Type\":\"volume\",\"Action\":\"create\",\"Actor\":{\"ID\":\"v\","
                    "\"Attributes\":{\"name\":\"a\\\"b\\\\c\\n\"}},\"scope\":\"local\","
                    "\"time\":1795342907,\"timeNano\":1795342907123456789}");
}

/* A published event carries its clock reading through to the JSON unrounded. */
static void test_json_published_event(void **state)
{
    struct bt_events *bus = bt_events_new(4);
    struct probe p = {0};
    struct bt_event *e;
    cJSON *o;
    char *got, want[96];

    (void)state;
    sub_new(bus, &p, NULL, -1, 4);
    pub(bus, "container", "start");
    e = bt_events_sub_next(p.self);
    o = api_json_event(e);
    got = cJSON_PrintUnformatted(o);
    (void)snprintf(want, sizeof(want), "\"scope\":\"local\",\"time\":%" PRId64 ",\"timeNano\":%" PRId64 "}",
                   e->time_nano / 1000000000, e->time_nano);
    assert_non_null(strstr(got, want));
    free(got);
    cJSON_Delete(o);
    bt_event_unref(e);
    bt_events_free(bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_copies_and_queues),
        cmocka_unit_test(test_time_strictly_increases),
        cmocka_unit_test(test_time_bumped_when_clock_stalls),
        cmocka_unit_test(test_ring_drops_oldest),
        cmocka_unit_test(test_default_sizes),
        cmocka_unit_test(test_since_replays_exactly),
        cmocka_unit_test(test_replay_filtered_and_filter_copied),
        cmocka_unit_test(test_replay_larger_than_queue),
        cmocka_unit_test(test_overflow_exactly_when_full),
        cmocka_unit_test(test_overflow_filtered_events_do_not_count),
        cmocka_unit_test(test_unsubscribe_inside_overflow),
        cmocka_unit_test(test_unsubscribe_other_during_publish),
        cmocka_unit_test(test_unsubscribe_earlier_and_self_during_publish),
        cmocka_unit_test(test_subscribe_inside_callback),
        cmocka_unit_test(test_publish_inside_callback_keeps_order),
        cmocka_unit_test(test_free_with_subscribers),
        cmocka_unit_test(test_matches_table),
        cmocka_unit_test(test_matches_null_filter),
        cmocka_unit_test(test_filter_keys_validate),
        cmocka_unit_test(test_json_container_event),
        cmocka_unit_test(test_json_container_without_image),
        cmocka_unit_test(test_json_image_event),
        cmocka_unit_test(test_json_network_event),
        cmocka_unit_test(test_json_no_attributes),
        cmocka_unit_test(test_json_escapes),
        cmocka_unit_test(test_json_published_event),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
