/* The json-file log reader: the line parser (escapes, streams, times, torn
 * lines), and the reader over rotated files: order, tail, stream and time
 * filters, frames, timestamps, and a rotation while following. */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "test/unit/busybox_rootfs.h"
#include "berth/ctr_logs.h"

#define T0 "2026-11-22T10:18:31.25767276Z"
#define T0_NANO 1795342711257672760LL

static void parse_ok(void **state)
{
    (void)state;
    struct bt_logline l;
    const char *line = "{\"log\":\"a\\\"b\\u003c\\n\",\"stream\":\"stderr\",\"time\":\"" T0 "\"}";

    assert_int_equal(bt_logline_parse(line, strlen(line), &l), 0);
    assert_int_equal(l.log_len, 5);
    assert_memory_equal(l.log, "a\"b<\n", 5);
    assert_true(l.is_stderr);
    assert_int_equal(l.time_nano, T0_NANO);
    bt_logline_done(&l);

    line = "{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:18:31Z\"}";
    assert_int_equal(bt_logline_parse(line, strlen(line), &l), 0);
    assert_false(l.is_stderr);
    assert_int_equal(l.time_nano, T0_NANO - 257672760LL);
    bt_logline_done(&l);
}

static void parse_bad(void **state)
{
    (void)state;
    struct bt_logline l;
    const char *bad[] = {
        "",
        "{\"log\":\"a\",\"stream\":\"stdout\",\"time\":\"" T0,          /* torn */
        "{\"log\":\"a\",\"stream\":\"stdout\"}",                        /* no time */
        "{\"log\":1,\"stream\":\"stdout\",\"time\":\"" T0 "\"}",       /* not a string */
        "{\"log\":\"a\",\"stream\":\"stdout\",\"time\":\"yesterday\"}", /* bad time */
        "[1,2]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(bt_logline_parse(bad[i], strlen(bad[i]), &l), -EINVAL);
        assert_null(l.log);
    }
}

/* ---- the reader over files ---------------------------------------------------- */

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_ctr_logs.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/c-json.log", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_rm_tree(dir);
    return 0;
}

/* Line i: "<i>\n" on stdout (odd i on stderr) at second i. */
static void entry(char *buf, size_t len, int i)
{
    snprintf(buf, len,
             "{\"log\":\"%d\\n\",\"stream\":\"%s\",\"time\":\"2026-11-22T10:00:%02dZ\"}\n", i,
             i % 2 ? "stderr" : "stdout", i);
}

static void write_lines(const char *name, int from, int to, const char *mode)
{
    FILE *f = fopen(name, mode);
    char buf[256];
    assert_non_null(f);
    for (int i = from; i < to; i++) {
        entry(buf, sizeof(buf), i);
        fputs(buf, f);
    }
    fclose(f);
}

static void write_gz(const char *name, int from, int to)
{
    gzFile gz = gzopen(name, "wb");
    char buf[256];
    assert_non_null(gz);
    for (int i = from; i < to; i++) {
        entry(buf, sizeof(buf), i);
        gzputs(gz, buf);
    }
    gzclose(gz);
}

/* Read everything there is now, as text: raw payloads for a TTY, and for
 * frames "<stream>:<payload>" after checking each header. */
static void decode(const struct bt_buf *out, bool tty, char *text, size_t cap)
{
    size_t n = strlen(text);

    for (size_t i = 0; i < out->len;) {
        const unsigned char *h = (const unsigned char *)out->p + i;
        size_t len = out->len - i;
        if (!tty) {
            assert_true(len >= 8);
            assert_true(h[0] == 1 || h[0] == 2);
            assert_int_equal(h[1] | h[2] | h[3], 0);
            len = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
            n += (size_t)snprintf(text + n, cap - n, "%d:", h[0]);
            i += 8;
        }
        assert_true(i + len <= out->len);
        assert_true(n + len < cap);
        memcpy(text + n, out->p + i, len);
        n += len;
        text[n] = '\0';
        i += len;
    }
}

/* Read everything there is now, in small pieces, as text: raw payloads for
 * a TTY, and for frames "<stream>:<payload>" after checking each header. */
static enum bt_logs_step read_all(struct bt_logs_reader *r, bool tty, char *text, size_t cap)
{
    struct bt_buf out;
    enum bt_logs_step st;

    bt_buf_init(&out, 0);
    do {
        st = bt_logs_reader_step(r, &out, 64);
        decode(&out, tty, text, cap);
        bt_buf_reset(&out);
    } while (st == BT_LOGS_MORE);
    bt_buf_done(&out);
    return st;
}

static void rotated_set(void)
{
    char name[160];
    snprintf(name, sizeof(name), "%s.2.gz", path);
    write_gz(name, 0, 3);
    snprintf(name, sizeof(name), "%s.1", path);
    write_lines(name, 3, 5, "w");
    write_lines(path, 5, 7, "w");
}

static void reads_rotations_in_order(void **state)
{
    (void)state;
    struct bt_logs_opts o = {.out = true, .err = true, .tail = -1};
    struct bt_logs_reader *r;
    char text[1024] = "";

    rotated_set();
    assert_int_equal(bt_logs_reader_new(path, &o, &r), 0);
    assert_int_equal(read_all(r, false, text, sizeof(text)), BT_LOGS_AT_END);
    assert_string_equal(text, "1:0\n2:1\n1:2\n2:3\n1:4\n2:5\n1:6\n");
    bt_logs_reader_free(r);
}

static void tail_counts_both_streams(void **state)
{
    (void)state;
    /* The last 3 lines are 4 (out), 5 (err), 6 (out): stdout keeps two. */
    struct bt_logs_opts o = {.out = true, .tail = 3, .tty = true};
    struct bt_logs_reader *r;
    char text[1024] = "";

    rotated_set();
    assert_int_equal(bt_logs_reader_new(path, &o, &r), 0);
    assert_int_equal(read_all(r, true, text, sizeof(text)), BT_LOGS_AT_END);
    assert_string_equal(text, "4\n6\n");
    bt_logs_reader_free(r);

    o = (struct bt_logs_opts){.err = true, .tail = 0, .tty = true};
    text[0] = '\0';
    assert_int_equal(bt_logs_reader_new(path, &o, &r), 0);
    assert_int_equal(read_all(r, true, text, sizeof(text)), BT_LOGS_AT_END);
    assert_string_equal(text, "");
    bt_logs_reader_free(r);
}

static void since_until_timestamps(void **state)
{
    (void)state;
    const int64_t t = 1795341600LL * 1000000000LL; /* 2026-11-22T10:00:00Z */
    struct bt_logs_opts o = {.out = true, .err = true, .tail = -1, .tty = true, .timestamps = true,
                             .since = t + 2 * 1000000000LL, .until = t + 3 * 1000000000LL};
    struct bt_logs_reader *r;
    char text[1024] = "";

    rotated_set();
    assert_int_equal(bt_logs_reader_new(path, &o, &r), 0);
    assert_int_equal(read_all(r, true, text, sizeof(text)), BT_LOGS_PAST_UNTIL);
    assert_string_equal(text, "2026-11-22T10:00:02.000000000Z 2\n"
                              "2026-11-22T10:00:03.000000000Z 3\n");
    bt_logs_reader_free(r);
}

static void no_log_yet(void **state)
{
    (void)state;
    struct bt_logs_opts o = {.out = true, .err = true, .tail = -1};
    struct bt_logs_reader *r;
    char text[64] = "";

    assert_int_equal(bt_logs_reader_new("", &o, &r), 0);
    assert_int_equal(read_all(r, false, text, sizeof(text)), BT_LOGS_AT_END);
    bt_logs_reader_free(r);
    assert_int_equal(bt_logs_reader_new(path, &o, &r), 0);
    assert_int_equal(read_all(r, false, text, sizeof(text)), BT_LOGS_AT_END);
    assert_string_equal(text, "");
    /* It appears (the first start): the reader picks it up. */
    write_lines(path, 0, 1, "w");
    assert_int_equal(read_all(r, false, text, sizeof(text)), BT_LOGS_AT_END);
    assert_string_equal(text, "1:0\n");
    bt_logs_reader_free(r);
}

/* Follow: lines appended, then two rotations between two reads (a torn
 * last line waits for its end); every line once, in order. */
static void follows_rotations(void **state)
{
    (void)state;
    struct bt_logs_opts o = {.out = true, .err = true, .tail = -1, .tty = true};
    struct bt_logs_reader *r;
    char text[1024] = "", one[256], n1[160], n2[160];
    FILE *f;

    snprintf(n1, sizeof(n1), "%s.1", path);
    snprintf(n2, sizeof(n2), "%s.2", path);
    write_lines(path, 0, 2, "w");
    assert_int_equal(bt_logs_reader_new(path, &o, &r), 0);
    assert_int_equal(read_all(r, true, text, sizeof(text)), BT_LOGS_AT_END);
    assert_string_equal(text, "0\n1\n");

    /* Half a line, then its end. */
    entry(one, sizeof(one), 2);
    f = fopen(path, "a");
    fwrite(one, 1, 10, f);
    fclose(f);
    assert_int_equal(read_all(r, true, text, sizeof(text)), BT_LOGS_AT_END);
    assert_string_equal(text, "0\n1\n");
    f = fopen(path, "a");
    fputs(one + 10, f);
    fclose(f);
    write_lines(path, 3, 4, "a");

    /* Rotate twice: log -> .1 -> .2, with lines in each. */
    assert_int_equal(rename(path, n1), 0);
    write_lines(path, 4, 6, "w");
    assert_int_equal(rename(n1, n2), 0);
    assert_int_equal(rename(path, n1), 0);
    write_lines(path, 6, 8, "w");
    assert_int_equal(read_all(r, true, text, sizeof(text)), BT_LOGS_AT_END);
    assert_string_equal(text, "0\n1\n2\n3\n4\n5\n6\n7\n");
    write_lines(path, 8, 9, "a");
    assert_int_equal(read_all(r, true, text, sizeof(text)), BT_LOGS_AT_END);
    assert_string_equal(text, "0\n1\n2\n3\n4\n5\n6\n7\n8\n");
    bt_logs_reader_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_ok),
        cmocka_unit_test(parse_bad),
        cmocka_unit_test_setup_teardown(reads_rotations_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(tail_counts_both_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(since_until_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(no_log_yet, setup, teardown),
        cmocka_unit_test_setup_teardown(follows_rotations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
