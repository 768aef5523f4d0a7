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
#include "berth/timeparse.h"

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

/* ---- the fast path against cJSON ------------------------------------------------ */

/* The line around an escaped text, optionally with attrs. */
static char *make_line(const char *esc, const char *stream, const char *attrs, const char *time,
                       size_t *ret_len)
{
    size_t n = strlen(esc) + (attrs ? strlen(attrs) : 0) + 128;
    char *line = malloc(n);
    assert_non_null(line);
    *ret_len = (size_t)snprintf(line, n, "{\"log\":\"%s\",\"stream\":\"%s\"%s%s,\"time\":\"%s\"}",
                                esc, stream, attrs ? ",\"attrs\":" : "", attrs ? attrs : "",
                                time);
    return line;
}

/* Decode `line` both ways: the fast path must take it and agree with cJSON
 * on every field (cJSON cuts at a NUL: compare up to it). */
static void same_as_cjson(const char *line, size_t len, char *dec, size_t *dec_len)
{
    struct bt_logline_span s;
    struct bt_logline l;

    assert_int_equal(bt_logline_scan(line, len, &s), 0);
    assert_int_equal(bt_logline_parse(line, len, &l), 0);
    *dec_len = bt_logline_unescape(s.log, s.log_len, dec);
    assert_true(*dec_len <= s.log_len);
    size_t cut = strnlen(dec, *dec_len);
    assert_int_equal(l.log_len, cut);
    assert_memory_equal(l.log, dec, cut);
    assert_int_equal(s.is_stderr, l.is_stderr);
    assert_int_equal(s.time_nano, l.time_nano);
    assert_int_equal(s.attrs != NULL, l.details != NULL);
    bt_logline_done(&l);
}

static void fast_escapes(void **state)
{
    (void)state;
    static const struct {
        const char *esc, *want;
        size_t want_len;
    } cases[] = {
        {"plain text", "plain text", 10},
        {"\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t", 8},
        {"\\u003c\\u003e\\u0026", "<>&", 3},
        {"\\u2028\\u2029", "\xe2\x80\xa8\xe2\x80\xa9", 6},
        {"bad \\ufffd\\ufffd byte", "bad \xef\xbf\xbd\xef\xbf\xbd byte", 15}, /* the monitor's */
        {"\\u00e9\\u00E9 \xc3\xa9 \\u20ac", "\xc3\xa9\xc3\xa9 \xc3\xa9 \xe2\x82\xac", 11},
        {"\\ud83d\\ude00!", "\xf0\x9f\x98\x80!", 5}, /* a surrogate pair */
        {"\\u001b[1m\\u0007\\u007f", "\x1b[1m\x07\x7f", 6},
        {"raw \xff\xfe kept", "raw \xff\xfe kept", 11}, /* another engine's raw bytes */
        {"", "", 0},
    };
    char dec[256];
    size_t n, len;

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char *line = make_line(cases[i].esc, i % 2 ? "stderr" : "stdout", NULL, T0, &len);
        same_as_cjson(line, len, dec, &n);
        assert_int_equal(n, cases[i].want_len);
        assert_memory_equal(dec, cases[i].want, n);
        free(line);
    }
}

static void fast_nul_and_attrs(void **state)
{
    (void)state;
    char dec[256];
    size_t n, len;
    struct bt_logline_span s;

    /* A NUL stays in the text (cJSON's C string cannot hold it). */
    char *line = make_line("a\\u0000b\\n", "stdout", NULL, T0, &len);
    same_as_cjson(line, len, dec, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(dec, "a\0b\n", 4);
    free(line);

    /* attrs with braces and quotes inside their strings are skipped whole. */
    const char *attrs = "{\"a}{\":\"x\\\"}\",\"tag\":\"web\"}";
    line = make_line("hi\\n", "stderr", attrs, T0, &len);
    same_as_cjson(line, len, dec, &n);
    assert_int_equal(bt_logline_scan(line, len, &s), 0);
    assert_int_equal(s.attrs_len, strlen(attrs));
    assert_memory_equal(s.attrs, attrs, s.attrs_len);
    assert_true(s.is_stderr);
    free(line);
}

static void fast_long_line(void **state)
{
    (void)state;
    /* A 16 KiB piece of a longer line (no "\n"), escapes at its edges. */
    size_t n, len, esc_len = 16 * 1024 * 2;
    char *esc = malloc(esc_len + 1), *dec = malloc(esc_len);
    assert_non_null(esc);
    assert_non_null(dec);
    for (size_t i = 0; i < esc_len; i += 2)
        memcpy(esc + i, i % 64 ? "xy" : "\\t", 2);
    esc[esc_len] = '\0';
    char *line = make_line(esc, "stdout", NULL, T0, &len);
    same_as_cjson(line, len, dec, &n);
    assert_int_equal(n, esc_len - esc_len / 64);
    assert_int_equal(dec[0], '\t');
    assert_int_equal(dec[n - 1], 'y');
    free(line);
    free(esc);
    free(dec);
}

/* Random text escaped as Go does, decoded both ways. */
static void fast_random(void **state)
{
    (void)state;
    static const char *const alphabet[] = {"a", "\\\"", "\\\\", "\\n", "\\t", "\\u003c",
                                           "\\u0026", "\\ufffd", "\xc3\xa9", "\\u00e9",
                                           "\\ud834\\udd1e", "\\u2028", "\\u001f", "}", "{",
                                           "\\/", " "};
    char esc[1024], dec[1024];
    size_t n, len;

    srand(7);
    for (int round = 0; round < 2000; round++) {
        size_t e = 0;
        int parts = rand() % 40;
        for (int i = 0; i < parts; i++) {
            const char *a = alphabet[rand() % (int)(sizeof(alphabet) / sizeof(*alphabet))];
            memcpy(esc + e, a, strlen(a));
            e += strlen(a);
        }
        esc[e] = '\0';
        char *line = make_line(esc, round % 3 ? "stdout" : "stderr",
                               round % 5 ? NULL : "{\"k\":\"v\"}", T0, &len);
        same_as_cjson(line, len, dec, &n);
        free(line);
    }
}

/* What the fast path leaves to cJSON, and what it refuses outright. */
static void fast_declines(void **state)
{
    (void)state;
    struct bt_logline_span s;
    struct bt_logline l;
    static const char *const foreign[] = {
        /* other key order or spacing: cJSON takes them */
        "{\"stream\":\"stdout\",\"log\":\"a\",\"time\":\"" T0 "\"}",
        "{\"log\": \"a\", \"stream\": \"stdout\", \"time\": \"" T0 "\"}",
        "{\"log\":\"a\",\"stream\":\"stdout\",\"time\":\"2026-11-22T11:18:31.25767276+01:00\"}",
    };
    static const char *const refused[] = {
        "{\"log\":\"a\",\"stream\":\"stdout\",\"time\":\"" T0, /* torn */
        "{\"log\":\"a\\ud83d\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}", /* lone surrogate */
        "{\"log\":\"a\\ude00\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}",
        "{\"log\":\"a\\x\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}",
        "{\"log\":\"a\",\"stream\":\"stdin\",\"time\":\"" T0 "\"}",
        "{\"log\":\"a\",\"stream\":\"stdout\",\"attrs\":{\"k\":\"v\",\"time\":\"" T0 "\"}",
        "{\"log\":\"a\",\"stream\":\"stdout\",\"time\":\"" T0 "\"} ",
    };
    for (size_t i = 0; i < sizeof(foreign) / sizeof(*foreign); i++) {
        assert_int_equal(bt_logline_scan(foreign[i], strlen(foreign[i]), &s), -EAGAIN);
        assert_int_equal(bt_logline_parse(foreign[i], strlen(foreign[i]), &l), 0);
        assert_int_equal(l.time_nano, T0_NANO);
        assert_memory_equal(l.log, "a", 2);
        bt_logline_done(&l);
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++)
        assert_int_equal(bt_logline_scan(refused[i], strlen(refused[i]), &s), -EAGAIN);
}

static void fast_time(void **state)
{
    (void)state;
    static const char *const same[] = {
        "1970-01-01T00:00:00Z", "2026-11-22T10:18:31.25767276Z", "2024-02-29T23:59:59.999999999Z",
        "2000-02-29T12:00:00.1Z", "1999-12-31T23:59:59.1234567891Z", "2261-12-31T00:00:00Z",
        "1678-01-01T00:00:00Z", "1900-03-01T00:00:00.000000001Z", "2026-07-31T08:09:10.5Z",
    };
    static const char *const declined[] = {
        "2100-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-22T10:18:31",
        "2026-11-22T10:18:31.Z", "2026-11-22T10:18:31z", "2026-11-22T10:18:31+00:00",
        "0001-01-01T00:00:00Z", "2026-11-22 10:18:31Z", "2026-04-31T00:00:00Z",
    };
    int64_t fast, slow;

    for (size_t i = 0; i < sizeof(same) / sizeof(*same); i++) {
        assert_int_equal(bt_logline_time(same[i], strlen(same[i]), &fast), 0);
        assert_int_equal(bt_time_parse_rfc3339(same[i], &slow), 0);
        assert_int_equal(fast, slow);
    }
    for (size_t i = 0; i < sizeof(declined) / sizeof(*declined); i++)
        assert_int_equal(bt_logline_time(declined[i], strlen(declined[i]), &fast), -EAGAIN);
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

/* Lines the fast path takes and lines it leaves to cJSON, mixed in one file:
 * the frames, timestamps and --details prefixes come out the same. */
static void mixed_lines_details(void **state)
{
    (void)state;
    struct bt_logs_opts o = {.out = true, .err = true, .tail = -1, .timestamps = true,
                             .details = true};
    struct bt_logs_reader *r;
    char text[1024] = "";
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs("{\"log\":\"fast\\u003c\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:01.5Z\"}\n"
          "{\"stream\":\"stderr\",\"log\":\"foreign\\n\",\"time\":\"2026-11-22T11:00:02+01:00\"}\n"
          "{\"log\":\"tagged\\n\",\"stream\":\"stderr\",\"attrs\":{\"z\":\"1\",\"a\":\"b c\"},"
          "\"time\":\"2026-11-22T10:00:03Z\"}\n"
          "not json\n"
          "{\"log\":\"a\\u0000b\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:04Z\"}\n",
          f);
    fclose(f);
    assert_int_equal(bt_logs_reader_new(path, &o, &r), 0);
    assert_int_equal(read_all(r, false, text, sizeof(text)), BT_LOGS_AT_END);
    bt_logs_reader_free(r);
    assert_string_equal(text, "1:2026-11-22T10:00:01.500000000Z  fast<\n"
                              "2:2026-11-22T10:00:02.000000000Z  foreign\n"
                              "2:2026-11-22T10:00:03.000000000Z a=b+c,z=1 tagged\n"
                              "1:2026-11-22T10:00:04.000000000Z  a");
    /* The NUL went out with the rest of its line (text stops at it). */
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
        cmocka_unit_test(fast_escapes),
        cmocka_unit_test(fast_nul_and_attrs),
        cmocka_unit_test(fast_long_line),
        cmocka_unit_test(fast_random),
        cmocka_unit_test(fast_declines),
        cmocka_unit_test(fast_time),
        cmocka_unit_test_setup_teardown(reads_rotations_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(tail_counts_both_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(since_until_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(no_log_yet, setup, teardown),
        cmocka_unit_test_setup_teardown(follows_rotations, setup, teardown),
        cmocka_unit_test_setup_teardown(mixed_lines_details, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
