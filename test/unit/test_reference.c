/* Image references: Docker's valid and invalid examples (from the
 * distribution/reference tests and dockerd's behaviour), normalisation,
 * familiar forms, round trips and the error messages word for word. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "berth/err.h"
#include "berth/reference.h"

#define HEX64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define D64 "sha256:" HEX64
#define BB "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
#define ID "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
#define HEX128 HEX64 HEX64

typedef int (*parse_fn)(const char *s, struct bt_ref *ret, struct bt_err **err);

/* Compares one field and names the input when it differs. */
static void expect_field(const char *in, const char *what, const char *got, const char *want)
{
    if (!got && !want)
        return;
    if (!got || !want || strcmp(got, want) != 0)
        fail_msg("%s: %s is \"%s\", expected \"%s\"", in, what, got ? got : "(null)",
                 want ? want : "(null)");
}

static void expect_owned(const char *in, const char *what, char *got, const char *want)
{
    expect_field(in, what, got, want);
    free(got);
}

static void expect_error(parse_fn parse, const char *in, const char *msg)
{
    struct bt_ref r = {NULL, NULL, NULL, NULL};
    struct bt_err *err = NULL;

    if (parse(in, &r, &err) == 0)
        fail_msg("%s: parsed, expected \"%s\"", in, msg);
    assert_non_null(err);
    assert_int_equal(err->code, BT_EINVAL);
    expect_field(in, "error", err->msg, msg);
    /* A failed parse leaves *ret alone. */
    assert_null(r.domain);
    assert_null(r.path);
    bt_err_free(err);
}

static void parse_ok(parse_fn parse, const char *in, struct bt_ref *r)
{
    struct bt_err *err = NULL;

    if (parse(in, r, &err) < 0)
        fail_msg("%s: %s", in, err ? err->msg : "failed without an error");
    assert_null(err);
}

/* parse -> string -> parse gives the same fields. */
static void expect_round_trip(parse_fn parse, const char *in, const struct bt_ref *r)
{
    struct bt_ref again;
    char *s = bt_ref_string(r);

    assert_non_null(s);
    parse_ok(parse, s, &again);
    if (!bt_ref_equal(r, &again))
        fail_msg("%s: \"%s\" parses differently", in, s);
    bt_ref_done(&again);
    free(s);
}

struct ok_case {
    const char *in;
    const char *domain, *path, *tag, *digest;
    const char *string, *familiar;
};

static void check_ok_cases(parse_fn parse, const struct ok_case *c, size_t n, bool familiar_trip)
{
    for (size_t i = 0; i < n; i++, c++) {
        struct bt_ref r;

        parse_ok(parse, c->in, &r);
        expect_field(c->in, "domain", r.domain, c->domain);
        expect_field(c->in, "path", r.path, c->path);
        expect_field(c->in, "tag", r.tag, c->tag);
        expect_field(c->in, "digest", r.digest, c->digest);
        expect_owned(c->in, "string", bt_ref_string(&r), c->string);
        if (c->familiar)
            expect_owned(c->in, "familiar", bt_ref_familiar(&r), c->familiar);
        expect_round_trip(parse, c->in, &r);
        if (familiar_trip && c->familiar) {
            struct bt_ref fam;
            parse_ok(parse, c->familiar, &fam);
            if (!bt_ref_equal(&r, &fam))
                fail_msg("%s: familiar \"%s\" parses differently", c->in, c->familiar);
            bt_ref_done(&fam);
        }
        bt_ref_done(&r);
    }
}

static void test_normalised_valid(void **state)
{
    static const struct ok_case cases[] = {
        {"busybox", "docker.io", "library/busybox", NULL, NULL, "docker.io/library/busybox",
         "busybox"},
        {"busybox:latest", "docker.io", "library/busybox", "latest", NULL,
         "docker.io/library/busybox:latest", "busybox:latest"},
        {"library/busybox", "docker.io", "library/busybox", NULL, NULL,
         "docker.io/library/busybox", "busybox"},
        {"docker.io/busybox", "docker.io", "library/busybox", NULL, NULL,
         "docker.io/library/busybox", "busybox"},
        {"index.docker.io/busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
         "docker.io/library/busybox:1.36", "busybox:1.36"},
        {"index.docker.io/docker/docker", "docker.io", "docker/docker", NULL, NULL,
         "docker.io/docker/docker", "docker/docker"},
        {"docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL,
         "docker.io/library/busybox:latest", "busybox:latest"},
        {"user/repo", "docker.io", "user/repo", NULL, NULL, "docker.io/user/repo", "user/repo"},
        {"dmcgowan/myapp:latest", "docker.io", "dmcgowan/myapp", "latest", NULL,
         "docker.io/dmcgowan/myapp:latest", "dmcgowan/myapp:latest"},
        {"docker.io/library/foo/bar", "docker.io", "library/foo/bar", NULL, NULL,
         "docker.io/library/foo/bar", "library/foo/bar"},
        {"other/library", "docker.io", "other/library", NULL, NULL, "docker.io/other/library",
         "other/library"},
        {"test_com/foo", "docker.io", "test_com/foo", NULL, NULL, "docker.io/test_com/foo",
         "test_com/foo"},
        {"ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", NULL, NULL,
         "docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base"},
        /* localhost is always a registry, but alone it is an image name. */
        {"localhost/fooo/bar", "localhost", "fooo/bar", NULL, NULL, "localhost/fooo/bar",
         "localhost/fooo/bar"},
        {"localhost:5000/foo/bar:v1", "localhost:5000", "foo/bar", "v1", NULL,
         "localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1"},
        {"localhost", "docker.io", "library/localhost", NULL, NULL, "docker.io/library/localhost",
         "localhost"},
        {"localhost:5000", "docker.io", "library/localhost", "5000", NULL,
         "docker.io/library/localhost:5000", "localhost:5000"},
        /* Hosts with ports. */
        {"127.0.0.1:5000/x/y", "127.0.0.1:5000", "x/y", NULL, NULL, "127.0.0.1:5000/x/y",
         "127.0.0.1:5000/x/y"},
        {"127.0.0.1:5000/x:1", "127.0.0.1:5000", "x", "1", NULL, "127.0.0.1:5000/x:1",
         "127.0.0.1:5000/x:1"},
        {"192.168.0.1:8/debian", "192.168.0.1:8", "debian", NULL, NULL, "192.168.0.1:8/debian",
         NULL},
        {"example.com:8000/private/moonbase", "example.com:8000", "private/moonbase", NULL, NULL,
         "example.com:8000/private/moonbase", "example.com:8000/private/moonbase"},
        {"test-com:8080/foo", "test-com:8080", "foo", NULL, NULL, "test-com:8080/foo", NULL},
        {"xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", NULL, NULL,
         "xn--n3h.com:18080/foo", NULL},
        /* Without a slash an address is an image name and the port a tag. */
        {"192.168.0.1", "docker.io", "library/192.168.0.1", NULL, NULL,
         "docker.io/library/192.168.0.1", "192.168.0.1"},
        {"192.168.0.1:80", "docker.io", "library/192.168.0.1", "80", NULL,
         "docker.io/library/192.168.0.1:80", "192.168.0.1:80"},
        /* IPv6 in brackets. */
        {"[::1]:5000/repo", "[::1]:5000", "repo", NULL, NULL, "[::1]:5000/repo",
         "[::1]:5000/repo"},
        {"[2001:db8::1]/repo:tag", "[2001:db8::1]", "repo", "tag", NULL, "[2001:db8::1]/repo:tag",
         NULL},
        {"[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000",
         "library/debian", NULL, NULL, "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
         "[fc00:1:2:3:4:5:6:7]:5000/library/debian"},
        {"[2001:db8::1]:5000/repo:tag@" D64, "[2001:db8::1]:5000", "repo", "tag", D64,
         "[2001:db8::1]:5000/repo:tag@" D64, NULL},
        /* An uppercase first component is a registry. */
        {"LOCALDOMAIN/fooo/bar", "LOCALDOMAIN", "fooo/bar", NULL, NULL, "LOCALDOMAIN/fooo/bar",
         "LOCALDOMAIN/fooo/bar"},
        {"Foo/bar", "Foo", "bar", NULL, NULL, "Foo/bar", "Foo/bar"},
        /* Digests, and a tag with a digest (both kept). */
        {"busybox@" BB, "docker.io", "library/busybox", NULL, BB, "docker.io/library/busybox@" BB,
         "busybox@" BB},
        {"busybox:latest@" BB, "docker.io", "library/busybox", "latest", BB,
         "docker.io/library/busybox:latest@" BB, "busybox:latest@" BB},
        {"user/x@" D64, "docker.io", "user/x", NULL, D64, "docker.io/user/x@" D64, "user/x@" D64},
        {"gcr.io/library/busybox:latest@" BB, "gcr.io", "library/busybox", "latest", BB,
         "gcr.io/library/busybox:latest@" BB, "gcr.io/library/busybox:latest@" BB},
        {"foo@sha512:" HEX128, "docker.io", "library/foo", NULL, "sha512:" HEX128,
         "docker.io/library/foo@sha512:" HEX128, NULL},
        {"xn--7o8h.com/myimage:xn--7o8h.com@" D64, "xn--7o8h.com", "myimage", "xn--7o8h.com", D64,
         "xn--7o8h.com/myimage:xn--7o8h.com@" D64, NULL},
        /* Path and tag spellings. */
        {"sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux",
         "some-long-tag", NULL, "sub-dom1.foo.com/bar/baz/quux:some-long-tag", NULL},
        {"b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io",
         "test.example.com/my-app", "test.example.com", NULL,
         "b.gcr.io/test.example.com/my-app:test.example.com", NULL},
        {"docker---rules/docker", "docker.io", "docker---rules/docker", NULL, NULL,
         "docker.io/docker---rules/docker", NULL},
        {"dock__er/docker", "docker.io", "dock__er/docker", NULL, NULL,
         "docker.io/dock__er/docker", NULL},
        {"d/docker", "docker.io", "d/docker", NULL, NULL, "docker.io/d/docker", NULL},
        {"jess/t", "docker.io", "jess/t", NULL, NULL, "docker.io/jess/t", NULL},
        {"lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", NULL,
         "docker.io/library/lowercase:Uppercase", NULL},
        {"thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io",
         "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", NULL, NULL,
         "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
         NULL},
        /* "sha256:<hex>" as a name is image sha256 with a 64-char tag. */
        {"sha256:" ID, "docker.io", "library/sha256", ID, NULL, "docker.io/library/sha256:" ID,
         NULL},
    };
    check_ok_cases(bt_ref_parse, cases, sizeof(cases) / sizeof(cases[0]), true);
}

/* Corners whose familiar form does not parse back to the same reference,
 * as in Docker. */
static void test_normalised_corners(void **state)
{
    static const struct ok_case cases[] = {
        /* A 64-hex path is allowed behind a registry, but its familiar form
         * is an image ID. */
        {"docker.io/" ID, "docker.io", "library/" ID, NULL, NULL, "docker.io/library/" ID, ID},
        /* A first component with a '.' that is no valid host stays in the path,
         * and the reference has no domain at all. */
        {"a_b.c/d", "", "a_b.c/d", NULL, NULL, "a_b.c/d", "a_b.c/d"},
        /* Familiar names drop docker.io, so a path that starts like a host
         * turns into a registry when read back. */
        {"docker.io/foo.bar/baz", "docker.io", "foo.bar/baz", NULL, NULL,
         "docker.io/foo.bar/baz", "foo.bar/baz"},
    };
    struct bt_ref r, fam;

    check_ok_cases(bt_ref_parse, cases, sizeof(cases) / sizeof(cases[0]), false);

    expect_error(bt_ref_parse, ID,
                 "invalid repository name (" ID "), cannot specify 64-byte hexadecimal strings");
    parse_ok(bt_ref_parse, "docker.io/foo.bar/baz", &r);
    parse_ok(bt_ref_parse, "foo.bar/baz", &fam);
    assert_string_equal(fam.domain, "foo.bar");
    assert_false(bt_ref_equal(&r, &fam));
    assert_null(bt_ref_registry_host(&(struct bt_ref){"", "a_b.c/d", NULL, NULL}));
    bt_ref_done(&r);
    bt_ref_done(&fam);
}

struct err_case {
    const char *in, *msg;
};

static void check_err_cases(parse_fn parse, const struct err_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_error(parse, c[i].in, c[i].msg);
}

static void test_normalised_invalid(void **state)
{
    static const struct err_case cases[] = {
        {"", "invalid reference format"},
        {":justtag", "invalid reference format"},
        {"@" D64, "invalid reference format"},
        {"https://github.com/docker/docker", "invalid reference format"},
        {"-docker", "invalid reference format"},
        {"-docker/docker", "invalid reference format"},
        {"-docker.io/docker/docker", "invalid reference format"},
        {"docker-/docker", "invalid reference format"},
        {"-docker-/docker", "invalid reference format"},
        {"docker///docker", "invalid reference format"},
        {"docker.io/docker///docker", "invalid reference format"},
        {"____/____", "invalid reference format"},
        {"_docker/_docker", "invalid reference format"},
        {"dock..er/docker", "invalid reference format"},
        {"dock_.er/docker", "invalid reference format"},
        {"dock-.er/docker", "invalid reference format"},
        {"dock___er/docker", "invalid reference format"},
        {"docker/", "invalid reference format"},
        {"aa/asdf$$^/aa", "invalid reference format"},
        {"[fc00::1]", "invalid reference format"},
        {"[fc00::1]:5000", "invalid reference format"},
        {"fc00::1:5000/debian", "invalid reference format"},
        {"[fe80::1%eth0]:5000/debian", "invalid reference format"},
        {"[2001:db8:3:4::192.0.2.33]:5000/debian", "invalid reference format"},
        {"[]:5000/debian", "invalid reference format"},
        {"example.com:/x", "invalid reference format"},
        {"example.com:50a/x", "invalid reference format"},
        {"busybox:", "invalid reference format"},
        {"busybox:-tag", "invalid reference format"},
        {"busybox:ta g", "invalid reference format"},
        {"busybox@", "invalid reference format"},
        {"busybox@sha256:abc", "invalid reference format"}, /* under 32 hex */
        {"busybox@sha256:" HEX64 "@" D64, "invalid reference format"},
        {"busybox:a:b", "invalid reference format"},
        {"a/b:c/d", "invalid reference format"},
        {"busybox latest", "invalid reference format"},
        /* The lowercase rule, with the remote name in the message. */
        {"Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"},
        {"BUSYBOX:latest",
         "invalid reference format: repository name (library/BUSYBOX) must be lowercase"},
        {"docker/Docker", "invalid reference format: repository name (docker/Docker) must be lowercase"},
        {"docker.io/docker/Docker",
         "invalid reference format: repository name (docker/Docker) must be lowercase"},
        {"test:5000/Uppercase/lowercase:tag",
         "invalid reference format: repository name (Uppercase/lowercase) must be lowercase"},
        {"127.0.0.1:5000/X/y", "invalid reference format: repository name (X/y) must be lowercase"},
        /* Everything before the first ':' counts as the name, digest included. */
        {"Foo@" D64, "invalid reference format: repository name (library/Foo@sha256) must be lowercase"},
        /* A registry-looking first component that is no host: Parse's words. */
        {"FOO_x/bar", "repository name must be lowercase"},
        /* Digests: go-digest's words. */
        {"repo@sha256:ffffffffffffffffffffffffffffffffff", "invalid checksum digest length"},
        {"repo@sha256:" HEX64 "ff", "invalid checksum digest length"},
        {"validname@invaliddigest:" HEX64, "unsupported digest algorithm"},
        {"validname@md5:" HEX64, "unsupported digest algorithm"},
        {"validname:tag@SHA256:" HEX64, "invalid checksum digest format"},
        /* Without a tag the algorithm falls before the first ':' and so into
         * the name that must be lowercase. */
        {"validname@SHA256:" HEX64,
         "invalid reference format: repository name (library/validname@SHA256) must be lowercase"},
        {"validname@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
         "invalid checksum digest format"},
        {"validname@sha384:" HEX64, "invalid checksum digest length"},
    };
    check_err_cases(bt_ref_parse, cases, sizeof(cases) / sizeof(cases[0]));
}

static char *repeat(const char *unit, size_t times, const char *prefix, const char *suffix)
{
    size_t ul = strlen(unit), pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + ul * times + sl + 1);

    assert_non_null(s);
    memcpy(s, prefix, pl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + pl + i * ul, unit, ul);
    memcpy(s + pl + ul * times, suffix, sl + 1);
    return s;
}

static void test_length_limit(void **state)
{
    struct bt_ref r;
    char *s;

    /* 255 bytes of path are fine, 256 are not. */
    s = repeat("a", 255, "example.com/", ":tag");
    parse_ok(bt_ref_parse, s, &r);
    assert_int_equal(strlen(r.path), 255);
    bt_ref_done(&r);
    free(s);
    s = repeat("a", 256, "example.com/", "");
    expect_error(bt_ref_parse, s, "repository name must not be more than 255 characters");
    free(s);
    /* "library/" counts: a 248-byte official name is the longest. */
    s = repeat("a", 247, "", "");
    parse_ok(bt_ref_parse, s, &r);
    bt_ref_done(&r);
    free(s);
    s = repeat("a", 248, "", ":latest");
    expect_error(bt_ref_parse, s, "repository name must not be more than 255 characters");
    free(s);
    /* Docker counts the path only, not the registry. */
    s = repeat("abcdefghij.", 30, "", "com/x:1");
    parse_ok(bt_ref_parse, s, &r);
    assert_int_equal(strlen(r.domain), 333);
    assert_string_equal(r.path, "x");
    expect_round_trip(bt_ref_parse, s, &r);
    bt_ref_done(&r);
    free(s);
    s = repeat("b/", 130, "a.com/", "c");
    expect_error(bt_ref_parse, s, "repository name must not be more than 255 characters");
    free(s);
    /* Tags up to 128 bytes. */
    s = repeat("t", 128, "busybox:", "");
    parse_ok(bt_ref_parse, s, &r);
    assert_int_equal(strlen(r.tag), 128);
    bt_ref_done(&r);
    free(s);
    s = repeat("t", 129, "busybox:", "");
    expect_error(bt_ref_parse, s, "invalid reference format");
    free(s);
}

/* Docker's plain Parse, examples from its own test table. */
static void test_raw(void **state)
{
    static const struct ok_case cases[] = {
        {"test_com", "", "test_com", NULL, NULL, "test_com", NULL},
        {"test.com:tag", "", "test.com", "tag", NULL, "test.com:tag", NULL},
        {"test.com:5000", "", "test.com", "5000", NULL, "test.com:5000", NULL},
        {"test.com/repo:tag", "test.com", "repo", "tag", NULL, "test.com/repo:tag", NULL},
        {"test:5000/repo", "test:5000", "repo", NULL, NULL, "test:5000/repo", NULL},
        {"test:5000/repo:tag@" D64, "test:5000", "repo", "tag", D64, "test:5000/repo:tag@" D64,
         NULL},
        {"foo_bar.com:8080", "", "foo_bar.com", "8080", NULL, "foo_bar.com:8080", NULL},
        {"foo/foo_bar.com:8080", "foo", "foo_bar.com", "8080", NULL, "foo/foo_bar.com:8080", NULL},
        {"192.168.1.1", "", "192.168.1.1", NULL, NULL, "192.168.1.1", NULL},
        {"192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", NULL,
         "192.168.1.1:5000/repo:5050", NULL},
        {"[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", NULL, NULL,
         "[2001:db8::]:5000/repo", NULL},
        {"docker.io/busybox", "docker.io", "busybox", NULL, NULL, "docker.io/busybox",
         "busybox"},
        {"index.docker.io/library/x", "index.docker.io", "library/x", NULL, NULL,
         "index.docker.io/library/x", NULL},
    };
    static const struct err_case errs[] = {
        {"", "repository name must have at least one component"},
        {":justtag", "invalid reference format"},
        {"@" D64, "invalid reference format"},
        {"Uppercase:tag", "repository name must be lowercase"},
        {"test:5000/Uppercase/lowercase:tag", "repository name must be lowercase"},
        {"[2001:db8::1]", "invalid reference format"},
        {"[2001:db8::1]:5000", "invalid reference format"},
        {"[2001:db8::1]:tag", "invalid reference format"},
        {"[fe80::1%@invalidzone]:5000/repo", "invalid reference format"},
        {"repo@sha256:ffffffffffffffffffffffffffffffffff", "invalid checksum digest length"},
        {"validname@invaliddigest:" HEX64, "unsupported digest algorithm"},
    };
    struct bt_ref r;
    char *s;

    check_ok_cases(bt_ref_parse_raw, cases, sizeof(cases) / sizeof(cases[0]), false);
    check_err_cases(bt_ref_parse_raw, errs, sizeof(errs) / sizeof(errs[0]));

    s = repeat("a/", 127, "", "a:tag-puts-this-over-max");
    parse_ok(bt_ref_parse_raw, s, &r);
    assert_string_equal(r.domain, "a");
    assert_int_equal(strlen(r.path), 253);
    bt_ref_done(&r);
    free(s);
    s = repeat("a", 256, "domain/", ":tag");
    expect_error(bt_ref_parse_raw, s, "repository name must not be more than 255 characters");
    free(s);
}

/* Docker's ParseAnyReference: IDs and digests without a name. */
static void test_parse_any(void **state)
{
    static const struct ok_case cases[] = {
        {"redis", "docker.io", "library/redis", NULL, NULL, "docker.io/library/redis", "redis"},
        {"dmcgowan/myapp@" D64, "docker.io", "dmcgowan/myapp", NULL, D64,
         "docker.io/dmcgowan/myapp@" D64, "dmcgowan/myapp@" D64},
        {ID, NULL, NULL, NULL, "sha256:" ID, "sha256:" ID, "sha256:" ID},
        {"sha256:" ID, NULL, NULL, NULL, "sha256:" ID, "sha256:" ID, "sha256:" ID},
        {"sha512:" HEX128, NULL, NULL, NULL, "sha512:" HEX128, "sha512:" HEX128, NULL},
        /* 63 hex is a name. */
        {"dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "docker.io",
         "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", NULL, NULL,
         "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", NULL},
        {"dbcc1", "docker.io", "library/dbcc1", NULL, NULL, "docker.io/library/dbcc1", "dbcc1"},
    };
    struct bt_ref r;

    check_ok_cases(bt_ref_parse_any, cases, sizeof(cases) / sizeof(cases[0]), true);
    expect_error(bt_ref_parse_any, "Redis", "invalid reference format: repository name (library/Redis) must be lowercase");

    parse_ok(bt_ref_parse_any, ID, &r);
    assert_true(bt_ref_is_digest_only(&r));
    assert_null(bt_ref_name(&r));
    assert_null(bt_ref_familiar_name(&r));
    assert_null(bt_ref_registry_host(&r));
    assert_int_equal(bt_ref_default_tag(&r), 0);
    assert_null(r.tag);
    assert_int_equal(bt_ref_set_tag(&r, "x", NULL), -1);
    bt_ref_done(&r);
    parse_ok(bt_ref_parse_any, "busybox@" BB, &r);
    assert_false(bt_ref_is_digest_only(&r));
    bt_ref_done(&r);
}

static void test_names_and_hosts(void **state)
{
    static const struct {
        const char *in, *name, *familiar_name, *host;
    } cases[] = {
        {"busybox:latest", "docker.io/library/busybox", "busybox", "registry-1.docker.io"},
        {"user/x@" D64, "docker.io/user/x", "user/x", "registry-1.docker.io"},
        {"docker.io/library/a/b", "docker.io/library/a/b", "library/a/b", "registry-1.docker.io"},
        {"127.0.0.1:5000/x:1", "127.0.0.1:5000/x", "127.0.0.1:5000/x", "127.0.0.1:5000"},
        {"[::1]:5000/x/y:z", "[::1]:5000/x/y", "[::1]:5000/x/y", "[::1]:5000"},
        {"localhost/x", "localhost/x", "localhost/x", "localhost"},
        {"quay.io/coreos/etcd", "quay.io/coreos/etcd", "quay.io/coreos/etcd", "quay.io"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bt_ref r;

        parse_ok(bt_ref_parse, cases[i].in, &r);
        expect_owned(cases[i].in, "name", bt_ref_name(&r), cases[i].name);
        expect_owned(cases[i].in, "familiar name", bt_ref_familiar_name(&r),
                     cases[i].familiar_name);
        expect_field(cases[i].in, "host", bt_ref_registry_host(&r), cases[i].host);
        bt_ref_done(&r);
    }
    /* The legacy hub name, kept by a plain parse, still goes to the hub. */
    struct bt_ref raw;
    parse_ok(bt_ref_parse_raw, "index.docker.io/library/x", &raw);
    assert_string_equal(bt_ref_registry_host(&raw), "registry-1.docker.io");
    bt_ref_done(&raw);
}

static void test_default_tag(void **state)
{
    static const struct {
        const char *in, *out;
        int added;
    } cases[] = {
        {"busybox", "docker.io/library/busybox:latest", 1},
        {"busybox:1", "docker.io/library/busybox:1", 0},
        {"busybox@" BB, "docker.io/library/busybox@" BB, 0},
        {"busybox:1@" BB, "docker.io/library/busybox:1@" BB, 0},
        {"gcr.io/library/busybox", "gcr.io/library/busybox:latest", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bt_ref r;

        parse_ok(bt_ref_parse, cases[i].in, &r);
        assert_int_equal(bt_ref_default_tag(&r), cases[i].added);
        expect_owned(cases[i].in, "string", bt_ref_string(&r), cases[i].out);
        bt_ref_done(&r);
    }
}

/* POST /images/create?fromImage=X&tag=Y, as dockerd combines them. */
static void test_tag_or_digest(void **state)
{
    static const struct {
        const char *image, *tag, *out, *err;
    } cases[] = {
        {"busybox", "1.36", "docker.io/library/busybox:1.36", NULL},
        {"busybox:old", "new", "docker.io/library/busybox:new", NULL},
        {"busybox", "", "docker.io/library/busybox", NULL},
        {"busybox", NULL, "docker.io/library/busybox", NULL},
        {"busybox", BB, "docker.io/library/busybox@" BB, NULL},
        /* A digest drops the tag; a tag keeps the digest. */
        {"busybox:1", BB, "docker.io/library/busybox@" BB, NULL},
        {"busybox@" D64, BB, "docker.io/library/busybox@" BB, NULL},
        {"busybox@" BB, "v2", "docker.io/library/busybox:v2@" BB, NULL},
        {"127.0.0.1:5000/x", "UPPER_ok.1-2", "127.0.0.1:5000/x:UPPER_ok.1-2", NULL},
        /* Not a valid digest, so it is taken as a tag, and refused as one. */
        {"busybox", "sha256:abc", NULL, "invalid tag format"},
        {"busybox", "md5:" HEX64, NULL, "invalid tag format"},
        {"busybox", "-x", NULL, "invalid tag format"},
        {"busybox", ".x", NULL, "invalid tag format"},
        {"busybox", "a/b", NULL, "invalid tag format"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bt_err *err = NULL;
        struct bt_ref r;
        int rc;

        parse_ok(bt_ref_parse, cases[i].image, &r);
        rc = bt_ref_set_tag_or_digest(&r, cases[i].tag, &err);
        if (cases[i].err) {
            assert_int_equal(rc, -1);
            assert_non_null(err);
            expect_field(cases[i].image, "error", err->msg, cases[i].err);
            bt_err_free(err);
        } else {
            if (rc < 0)
                fail_msg("%s + %s: %s", cases[i].image, cases[i].tag, err->msg);
            expect_owned(cases[i].image, "string", bt_ref_string(&r), cases[i].out);
        }
        bt_ref_done(&r);
    }
}

static void test_set_tag_and_digest(void **state)
{
    struct bt_err *err = NULL;
    struct bt_ref r, copy;
    char *s;

    parse_ok(bt_ref_parse, "test.com:8000/foo", &r);
    assert_int_equal(bt_ref_set_tag(&r, "TAG5", &err), 0);
    assert_int_equal(bt_ref_set_digest(&r, D64, &err), 0);
    s = bt_ref_string(&r);
    assert_string_equal(s, "test.com:8000/foo:TAG5@" D64);
    free(s);
    assert_int_equal(bt_ref_set_tag(&r, "-foo", &err), -1);
    assert_string_equal(err->msg, "invalid tag format");
    bt_err_free(err);
    err = NULL;
    assert_int_equal(bt_ref_set_digest(&r, "foo", &err), -1);
    assert_string_equal(err->msg, "invalid checksum digest format");
    bt_err_free(err);
    err = NULL;
    /* Failures leave the reference as it was. */
    assert_string_equal(r.tag, "TAG5");
    assert_string_equal(r.digest, D64);

    assert_int_equal(bt_ref_copy(&r, &copy), 0);
    assert_true(bt_ref_equal(&r, &copy));
    assert_ptr_not_equal(r.path, copy.path);
    bt_ref_done(&copy);
    bt_ref_done(&r);
    bt_ref_done(&r); /* twice is harmless */
    bt_ref_done(NULL);
}

static void test_digest_check(void **state)
{
    static const struct {
        const char *in, *err;
    } cases[] = {
        {D64, NULL},
        {"sha384:" HEX64 "ffffffffffffffffffffffffffffffff", NULL},
        {"sha512:" HEX128, NULL},
        {"sha256:" HEX64 "0", "invalid checksum digest length"},
        {"sha512:" HEX64, "invalid checksum digest length"},
        {"sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
         "invalid checksum digest format"},
        {"sha256:gfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
         "invalid checksum digest format"},
        {"sha256:", "invalid checksum digest format"},
        {"sha256", "invalid checksum digest format"},
        {"", "invalid checksum digest format"},
        {":abc", "invalid checksum digest format"},
        {"md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported digest algorithm"},
        {"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "unsupported digest algorithm"},
        {"multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
         "unsupported digest algorithm"},
        {"SHA256:abc", "invalid checksum digest format"},
        {"foo:a:b", "invalid checksum digest format"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bt_err *err = NULL;
        int rc = bt_ref_digest_check(cases[i].in, &err);

        if (!cases[i].err) {
            if (rc < 0)
                fail_msg("%s: %s", cases[i].in, err->msg);
            continue;
        }
        if (rc == 0)
            fail_msg("%s: accepted", cases[i].in);
        expect_field(cases[i].in, "error", err->msg, cases[i].err);
        assert_int_equal(err->code, BT_EINVAL);
        bt_err_free(err);
    }
}

static void test_looks_like_id_and_tags(void **state)
{
    assert_true(bt_ref_looks_like_id(ID));
    assert_true(bt_ref_looks_like_id("sha256:" ID));
    assert_false(bt_ref_looks_like_id("sha256:" ID "0"));
    assert_false(bt_ref_looks_like_id("DBCC1C35AC38DF41FD2F5E4130B32FFDB93EBAE8B3DBE638C23575912276FC9C"));
    assert_false(bt_ref_looks_like_id("dbcc1c35ac38"));
    assert_false(bt_ref_looks_like_id("sha512:" ID));
    assert_false(bt_ref_looks_like_id(""));
    assert_false(bt_ref_looks_like_id("busybox"));

    assert_true(bt_ref_tag_valid("latest"));
    assert_true(bt_ref_tag_valid("_"));
    assert_true(bt_ref_tag_valid("1.0-RC_2"));
    assert_false(bt_ref_tag_valid(""));
    assert_false(bt_ref_tag_valid(NULL));
    assert_false(bt_ref_tag_valid("-x"));
    assert_false(bt_ref_tag_valid("a:b"));
    assert_false(bt_ref_tag_valid("a@b"));
    assert_false(bt_ref_tag_valid("\xc3\xa9"));
}

/* Go's strings.ToLower sees Unicode and replaces invalid UTF-8, so does the
 * lowercase rule, and the message stays valid UTF-8. */
static void test_unicode(void **state)
{
    static const struct err_case cases[] = {
        /* Uppercase A with diaeresis: "must be lowercase". */
        {"b\xc3\x84r", "invalid reference format: repository name (library/b\xc3\x84r) must be lowercase"},
        /* Lowercase a with diaeresis: just a bad format. */
        {"b\xc3\xa4r", "invalid reference format"},
        /* A byte that is not UTF-8 counts as uppercase and shows as U+FFFD. */
        {"b\xffr", "invalid reference format: repository name (library/b\xef\xbf\xbdr) must be lowercase"},
        /* KELVIN SIGN lowercases to 'k': a tag that only lowercasing fixes. */
        {"foo:\xe2\x84\xaa", "repository name must be lowercase"},
        {"foo:\xc3\xa9", "invalid reference format"},
    };
    check_err_cases(bt_ref_parse, cases, sizeof(cases) / sizeof(cases[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalised_valid),
        cmocka_unit_test(test_normalised_corners),
        cmocka_unit_test(test_normalised_invalid),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_parse_any),
        cmocka_unit_test(test_names_and_hosts),
        cmocka_unit_test(test_default_tag),
        cmocka_unit_test(test_tag_or_digest),
        cmocka_unit_test(test_set_tag_and_digest),
        cmocka_unit_test(test_digest_check),
        cmocka_unit_test(test_looks_like_id_and_tags),
        cmocka_unit_test(test_unicode),
    };
    return cmocka_run_group_tests_name("reference", tests, NULL, NULL);
}
