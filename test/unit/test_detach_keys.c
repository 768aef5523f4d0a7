/* Detach keys: Docker's key names, and a scanner that holds a partial match
 * across reads and releases it, in order, when the match fails. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "berth/detach_keys.h"

struct sink {
    char buf[256];
    size_t len;
    int calls;
};

static void emit(void *arg, const char *data, size_t len)
{
    struct sink *s = arg;
    assert_true(len > 0);
    assert_true(s->len + len <= sizeof(s->buf));
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->calls++;
}

/* Feed `in` split into pieces of `step` bytes; returns the offset just past
 * the detach (or -1) and leaves what was passed on in s. */
static long feed(const char *spec, const char *in, size_t len, size_t step, struct sink *s)
{
    struct bt_detach_keys k;

    assert_int_equal(bt_detach_keys_parse(spec, &k), 0);
    memset(s, 0, sizeof(*s));
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        if (bt_detach_keys_scan(&k, in + off, n, emit, s))
            return (long)(off + n);
    }
    return -1;
}

static void test_parse(void **state)
{
    struct bt_detach_keys k;

    (void)state;
    assert_int_equal(bt_detach_keys_parse(NULL, &k), 0);
    assert_int_equal(k.len, 2);
    assert_memory_equal(k.seq, "\x10\x11", 2);
    assert_int_equal(bt_detach_keys_parse("", &k), 0);
    assert_memory_equal(k.seq, "\x10\x11", 2);
    assert_int_equal(bt_detach_keys_parse("ctrl-x,x", &k), 0);
    assert_int_equal(k.len, 2);
    assert_memory_equal(k.seq, "\x18x", 2);
    assert_int_equal(bt_detach_keys_parse("ctrl-@,ctrl-_,ctrl-\\,DEL,a,,", &k), -EINVAL);
    assert_int_equal(bt_detach_keys_parse("ctrl-@,ctrl-_,ctrl-\\,DEL,a", &k), 0);
    assert_int_equal(k.len, 5);
    assert_memory_equal(k.seq, "\x00\x1f\x1c\x7f" "a", 5);
    assert_int_equal(bt_detach_keys_parse(",", &k), -EINVAL);
    assert_int_equal(bt_detach_keys_parse("ctrl-P", &k), -EINVAL); /* case matters */
    assert_int_equal(bt_detach_keys_parse("ctrl-1", &k), -EINVAL);
    assert_int_equal(bt_detach_keys_parse("ctrl-", &k), -EINVAL);
    assert_int_equal(bt_detach_keys_parse("ab", &k), -EINVAL);
    assert_int_equal(bt_detach_keys_parse("del", &k), -EINVAL);
    char long_spec[2 * BT_DETACH_KEYS_MAX + 4];
    size_t n = 0;
    for (int i = 0; i <= BT_DETACH_KEYS_MAX; i++) { /* one key too many */
        long_spec[n++] = 'a';
        long_spec[n++] = ',';
    }
    long_spec[n - 1] = '\0';
    assert_int_equal(bt_detach_keys_parse(long_spec, &k), -EINVAL);
}

static void test_plain_bytes_pass(void **state)
{
    struct sink s;

    (void)state;
    for (size_t step = 1; step <= 12; step++) {
        assert_int_equal(feed(NULL, "hello world\n", 12, step, &s), -1);
        assert_int_equal(s.len, 12);
        assert_memory_equal(s.buf, "hello world\n", 12);
    }
}

static void test_match_in_one_read_and_across_reads(void **state)
{
    static const char in[] = "ls\r\x10\x11" "after";
    struct sink s;

    (void)state;
    for (size_t step = 1; step < sizeof(in); step++) {
        long at = feed(NULL, in, sizeof(in) - 1, step, &s);
        assert_true(at >= 5);
        assert_int_equal(s.len, 3); /* what came before, not the keys, not after */
        assert_memory_equal(s.buf, "ls\r", 3);
    }
}

static void test_failed_match_released_in_order(void **state)
{
    static const char in[] = "a\x10" "b\x10\x10\x11";
    struct sink s;

    (void)state;
    for (size_t step = 1; step < sizeof(in); step++) {
        long at = feed(NULL, in, sizeof(in) - 1, step, &s);
        assert_int_equal(at, (long)(sizeof(in) - 1));
        /* ctrl-p then b: released; ctrl-p ctrl-p ctrl-q: the first is
         * released, the last two detach. */
        assert_int_equal(s.len, 4);
        assert_memory_equal(s.buf, "a\x10" "b\x10", 4);
    }
    /* A held byte at the end of a read stays held until the next one. */
    struct bt_detach_keys k;
    assert_int_equal(bt_detach_keys_parse(NULL, &k), 0);
    memset(&s, 0, sizeof(s));
    assert_false(bt_detach_keys_scan(&k, "x\x10", 2, emit, &s));
    assert_int_equal(s.len, 1);
    assert_false(bt_detach_keys_scan(&k, "y", 1, emit, &s));
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.buf, "x\x10y", 3);
}

static void test_self_overlapping_sequence(void **state)
{
    struct sink s;

    (void)state;
    /* "a,a,b" in "aaab": the first a is released, "aab" detaches. */
    for (size_t step = 1; step <= 5; step++) {
        assert_int_equal(feed("a,a,b", "xaaab", 5, step, &s), 5);
        assert_int_equal(s.len, 2);
        assert_memory_equal(s.buf, "xa", 2);
    }
    /* "a,b,a,c" in "ababac": "ab" released, "abac" detaches. */
    for (size_t step = 1; step <= 6; step++) {
        assert_int_equal(feed("a,b,a,c", "ababac", 6, step, &s), 6);
        assert_int_equal(s.len, 2);
        assert_memory_equal(s.buf, "ab", 2);
    }
    /* "a,b,a,c" in "abax": all released. */
    assert_int_equal(feed("a,b,a,c", "abax", 4, 1, &s), -1);
    assert_int_equal(s.len, 4);
    assert_memory_equal(s.buf, "abax", 4);
}

static void test_single_key(void **state)
{
    struct sink s;

    (void)state;
    assert_int_equal(feed("ctrl-a", "12\x01" "34", 5, 5, &s), 5);
    assert_int_equal(s.len, 2);
    assert_memory_equal(s.buf, "12", 2);
    assert_int_equal(feed("ctrl-a", "\x01", 1, 1, &s), 1);
    assert_int_equal(s.len, 0);
    assert_int_equal(s.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_plain_bytes_pass),
        cmocka_unit_test(test_match_in_one_read_and_across_reads),
        cmocka_unit_test(test_failed_match_released_in_order),
        cmocka_unit_test(test_self_overlapping_sequence),
        cmocka_unit_test(test_single_key),
    };
    return cmocka_run_group_tests_name("detach_keys", tests, NULL, NULL);
}
