#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/err.h"
#include "berth/registry.h"

/* ---- WWW-Authenticate ---------------------------------------------------------- */

static void test_challenge_bearer(void **state)
{
    struct bt_reg_challenge *c = NULL;
    size_t n = 0;

    assert_int_equal(
        bt_reg_challenges_parse(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
            "scope=\"repository:library/busybox:pull,push\"",
            &c, &n),
        0);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].scheme, BT_REG_AUTH_BEARER);
    assert_string_equal(c[0].realm, "https://auth.docker.io/token");
    assert_string_equal(c[0].service, "registry.docker.io");
    /* The comma inside the quotes belongs to the value. */
    assert_string_equal(c[0].scope, "repository:library/busybox:pull,push");
    assert_null(c[0].error);
    bt_reg_challenges_free(c, n);
}

static void test_challenge_several(void **state)
{
    struct bt_reg_challenge *c = NULL;
    size_t n = 0;

    /* Two header lines joined with ", ", odd spacing, case and an escaped quote. */
    assert_int_equal(bt_reg_challenges_parse("Basic realm=\"Registry \\\"Realm\\\"\" , "
                                             "bearer  REALM = \"http://127.0.0.1:1/t?a=b,c\" ,"
                                             "service=svc, error=insufficient_scope, "
                                             "Negotiate",
                                             &c, &n),
                     0);
    assert_int_equal(n, 3);
    assert_int_equal(c[0].scheme, BT_REG_AUTH_BASIC);
    assert_string_equal(c[0].realm, "Registry \"Realm\"");
    assert_int_equal(c[1].scheme, BT_REG_AUTH_BEARER);
    assert_string_equal(c[1].realm, "http://127.0.0.1:1/t?a=b,c");
    assert_string_equal(c[1].service, "svc");
    assert_string_equal(c[1].error, "insufficient_scope");
    assert_null(c[1].scope);
    assert_int_equal(c[2].scheme, BT_REG_AUTH_OTHER);
    bt_reg_challenges_free(c, n);
}

static void test_challenge_malformed(void **state)
{
    struct bt_reg_challenge *c = NULL;
    size_t n = 99;

    assert_int_equal(bt_reg_challenges_parse("Bearer realm=\"unterminated", &c, &n), -EINVAL);
    assert_int_equal(bt_reg_challenges_parse("Bearer realm=", &c, &n), -EINVAL);
    assert_int_equal(bt_reg_challenges_parse("\"quoted\" realm=x", &c, &n), -EINVAL);
    assert_int_equal(bt_reg_challenges_parse("", &c, &n), 0);
    assert_int_equal(n, 0);
    bt_reg_challenges_free(c, n);
}

/* ---- X-Registry-Auth ----------------------------------------------------------- */

/* base64url of s, with or without padding. */
static char *b64url(const char *s, bool pad)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s), o = 0;
    char *out = calloc(n / 3 * 4 + 8, 1);

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        size_t k = n - i < 3 ? n - i : 3;
        if (k > 1)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (k > 2)
            v |= (unsigned char)s[i + 2];
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = k > 1 ? a[(v >> 6) & 63] : '=';
        out[o++] = k > 2 ? a[v & 63] : '=';
    }
    if (!pad)
        while (o > 0 && out[o - 1] == '=')
            out[--o] = '\0';
    return out;
}

static struct bt_reg_creds *decode_ok(const char *value)
{
    struct bt_reg_creds *c = NULL;
    struct bt_err *err = NULL;

    if (bt_reg_creds_decode(value, &c, &err) < 0)
        fail_msg("decode %s: %s", value, err->msg);
    return c;
}

static void check_decode(const char *json, bool pad)
{
    char *v = b64url(json, pad);
    struct bt_reg_creds *c = decode_ok(v);

    assert_string_equal(c->username, "jo");
    /* "?>?" and "~~~" give '-' and '_' in base64url. */
    assert_string_equal(c->password, "p?>?w~~~d");
    assert_string_equal(c->serveraddress, "127.0.0.1:5000");
    assert_null(c->identitytoken);
    assert_false(bt_reg_creds_empty(c));
    bt_reg_creds_free(c);
    free(v);
}

static void test_creds_padded_and_unpadded(void **state)
{
    /* Lengths that need one and two padding characters. */
    const char *j1 = "{\"username\":\"jo\",\"password\":\"p?>?w~~~d\",\"serveraddress\":"
                     "\"127.0.0.1:5000\"}";
    const char *j2 = "{\"username\":\"jo\",\"password\":\"p?>?w~~~d\",\"serveraddress\":"
                     "\"127.0.0.1:5000\" }";
    const char *j3 = "{\"Username\":\"jo\",\"PASSWORD\":\"p?>?w~~~d\",\"serveraddress\":"
                     "\"127.0.0.1:5000\",\"email\":\"\"}";

    check_decode(j1, true);
    check_decode(j1, false);
    check_decode(j2, true);
    check_decode(j2, false);
    check_decode(j3, true); /* keys in any case, as Go matches them */
    check_decode(j3, false);
}

static void test_creds_auth_field(void **state)
{
    /* auth = base64("alice:se:cret"): the password keeps its colon. */
    char *v = b64url("{\"auth\":\"YWxpY2U6c2U6Y3JldA==\"}", true);
    struct bt_reg_creds *c = decode_ok(v);

    assert_string_equal(c->username, "alice");
    assert_string_equal(c->password, "se:cret");
    bt_reg_creds_free(c);
    free(v);

    /* Explicit username and password win over auth. */
    v = b64url("{\"username\":\"bob\",\"password\":\"pw\",\"auth\":\"YWxpY2U6c2U6Y3JldA==\"}",
               false);
    c = decode_ok(v);
    assert_string_equal(c->username, "bob");
    assert_string_equal(c->password, "pw");
    bt_reg_creds_free(c);
    free(v);

    v = b64url("{\"identitytoken\":\"idt\",\"registrytoken\":\"rt\"}", false);
    c = decode_ok(v);
    assert_string_equal(c->identitytoken, "idt");
    assert_string_equal(c->registrytoken, "rt");
    assert_null(c->username);
    assert_false(bt_reg_creds_empty(c));
    bt_reg_creds_free(c);
    free(v);
}

static void test_creds_empty_and_bad(void **state)
{
    struct bt_reg_creds *c = decode_ok("e30=");
    struct bt_err *err = NULL;

    assert_true(bt_reg_creds_empty(c));
    bt_reg_creds_free(c);
    c = decode_ok("e30");
    assert_true(bt_reg_creds_empty(c));
    bt_reg_creds_free(c);
    c = decode_ok("");
    assert_true(bt_reg_creds_empty(c));
    bt_reg_creds_free(c);
    assert_true(bt_reg_creds_empty(NULL));

    c = NULL;
    assert_int_equal(bt_reg_creds_decode("!!!!", &c, &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    assert_null(c);
    bt_err_free(err);
    err = NULL;
    /* "[]" is JSON but not an object; a number where a string belongs is refused. */
    assert_int_equal(bt_reg_creds_decode("W10=", &c, &err), -1);
    bt_err_free(err);
    err = NULL;
    char *v = b64url("{\"username\":5}", false);
    assert_int_equal(bt_reg_creds_decode(v, &c, &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    bt_err_free(err);
    free(v);
    err = NULL;
    /* auth without a colon. */
    v = b64url("{\"auth\":\"bm9jb2xvbg==\"}", true);
    assert_int_equal(bt_reg_creds_decode(v, &c, &err), -1);
    bt_err_free(err);
    free(v);
}

static void test_creds_dup(void **state)
{
    char *v = b64url("{\"username\":\"u\",\"password\":\"p\"}", true);
    struct bt_reg_creds *c = decode_ok(v), *d = bt_reg_creds_dup(c);

    assert_non_null(d);
    assert_ptr_not_equal(d->username, c->username);
    assert_string_equal(d->username, "u");
    assert_string_equal(d->password, "p");
    assert_null(d->registrytoken);
    assert_null(bt_reg_creds_dup(NULL));
    bt_reg_creds_free(c);
    bt_reg_creds_free(d);
    free(v);
}

/* ---- endpoints ------------------------------------------------------------------ */

static void test_loopback(void **state)
{
    assert_true(bt_reg_host_is_loopback("127.0.0.1:5000"));
    assert_true(bt_reg_host_is_loopback("127.1.2.3"));
    assert_true(bt_reg_host_is_loopback("localhost:5000"));
    assert_true(bt_reg_host_is_loopback("LOCALHOST"));
    assert_true(bt_reg_host_is_loopback("[::1]:5000"));
    assert_true(bt_reg_host_is_loopback("::1"));
    assert_false(bt_reg_host_is_loopback("128.0.0.1:5000"));
    assert_false(bt_reg_host_is_loopback("10.0.0.1"));
    assert_false(bt_reg_host_is_loopback("localhost.example.com"));
    assert_false(bt_reg_host_is_loopback("127.example.com"));
    assert_false(bt_reg_host_is_loopback("[::2]:5000"));
    assert_false(bt_reg_host_is_loopback("docker.io"));
}

static void test_insecure(void **state)
{
    const char *list[] = {"myreg:5000", "10.0.0.0/8", "http://plain.example/", "fd00::/8",
                          "bad/cidr/99"};
    size_t n = sizeof(list) / sizeof(list[0]);

    assert_true(bt_reg_host_insecure("myreg:5000", list, n));
    assert_true(bt_reg_host_insecure("MYREG:5000", list, n));
    assert_false(bt_reg_host_insecure("myreg:5001", list, n));
    assert_false(bt_reg_host_insecure("myreg", list, n));
    assert_true(bt_reg_host_insecure("10.1.2.3:5000", list, n));
    assert_true(bt_reg_host_insecure("10.255.255.255", list, n));
    assert_false(bt_reg_host_insecure("11.0.0.1", list, n));
    assert_true(bt_reg_host_insecure("plain.example", list, n));
    assert_true(bt_reg_host_insecure("[fd00::1]:5000", list, n));
    assert_false(bt_reg_host_insecure("[fe80::1]:5000", list, n));
    assert_true(bt_reg_host_insecure("127.0.0.1:5000", list, 0)); /* loopback always */
    assert_false(bt_reg_host_insecure("docker.io", list, n));
}

static void check_url(const char *host, const char *const *list, size_t n, const char *want)
{
    char *url = NULL;

    assert_int_equal(bt_reg_endpoint_url(host, list, n, &url), 0);
    assert_string_equal(url, want);
    free(url);
}

static void test_endpoint_url(void **state)
{
    const char *list[] = {"myreg:5000", "192.168.0.0/16"};

    check_url("docker.io", list, 2, "https://registry-1.docker.io");
    check_url("index.docker.io", list, 2, "https://registry-1.docker.io");
    check_url("127.0.0.1:5000", NULL, 0, "http://127.0.0.1:5000");
    check_url("localhost:5000", NULL, 0, "http://localhost:5000");
    check_url("[::1]:5000", NULL, 0, "http://[::1]:5000");
    check_url("myreg:5000", list, 2, "http://myreg:5000");
    check_url("192.168.3.4:443", list, 2, "http://192.168.3.4:443");
    check_url("quay.io", list, 2, "https://quay.io");
    check_url("myreg:5001", list, 2, "https://myreg:5001");
}

static void check_server(const char *addr, const char *want)
{
    char *h = NULL;

    assert_int_equal(bt_reg_host_from_server_address(addr, &h), 0);
    assert_string_equal(h, want);
    free(h);
}

static void test_server_address(void **state)
{
    check_server("https://index.docker.io/v1/", "docker.io");
    check_server("", "docker.io");
    check_server(NULL, "docker.io");
    check_server("docker.io", "docker.io");
    check_server("http://127.0.0.1:5000/", "127.0.0.1:5000");
    check_server("myreg:5000", "myreg:5000");
    check_server("https://quay.io/v2/", "quay.io");
}

/* ---- token cache with a clock the test turns ------------------------------------- */

static uint64_t test_clock(void *data)
{
    return *(uint64_t *)data;
}

static void test_token_cache(void **state)
{
    uint64_t now = 1000000;
    struct bt_reg_token_cache *c = bt_reg_token_cache_new(test_clock, &now);

    assert_null(bt_reg_token_cache_get(c, "k"));
    assert_int_equal(bt_reg_token_cache_put(c, "k", "tok1", 300), 0);
    assert_int_equal(bt_reg_token_cache_put(c, "d", "tokd", 0), 0);  /* default 60 s */
    assert_int_equal(bt_reg_token_cache_put(c, "s", "toks", 10), 0); /* raised to 60 s */
    assert_int_equal(bt_reg_token_cache_put(c, "n", "tokn", -5), 0);
    assert_string_equal(bt_reg_token_cache_get(c, "k"), "tok1");

    now += 59999;
    assert_string_equal(bt_reg_token_cache_get(c, "d"), "tokd");
    assert_string_equal(bt_reg_token_cache_get(c, "s"), "toks");
    now += 1;
    assert_null(bt_reg_token_cache_get(c, "d"));
    assert_null(bt_reg_token_cache_get(c, "s"));
    assert_null(bt_reg_token_cache_get(c, "n"));
    assert_string_equal(bt_reg_token_cache_get(c, "k"), "tok1");

    now += 239999; /* 299.999 s after the put */
    assert_string_equal(bt_reg_token_cache_get(c, "k"), "tok1");
    now += 1;
    assert_null(bt_reg_token_cache_get(c, "k"));

    /* Replacing and dropping. */
    assert_int_equal(bt_reg_token_cache_put(c, "k", "tok2", 100), 0);
    assert_int_equal(bt_reg_token_cache_put(c, "k", "tok3", 100), 0);
    assert_string_equal(bt_reg_token_cache_get(c, "k"), "tok3");
    bt_reg_token_cache_drop(c, "k");
    assert_null(bt_reg_token_cache_get(c, "k"));
    bt_reg_token_cache_drop(c, "absent");
    bt_reg_token_cache_free(c);
}

static void test_token_cache_full(void **state)
{
    uint64_t now = 0;
    struct bt_reg_token_cache *c = bt_reg_token_cache_new(test_clock, &now);
    char key[32];

    /* Far more keys than the cache keeps: the ones expiring first go. */
    for (int i = 0; i < 1000; i++) {
        (void)snprintf(key, sizeof(key), "key%d", i);
        assert_int_equal(bt_reg_token_cache_put(c, key, "t", 60 + i), 0);
    }
    assert_null(bt_reg_token_cache_get(c, "key0"));
    assert_string_equal(bt_reg_token_cache_get(c, "key999"), "t");
    bt_reg_token_cache_free(c);
}

/* ---- registry JSON -------------------------------------------------------------- */

static void test_error_text(void **state)
{
    const char *b = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\","
                    "\"detail\":{\"Tag\":\"x\"}}]}";
    char *t = bt_reg_error_text(b, strlen(b));

    assert_string_equal(t, "manifest unknown: manifest unknown");
    free(t);
    b = "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}";
    t = bt_reg_error_text(b, strlen(b));
    assert_string_equal(t, "unauthorized: authentication required");
    free(t);
    assert_null(bt_reg_error_text("<html>", 6));
    assert_null(bt_reg_error_text("{\"errors\":[]}", 13));
    assert_null(bt_reg_error_text(NULL, 0));
}

static void test_token_response(void **state)
{
    const char *b1 =
        "{\"token\":\"abc\",\"expires_in\":300,\"issued_at\":\"2026-01-01T00:00:00Z\"}";
    const char *b2 = "{\"access_token\":\"xyz\",\"refresh_token\":\"ref\"}";
    char *tok = NULL, *ref = NULL;
    int64_t exp = -1;

    assert_int_equal(bt_reg_token_response_parse(b1, strlen(b1), &tok, &exp, &ref), 0);
    assert_string_equal(tok, "abc");
    assert_int_equal(exp, 300);
    assert_null(ref);
    free(tok);
    assert_int_equal(bt_reg_token_response_parse(b2, strlen(b2), &tok, &exp, &ref), 0);
    assert_string_equal(tok, "xyz");
    assert_int_equal(exp, 0);
    assert_string_equal(ref, "ref");
    free(tok);
    free(ref);
    assert_int_equal(bt_reg_token_response_parse("{}", 2, &tok, &exp, &ref), -EINVAL);
    assert_int_equal(bt_reg_token_response_parse("nope", 4, &tok, &exp, &ref), -EINVAL);
}

static void test_manifest_sniff(void **state)
{
    const char *s1 = "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}";
    const char *s2 = "{\"schemaVersion\":2,\"mediaType\":\"" BT_REG_MT_SCHEMA2 "\"}";
    const char *s3 = "{\"schemaVersion\":2,\"manifests\":[]}";
    const char *s4 = "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}";
    char *mt = NULL;

    assert_int_equal(bt_reg_manifest_sniff(s1, strlen(s1), &mt), 1);
    free(mt);
    assert_int_equal(bt_reg_manifest_sniff(s2, strlen(s2), &mt), 0);
    assert_string_equal(mt, BT_REG_MT_SCHEMA2);
    free(mt);
    assert_int_equal(bt_reg_manifest_sniff(s3, strlen(s3), &mt), 0);
    assert_string_equal(mt, BT_REG_MT_OCI_INDEX);
    free(mt);
    assert_int_equal(bt_reg_manifest_sniff(s4, strlen(s4), &mt), 0);
    assert_string_equal(mt, BT_REG_MT_OCI_MANIFEST);
    free(mt);
    assert_int_equal(bt_reg_manifest_sniff("[1]", 3, &mt), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_challenge_bearer),
        cmocka_unit_test(test_challenge_several),
        cmocka_unit_test(test_challenge_malformed),
        cmocka_unit_test(test_creds_padded_and_unpadded),
        cmocka_unit_test(test_creds_auth_field),
        cmocka_unit_test(test_creds_empty_and_bad),
        cmocka_unit_test(test_creds_dup),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_insecure),
        cmocka_unit_test(test_endpoint_url),
        cmocka_unit_test(test_server_address),
        cmocka_unit_test(test_token_cache),
        cmocka_unit_test(test_token_cache_full),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_token_response),
        cmocka_unit_test(test_manifest_sniff),
    };
    return cmocka_run_group_tests_name("registry_auth", tests, NULL, NULL);
}
