#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/json.h"
#include "berth/buf.h"
#include "berth/filters.h"
#include "berth/kv.h"

/* "k=v1,v2;k2=" : every key in order with its values, to compare whole filters. */
static char *dump(const struct bt_filters *f)
{
    struct bt_buf b;
    const char *key;

    bt_buf_init(&b, 0);
    assert_int_equal(bt_buf_append(&b, "", 0), 0);
    for (size_t i = 0; (key = bt_filters_key(f, i)); i++) {
        assert_int_equal(bt_buf_appendf(&b, "%s%s=", i ? ";" : "", key), 0);
        for (size_t j = 0; j < bt_filters_count(f, key); j++)
            assert_int_equal(
                bt_buf_appendf(&b, "%s%s", j ? "," : "", bt_filters_value(f, key, j)), 0);
    }
    return bt_buf_steal(&b, NULL);
}

static struct bt_filters *parse_ok(const char *json)
{
    struct bt_filters *f = NULL;
    struct bt_err *err = NULL;

    if (api_filters_parse(json, &f, &err) < 0)
        fail_msg("parse %s: %s", json, err->msg);
    assert_non_null(f);
    return f;
}

/* ---- the container --------------------------------------------------------- */

static void test_add_count_value(void **state)
{
    _cleanup_filters_ struct bt_filters *f = bt_filters_new();

    (void)state;
    assert_true(bt_filters_empty(f));
    assert_true(bt_filters_empty(NULL));
    assert_int_equal(bt_filters_add(f, "name", "b"), 0);
    assert_int_equal(bt_filters_add(f, "name", "a"), 0);
    assert_int_equal(bt_filters_add(f, "name", "b"), 0); /* kept once */
    assert_int_equal(bt_filters_add(f, "status", "exited"), 0);
    assert_false(bt_filters_empty(f));
    assert_true(bt_filters_has(f, "name"));
    assert_false(bt_filters_has(f, "label"));
    assert_false(bt_filters_has(NULL, "name"));
    assert_int_equal(bt_filters_count(f, "name"), 2);
    assert_int_equal(bt_filters_count(f, "nope"), 0);
    assert_string_equal(bt_filters_value(f, "name", 0), "b");
    assert_string_equal(bt_filters_value(f, "name", 1), "a");
    assert_null(bt_filters_value(f, "name", 2));
    assert_null(bt_filters_value(f, "nope", 0));
    assert_string_equal(bt_filters_key(f, 0), "name");
    assert_string_equal(bt_filters_key(f, 1), "status");
    assert_null(bt_filters_key(f, 2));
}

static void test_add_key_without_value(void **state)
{
    _cleanup_filters_ struct bt_filters *f = bt_filters_new();

    (void)state;
    assert_int_equal(bt_filters_add_key(f, "label"), 0);
    assert_int_equal(bt_filters_add_key(f, "label"), 0);
    assert_false(bt_filters_empty(f));
    assert_true(bt_filters_has(f, "label"));
    assert_int_equal(bt_filters_count(f, "label"), 0);
    /* Present but empty filters nothing, as in moby. */
    assert_true(bt_filters_match_exact(f, "label", "x"));
    assert_true(bt_filters_match_labels(f, "label", NULL, 0));
}

static void test_dup_is_deep(void **state)
{
    _cleanup_filters_ struct bt_filters *f = bt_filters_new();
    _cleanup_filters_ struct bt_filters *copy = NULL;
    _cleanup_free_ char *a = NULL, *b = NULL;

    (void)state;
    assert_int_equal(bt_filters_add(f, "type", "container"), 0);
    assert_int_equal(bt_filters_add(f, "type", "image"), 0);
    assert_int_equal(bt_filters_add_key(f, "event"), 0);
    copy = bt_filters_dup(f);
    assert_non_null(copy);
    assert_int_equal(bt_filters_add(f, "type", "network"), 0);
    a = dump(copy);
    b = dump(f);
    assert_string_equal(a, "type=container,image;event=");
    assert_string_equal(b, "type=container,image,network;event=");
}

static void test_validate(void **state)
{
    static const char *const allowed[] = {"label", "name", "status", NULL};
    _cleanup_filters_ struct bt_filters *f = bt_filters_new();
    _cleanup_err_ struct bt_err *err = NULL;

    (void)state;
    assert_int_equal(bt_filters_validate(NULL, allowed, &err), 0);
    assert_int_equal(bt_filters_validate(f, allowed, &err), 0);
    assert_int_equal(bt_filters_add(f, "name", "web"), 0);
    assert_int_equal(bt_filters_validate(f, allowed, &err), 0);
    assert_null(err);
    assert_int_equal(bt_filters_add(f, "bogus", "x"), 0);
    assert_true(bt_filters_validate(f, allowed, &err) < 0);
    assert_non_null(err);
    assert_int_equal(err->code, BT_EINVAL);
    assert_string_equal(err->msg, "Invalid filter 'bogus'");
}

static void test_validate_key_without_value(void **state)
{
    static const char *const allowed[] = {"label", NULL};
    _cleanup_filters_ struct bt_filters *f = parse_ok("{\"until\":{}}");
    _cleanup_err_ struct bt_err *err = NULL;

    (void)state;
    assert_true(bt_filters_validate(f, allowed, &err) < 0);
    assert_string_equal(err->msg, "Invalid filter 'until'");
}

static void test_match_exact(void **state)
{
    _cleanup_filters_ struct bt_filters *f = bt_filters_new();

    (void)state;
    assert_true(bt_filters_match_exact(f, "status", "running"));
    assert_true(bt_filters_match_exact(NULL, "status", "running"));
    assert_int_equal(bt_filters_add(f, "status", "exited"), 0);
    assert_int_equal(bt_filters_add(f, "status", "created"), 0);
    assert_true(bt_filters_match_exact(f, "status", "exited"));
    assert_true(bt_filters_match_exact(f, "status", "created"));
    assert_false(bt_filters_match_exact(f, "status", "running"));
    assert_false(bt_filters_match_exact(f, "status", "exit")); /* no prefixes */
    assert_false(bt_filters_match_exact(f, "status", ""));
    assert_true(bt_filters_match_exact(f, "name", "anything"));
}

/* ---- labels ---------------------------------------------------------------- */

static const struct bt_kv labels[] = {
    {"com.docker.compose.project", "p"},
    {"com.docker.compose.oneoff", "False"},
    {"empty", ""},
    {"eq", "a=b"},
};

struct label_case {
    const char *filter; /* JSON */
    bool want;
};

static const struct label_case label_cases[] = {
    {"{}", true},
    {"{\"label\":[\"com.docker.compose.project\"]}", true},
    {"{\"label\":[\"com.docker.compose.project=p\"]}", true},
    {"{\"label\":[\"com.docker.compose.project=q\"]}", false},
    {"{\"label\":[\"com.docker.compose.project=\"]}", false},
    {"{\"label\":[\"missing\"]}", false},
    /* compose: every value must hold (AND), not any (OR). */
    {"{\"label\":[\"com.docker.compose.project=p\",\"com.docker.compose.oneoff=False\"]}", true},
    {"{\"label\":[\"com.docker.compose.project=p\",\"com.docker.compose.oneoff=True\"]}", false},
    {"{\"label\":{\"com.docker.compose.project=p\":true,\"missing\":true}}", false},
    {"{\"label\":[\"empty\"]}", true},
    {"{\"label\":[\"empty=\"]}", true},
    {"{\"label\":[\"eq=a=b\"]}", true},
    {"{\"label\":[\"eq=a\"]}", false},
    {"{\"label\":[\"eq=a=b\",\"com.docker.compose.project\"]}", true},
    /* Other keys are not labels. */
    {"{\"name\":[\"x\"]}", true},
};

static void test_match_labels_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(label_cases) / sizeof(label_cases[0]); i++) {
        _cleanup_filters_ struct bt_filters *f = parse_ok(label_cases[i].filter);
        bool got = bt_filters_match_labels(f, "label", labels, sizeof(labels) / sizeof(labels[0]));

        if (got != label_cases[i].want)
            fail_msg("labels %s: got %d, want %d", label_cases[i].filter, got, label_cases[i].want);
    }
}

static void test_match_labels_no_labels(void **state)
{
    _cleanup_filters_ struct bt_filters *f = parse_ok("{\"label\":[\"a\"]}");
    _cleanup_filters_ struct bt_filters *none = parse_ok("{}");

    (void)state;
    assert_false(bt_filters_match_labels(f, "label", NULL, 0));
    assert_true(bt_filters_match_labels(none, "label", NULL, 0));
}

/* ---- api_filters_parse ----------------------------------------------------- */

struct parse_case {
    const char *json;
    const char *want; /* dump() of the result, NULL = BT_EINVAL */
};

static const struct parse_case parse_cases[] = {
    {"", ""},
    {"null", ""},
    {"{}", ""},
    {" { } ", ""},
    /* The CLI's map of sets. */
    {"{\"type\":{\"container\":true}}", "type=container"},
    {"{\"status\":{\"exited\":true},\"name\":{\"a\":true,\"b\":true}}", "status=exited;name=a,b"},
    /* Only the keys of a set count. */
    {"{\"type\":{\"container\":false}}", "type=container"},
    /* docker-py's lists. */
    {"{\"label\":[\"com.docker.compose.project=p\",\"com.docker.compose.oneoff=False\"]}",
     "label=com.docker.compose.project=p,com.docker.compose.oneoff=False"},
    {"{\"type\":[\"container\",\"container\"]}", "type=container"},
    /* A bare string, present keys without values. */
    {"{\"type\":\"image\"}", "type=image"},
    {"{\"label\":[]}", "label="},
    {"{\"label\":{}}", "label="},
    {"{\"label\":null}", "label="},
    /* Both forms in one request, and unicode. */
    {"{\"a\":{\"x\":true},\"b\":[\"y\"]}", "a=x;b=y"},
    {"{\"name\":[\"caf\\u00e9\"]}", "name=caf\xc3\xa9"},
    /* Malformed. */
    {"{", NULL},
    {"{\"type\":", NULL},
    {"not json", NULL},
    {"   ", NULL},
    {"{} trailing", NULL},
    {"[]", NULL},
    {"[\"type\"]", NULL},
    {"\"type\"", NULL},
    {"42", NULL},
    {"true", NULL},
    /* Wrong shapes. */
    {"{\"type\":1}", NULL},
    {"{\"type\":true}", NULL},
    {"{\"type\":[1]}", NULL},
    {"{\"type\":[[\"x\"]]}", NULL},
    {"{\"type\":[null]}", NULL},
    {"{\"type\":{\"container\":\"yes\"}}", NULL},
    {"{\"type\":{\"container\":1}}", NULL},
    {"{\"type\":{\"container\":{}}}", NULL},
};

static void check_parse_case(const struct parse_case *c)
{
    struct bt_filters *f = NULL;
    _cleanup_err_ struct bt_err *err = NULL;
    _cleanup_free_ char *got = NULL;
    int r = api_filters_parse(c->json, &f, &err);

    if (!c->want) {
        if (r >= 0 || !err)
            fail_msg("parse %s: accepted, want an error", c->json);
        assert_null(f);
        assert_int_equal(err->code, BT_EINVAL);
        if (strncmp(err->msg, "invalid filter", 14) != 0)
            fail_msg("parse %s: message %s", c->json, err->msg);
        return;
    }
    if (r < 0)
        fail_msg("parse %s: %s", c->json, err ? err->msg : "(no error)");
    assert_null(err);
    got = dump(f);
    bt_filters_free(f);
    if (strcmp(got, c->want) != 0)
        fail_msg("parse %s: got \"%s\", want \"%s\"", c->json, got, c->want);
}

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++)
        check_parse_case(&parse_cases[i]);
}

static void test_parse_null(void **state)
{
    _cleanup_filters_ struct bt_filters *f = NULL;
    _cleanup_err_ struct bt_err *err = NULL;

    (void)state;
    assert_int_equal(api_filters_parse(NULL, &f, &err), 0);
    assert_non_null(f);
    assert_true(bt_filters_empty(f));
}

static void test_parse_error_messages(void **state)
{
    _cleanup_err_ struct bt_err *e1 = NULL, *e2 = NULL;
    struct bt_filters *f = NULL;

    (void)state;
    assert_true(api_filters_parse("{\"type\":", &f, &e1) < 0);
    assert_string_equal(e1->msg, "invalid filter: malformed JSON at offset 8");
    assert_true(api_filters_parse("{\"type\":[1]}", &f, &e2) < 0);
    assert_string_equal(e2->msg, "invalid filter 'type': values must be a list of strings or an "
                                 "object of booleans");
    assert_null(f);
}

/* The whole route a list handler takes: parse, validate, match. */
static void test_parse_validate_match(void **state)
{
    static const char *const allowed[] = {"status", "label", NULL};
    _cleanup_filters_ struct bt_filters *f =
        parse_ok("{\"status\":{\"exited\":true,\"dead\":true},\"label\":[\"a=1\",\"b\"]}");
    const struct bt_kv ab[] = {{"a", "1"}, {"b", "x"}}, a_only[] = {{"a", "1"}};
    _cleanup_err_ struct bt_err *err = NULL;

    (void)state;
    assert_int_equal(bt_filters_validate(f, allowed, &err), 0);
    assert_true(bt_filters_match_exact(f, "status", "dead"));
    assert_false(bt_filters_match_exact(f, "status", "running"));
    assert_true(bt_filters_match_labels(f, "label", ab, 2));
    assert_false(bt_filters_match_labels(f, "label", a_only, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_count_value),
        cmocka_unit_test(test_add_key_without_value),
        cmocka_unit_test(test_dup_is_deep),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_validate_key_without_value),
        cmocka_unit_test(test_match_exact),
        cmocka_unit_test(test_match_labels_table),
        cmocka_unit_test(test_match_labels_no_labels),
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_null),
        cmocka_unit_test(test_parse_error_messages),
        cmocka_unit_test(test_parse_validate_match),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
