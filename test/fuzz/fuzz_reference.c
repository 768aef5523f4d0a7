/* libFuzzer target: arbitrary bytes through the image reference parser.
 *
 * The input up to its first newline is a reference; what follows it, when
 * present, is a `tag` query parameter (tag or digest) applied to it. Every
 * accepted reference must print to a string that parses back to the same
 * fields, and every refusal must carry a valid UTF-8 message; a broken
 * invariant abort()s so the fuzzer records the input. */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/err.h"
#include "berth/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*parse_fn)(const char *s, struct bt_ref *ret, struct bt_err **err);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool utf8_valid(const unsigned char *p)
{
    while (*p) {
        size_t len;
        uint32_t r, min;

        if (p[0] < 0x80) {
            p++;
            continue;
        }
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
            len = 2, r = p[0] & 0x1f, min = 0x80;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
            len = 3, r = p[0] & 0x0f, min = 0x800;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
            len = 4, r = p[0] & 0x07, min = 0x10000;
        else
            return false;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            r = (r << 6) | (p[i] & 0x3f);
        }
        if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
            return false;
        p += len;
    }
    return true;
}

static void check_refused(struct bt_err *err)
{
    check(err && err->msg);
    check(err->code == BT_EINVAL || err->code == BT_EINTERNAL);
    check(utf8_valid((const unsigned char *)err->msg));
    bt_err_free(err);
}

/* What any accepted reference must look like. */
static void check_fields(const struct bt_ref *r)
{
    struct bt_err *err = NULL;

    if (bt_ref_is_digest_only(r)) {
        check(!r->domain && !r->tag);
    } else {
        check(r->domain && r->path);
        check(strlen(r->path) > 0 && strlen(r->path) <= BT_REF_PATH_MAX);
    }
    check(!r->tag || bt_ref_tag_valid(r->tag));
    if (r->digest) {
        check(bt_ref_digest_check(r->digest, &err) == 0);
        check(!err);
    }
}

/* string -> parse gives the same fields. */
static void check_round_trip(parse_fn parse, const struct bt_ref *r)
{
    struct bt_err *err = NULL;
    struct bt_ref again;
    char *s = bt_ref_string(r);

    if (!s)
        return; /* out of memory */
    if (parse(s, &again, &err) < 0)
        abort();
    check(bt_ref_equal(r, &again));
    bt_ref_done(&again);
    free(s);
}

static void exercise(parse_fn parse, const char *in, const char *tag)
{
    struct bt_err *err = NULL;
    struct bt_ref r;
    char *s;

    if (parse(in, &r, &err) < 0) {
        check_refused(err);
        return;
    }
    check(!err);
    check_fields(&r);
    check_round_trip(parse, &r);
    /* The other forms must not crash; the familiar one need not round-trip
     * (Docker's does not either: "docker.io/a.b/c" becomes "a.b/c"). */
    free(bt_ref_familiar(&r));
    free(bt_ref_name(&r));
    free(bt_ref_familiar_name(&r));
    (void)bt_ref_registry_host(&r);
    /* A normalised name always has its registry, so never reads as an ID. */
    s = bt_ref_string(&r);
    if (s && parse == bt_ref_parse)
        check(strchr(s, '/') && !bt_ref_looks_like_id(s));
    free(s);
    if (tag && !bt_ref_is_digest_only(&r)) {
        if (bt_ref_set_tag_or_digest(&r, tag, &err) < 0) {
            check_refused(err);
        } else {
            check_fields(&r);
            check_round_trip(parse, &r);
        }
    }
    if (bt_ref_default_tag(&r) >= 0 && !bt_ref_is_digest_only(&r)) {
        check(r.tag || r.digest);
        check_round_trip(parse, &r);
    }
    bt_ref_done(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    char *nl;

    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    nl = strchr(in, '\n');
    if (nl)
        *nl = '\0';
    exercise(bt_ref_parse, in, nl ? nl + 1 : NULL);
    exercise(bt_ref_parse_any, in, nl ? nl + 1 : NULL);
    exercise(bt_ref_parse_raw, in, nl ? nl + 1 : NULL);
    (void)bt_ref_looks_like_id(in);
    free(in);
    return 0;
}
