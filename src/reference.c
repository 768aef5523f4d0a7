/* Docker image references, parsed and normalised as Docker's
 * distribution/reference package does (see include/berth/reference.h).
 *
 * Docker describes the grammar with regular expressions. Their structure makes
 * every split unique, which lets us match by hand in one pass:
 *   reference := name [":" tag] ["@" digest]
 *   name      := [domain-and-port "/"] path-component ("/" path-component)*
 * '@' appears nowhere before the digest, so the first '@' starts it. A tag has
 * no '/' and no ':', and a ':' in a name is always followed by a '/' (it sits
 * in the domain), so a ':' after the last '/' is the tag separator and no
 * other ':' can be. The domain is optional and tried first: the first
 * component is the domain when it matches domain-and-port and the rest matches
 * a path; otherwise the whole name must be a path. */
#include <config.h>

#include <errno.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "berth/err.h"
#include "berth/macro.h"
#include "berth/reference.h"

#define LIBRARY_PREFIX "library/"
#define LEGACY_DOMAIN "index.docker.io"

/* Failures, each with the words Docker (or go-digest) uses. */
enum ref_fail {
    REF_OK = 0,
    REF_NOMEM,
    REF_FORMAT,
    REF_EMPTY,
    REF_UPPER,
    REF_TOO_LONG,
    REF_TAG_FORMAT,
    REF_DIGEST_FORMAT,
    REF_DIGEST_LENGTH,
    REF_DIGEST_UNSUPPORTED,
};

static const char *const fail_msg[] = {
    [REF_FORMAT] = "invalid reference format",
    [REF_EMPTY] = "repository name must have at least one component",
    [REF_UPPER] = "repository name must be lowercase",
    [REF_TOO_LONG] = "repository name must not be more than 255 characters",
    [REF_TAG_FORMAT] = "invalid tag format",
    [REF_DIGEST_FORMAT] = "invalid checksum digest format",
    [REF_DIGEST_LENGTH] = "invalid checksum digest length",
    [REF_DIGEST_UNSUPPORTED] = "unsupported digest algorithm",
};

/* The message above spells the limit out; keep the two in step. */
_Static_assert(BT_REF_PATH_MAX == 255, "update the REF_TOO_LONG message");

static int ref_fail(struct bt_err **err, enum ref_fail f)
{
    if (f == REF_NOMEM)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "parse reference");
    return bt_err_set(err, BT_EINVAL, 0, "%s", fail_msg[f]);
}

/* ---- character classes (ASCII only, whatever the locale) ---------------- */

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_word(char c)
{
    return is_alnum(c) || c == '_';
}

static bool is_lower_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

static bool is_hex(char c)
{
    return is_lower_hex(c) || (c >= 'A' && c <= 'F');
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool span_eq(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

static bool all_of(const char *p, size_t n, bool (*cls)(char))
{
    for (size_t i = 0; i < n; i++)
        if (!cls(p[i]))
            return false;
    return true;
}

/* ---- Go's strings.ToLower ------------------------------------------------
 * Docker decides "must be lowercase" with strings.ToLower(s) != s. That
 * lowercases Unicode letters too, and turns every byte that is not valid
 * UTF-8 into U+FFFD, so such input also counts as "not lowercase". We decode
 * UTF-8 by Go's rules and lowercase runes with the C.UTF-8 locale's tables. */

/* One rune at p (n > 0 bytes). An invalid or truncated sequence is one byte
 * decoded as U+FFFD, as Go does; a real U+FFFD takes three bytes. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *ret)
{
    uint32_t r, min;
    size_t len;

    if (p[0] < 0x80) {
        *ret = p[0];
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2, r = p[0] & 0x1f, min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3, r = p[0] & 0x0f, min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4, r = p[0] & 0x07, min = 0x10000;
    } else {
        goto invalid;
    }
    if (n < len)
        goto invalid;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            goto invalid;
        r = (r << 6) | (p[i] & 0x3f);
    }
    if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
        goto invalid;
    *ret = r;
    return len;
invalid:
    *ret = 0xfffd;
    return 1;
}

static size_t utf8_encode(uint32_t r, char *out)
{
    if (r < 0x80) {
        out[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        out[0] = (char)(0xc0 | (r >> 6));
        out[1] = (char)(0x80 | (r & 0x3f));
        return 2;
    }
    if (r < 0x10000) {
        out[0] = (char)(0xe0 | (r >> 12));
        out[1] = (char)(0x80 | ((r >> 6) & 0x3f));
        out[2] = (char)(0x80 | (r & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (r >> 18));
    out[1] = (char)(0x80 | ((r >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((r >> 6) & 0x3f));
    out[3] = (char)(0x80 | (r & 0x3f));
    return 4;
}

static void freelocalep(locale_t *l)
{
    if (*l != (locale_t)0)
        freelocale(*l);
}

/* s with every byte that is not valid UTF-8 turned into U+FFFD and, when
 * lower is set, lowercased as Go's strings.ToLower does. NUL-terminated,
 * malloc'd; NULL when out of memory. */
static char *go_map(const char *s, size_t n, bool lower, size_t *ret_len)
{
    _cleanup_(freelocalep) locale_t loc = (locale_t)0;
    bool tried = false;
    size_t o = 0;
    char *out;

    /* An invalid byte grows to three; a rune at most doubles. */
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t len = utf8_decode((const unsigned char *)s + i, n - i, &r);

        if (r < 0x80) {
            out[o++] = lower && r >= 'A' && r <= 'Z' ? (char)(r + ('a' - 'A')) : (char)r;
        } else if (r == 0xfffd && len == 1) {
            o += utf8_encode(r, out + o);
        } else {
            if (lower && !tried) {
                loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
                tried = true;
            }
            if (lower && loc != (locale_t)0) {
                wint_t l = towlower_l((wint_t)r, loc);
                if (l <= 0x10ffff && !(l >= 0xd800 && l <= 0xdfff))
                    r = (uint32_t)l;
            }
            o += utf8_encode(r, out + o);
        }
        i += len;
    }
    out[o] = '\0';
    *ret_len = o;
    return out;
}

/* Whether strings.ToLower(s) == s; -ENOMEM. */
static int go_is_lower(const char *s, size_t n, bool *ret)
{
    _cleanup_free_ char *low = NULL;
    size_t len;
    bool ascii = true;

    for (size_t i = 0; i < n; i++)
        ascii = ascii && (unsigned char)s[i] < 0x80;
    if (ascii) {
        *ret = true;
        for (size_t i = 0; i < n; i++)
            if (s[i] >= 'A' && s[i] <= 'Z')
                *ret = false;
        return 0;
    }
    low = go_map(s, n, true, &len);
    if (!low)
        return -ENOMEM;
    *ret = len == n && memcmp(low, s, n) == 0;
    return 0;
}

/* ---- the grammar ----------------------------------------------------------- */

struct span {
    size_t off, len;
    bool set;
};

struct ref_spans {
    struct span domain, path, tag, digest;
};

/* [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)* */
static bool match_path_component(const char *p, size_t n)
{
    size_t i = 0;

    for (;;) {
        if (i == n || !is_lower_alnum(p[i]))
            return false;
        while (i < n && is_lower_alnum(p[i]))
            i++;
        if (i == n)
            return true;
        if (p[i] == '.') {
            i++;
        } else if (p[i] == '_') {
            i++;
            if (i < n && p[i] == '_')
                i++;
        } else if (p[i] == '-') {
            while (i < n && p[i] == '-')
                i++;
        } else {
            return false;
        }
    }
}

/* path-component ("/" path-component)* */
static bool match_path(const char *p, size_t n)
{
    for (;;) {
        const char *slash = memchr(p, '/', n);
        size_t len = slash ? (size_t)(slash - p) : n;

        if (!match_path_component(p, len))
            return false;
        if (!slash)
            return true;
        p += len + 1;
        n -= len + 1;
    }
}

/* [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool match_domain_component(const char *p, size_t n)
{
    if (n == 0 || !is_alnum(p[0]) || !is_alnum(p[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(p[i]) && p[i] != '-')
            return false;
    return true;
}

/* domain-component ("." domain-component)* */
static bool match_domain_name(const char *p, size_t n)
{
    for (;;) {
        const char *dot = memchr(p, '.', n);
        size_t len = dot ? (size_t)(dot - p) : n;

        if (!match_domain_component(p, len))
            return false;
        if (!dot)
            return true;
        p += len + 1;
        n -= len + 1;
    }
}

static bool is_ipv6_char(char c)
{
    return is_hex(c) || c == ':';
}

/* (domain-name | "[" [a-fA-F0-9:]+ "]") (":" [0-9]+)? */
static bool match_domain_and_port(const char *p, size_t n)
{
    const char *colon;
    size_t host;

    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (!close || close == p + 1 || !all_of(p + 1, (size_t)(close - p - 1), is_ipv6_char))
            return false;
        host = (size_t)(close - p) + 1;
    } else {
        colon = memchr(p, ':', n);
        host = colon ? (size_t)(colon - p) : n;
        if (!match_domain_name(p, host))
            return false;
    }
    if (host == n)
        return true;
    return p[host] == ':' && host + 1 < n && all_of(p + host + 1, n - host - 1, is_digit);
}

/* [\w][\w.-]{0,127} */
static bool match_tag(const char *p, size_t n)
{
    if (n == 0 || n > BT_REF_TAG_MAX || !is_word(p[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_word(p[i]) && p[i] != '.' && p[i] != '-')
            return false;
    return true;
}

/* Both digest grammars: ALG ":" ENC, where ALG is components of `first`
 * then `rest` characters joined by one of `seps`, and ENC is at least
 * `min_enc` characters of `enc`. */
struct digest_grammar {
    bool (*first)(char c);
    bool (*rest)(char c);
    const char *seps;
    size_t min_enc;
    bool (*enc)(char c);
};

static bool match_digest_grammar(const struct digest_grammar *g, const char *p, size_t n)
{
    const char *colon = memchr(p, ':', n);
    size_t alg, i = 0;

    if (!colon)
        return false;
    alg = (size_t)(colon - p);
    for (;;) {
        if (i == alg || !g->first(p[i]))
            return false;
        while (i < alg && g->rest(p[i]))
            i++;
        if (i == alg)
            break;
        if (!strchr(g->seps, p[i]))
            return false;
        i++;
    }
    return n - alg - 1 >= g->min_enc && all_of(colon + 1, n - alg - 1, g->enc);
}

/* The reference grammar's digest:
 * [A-Za-z][A-Za-z0-9]* ([-_+.][A-Za-z][A-Za-z0-9]*)* ":" [0-9a-fA-F]{32,} */
static bool match_digest(const char *p, size_t n)
{
    static const struct digest_grammar g = {is_alpha, is_alnum, "-_+.", 32, is_hex};
    return match_digest_grammar(&g, p, n);
}

static bool is_go_digest_alg_char(char c)
{
    return is_lower_alnum(c);
}

static bool is_go_digest_enc_char(char c)
{
    return is_alnum(c) || c == '=' || c == '_' || c == '-';
}

/* go-digest's DigestRegexpAnchored:
 * [a-z0-9]+ ([.+_-][a-z0-9]+)* ":" [a-zA-Z0-9=_-]+ */
static bool match_go_digest(const char *p, size_t n)
{
    static const struct digest_grammar g = {is_go_digest_alg_char, is_go_digest_alg_char,
                                            ".+_-", 1, is_go_digest_enc_char};
    return match_digest_grammar(&g, p, n);
}

/* go-digest's Digest.Validate, with the algorithms dockerd registers. */
static enum ref_fail digest_validate(const char *p, size_t n)
{
    static const struct {
        const char *name;
        size_t hex;
    } algs[] = {{"sha256", 64}, {"sha384", 96}, {"sha512", 128}};
    const char *colon = memchr(p, ':', n);
    size_t alg, enc;

    if (!colon || colon + 1 == p + n)
        return REF_DIGEST_FORMAT;
    alg = (size_t)(colon - p);
    enc = n - alg - 1;
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
        if (!span_eq(p, alg, algs[i].name))
            continue;
        if (enc != algs[i].hex)
            return REF_DIGEST_LENGTH;
        return all_of(colon + 1, enc, is_lower_hex) ? REF_OK : REF_DIGEST_FORMAT;
    }
    return match_go_digest(p, n) ? REF_DIGEST_UNSUPPORTED : REF_DIGEST_FORMAT;
}

/* The whole reference grammar; fills the spans of its parts. */
static bool ref_match(const char *s, size_t n, struct ref_spans *m)
{
    const char *at = memchr(s, '@', n);
    const char *slash, *colon, *first;
    size_t name = at ? (size_t)(at - s) : n;

    memset(m, 0, sizeof(*m));
    if (at) {
        m->digest = (struct span){name + 1, n - name - 1, true};
        if (!match_digest(s + name + 1, n - name - 1))
            return false;
    }
    slash = memrchr(s, '/', name);
    colon = memrchr(s, ':', name);
    if (colon && (!slash || colon > slash)) {
        size_t tag = (size_t)(colon - s) + 1;

        m->tag = (struct span){tag, name - tag, true};
        if (!match_tag(s + tag, name - tag))
            return false;
        name = tag - 1;
    }
    first = memchr(s, '/', name);
    if (first) {
        size_t dlen = (size_t)(first - s);

        if (match_domain_and_port(s, dlen) && match_path(first + 1, name - dlen - 1)) {
            m->domain = (struct span){0, dlen, true};
            m->path = (struct span){dlen + 1, name - dlen - 1, true};
            return true;
        }
    }
    m->path = (struct span){0, name, true};
    return match_path(s, name);
}

static int span_dup(const char *s, const struct span *sp, char **ret)
{
    if (!sp->set)
        return 0;
    *ret = strndup(s + sp->off, sp->len);
    return *ret ? 0 : -ENOMEM;
}

/* Docker's reference.Parse. */
static enum ref_fail ref_parse_plain(const char *s, size_t n, struct bt_ref *ret)
{
    struct bt_ref r = {NULL, NULL, NULL, NULL};
    struct ref_spans m;
    enum ref_fail f;

    if (n == 0)
        return REF_EMPTY;
    if (!ref_match(s, n, &m)) {
        /* Docker says "lowercase" when lowercasing the input would fix it. */
        _cleanup_free_ char *low = NULL;
        size_t len;

        low = go_map(s, n, true, &len);
        if (!low)
            return REF_NOMEM;
        if ((len != n || memcmp(low, s, n) != 0) && ref_match(low, len, &m))
            return REF_UPPER;
        return REF_FORMAT;
    }
    if (m.path.len > BT_REF_PATH_MAX)
        return REF_TOO_LONG;
    if (m.digest.set) {
        f = digest_validate(s + m.digest.off, m.digest.len);
        if (f != REF_OK)
            return f;
    }
    if (!m.domain.set)
        m.domain = (struct span){0, 0, true};
    if (span_dup(s, &m.domain, &r.domain) < 0 || span_dup(s, &m.path, &r.path) < 0 ||
        span_dup(s, &m.tag, &r.tag) < 0 || span_dup(s, &m.digest, &r.digest) < 0) {
        bt_ref_done(&r);
        return REF_NOMEM;
    }
    *ret = r;
    return REF_OK;
}

static bool is_identifier(const char *s, size_t n)
{
    return n == 64 && all_of(s, n, is_lower_hex);
}

/* Docker's splitDockerDomain, joined back: "domain/remainder" in *ret_full,
 * with the remainder starting at *ret_rem. */
static int split_docker_domain(const char *s, size_t n, char **ret_full, size_t *ret_rem)
{
    const char *slash = memchr(s, '/', n);
    const char *dom = BT_REF_DEFAULT_DOMAIN, *rem = s;
    size_t dlen = strlen(BT_REF_DEFAULT_DOMAIN), rlen = n, plen = 0;
    char *full;

    if (slash) {
        size_t flen = (size_t)(slash - s);
        bool lower;

        if (go_is_lower(s, flen, &lower) < 0)
            return -ENOMEM;
        if (span_eq(s, flen, LEGACY_DOMAIN)) {
            rem = slash + 1, rlen = n - flen - 1;
        } else if (span_eq(s, flen, "localhost") || memchr(s, '.', flen) ||
                   memchr(s, ':', flen) || !lower) {
            dom = s, dlen = flen;
            rem = slash + 1, rlen = n - flen - 1;
        }
    }
    /* Single-component names on Docker Hub live under "library/". */
    if (span_eq(dom, dlen, BT_REF_DEFAULT_DOMAIN) && !memchr(rem, '/', rlen))
        plen = strlen(LIBRARY_PREFIX);
    full = malloc(dlen + 1 + plen + rlen + 1);
    if (!full)
        return -ENOMEM;
    memcpy(full, dom, dlen);
    full[dlen] = '/';
    memcpy(full + dlen + 1, LIBRARY_PREFIX, plen);
    memcpy(full + dlen + 1 + plen, rem, rlen);
    full[dlen + 1 + plen + rlen] = '\0';
    *ret_full = full;
    *ret_rem = dlen + 1;
    return 0;
}

int bt_ref_parse(const char *s, struct bt_ref *ret, struct bt_err **err)
{
    _cleanup_free_ char *full = NULL;
    size_t n = strlen(s), rem, remote;
    const char *colon;
    enum ref_fail f;
    bool lower;

    if (is_identifier(s, n))
        return bt_err_set(err, BT_EINVAL, 0,
                          "invalid repository name (%s), cannot specify 64-byte hexadecimal strings",
                          s);
    if (split_docker_domain(s, n, &full, &rem) < 0)
        return ref_fail(err, REF_NOMEM);
    colon = strchr(full + rem, ':');
    remote = colon ? (size_t)(colon - full - rem) : strlen(full + rem);
    if (go_is_lower(full + rem, remote, &lower) < 0)
        return ref_fail(err, REF_NOMEM);
    if (!lower) {
        /* The name goes into the message: keep that valid UTF-8. */
        _cleanup_free_ char *shown = NULL;
        size_t len;

        shown = go_map(full + rem, remote, false, &len);
        if (!shown)
            return ref_fail(err, REF_NOMEM);
        return bt_err_set(err, BT_EINVAL, 0,
                          "invalid reference format: repository name (%s) must be lowercase", shown);
    }
    f = ref_parse_plain(full, strlen(full), ret);
    return f == REF_OK ? 0 : ref_fail(err, f);
}

static int digest_only(const char *prefix, const char *s, struct bt_ref *ret, struct bt_err **err)
{
    size_t plen = strlen(prefix), n = strlen(s);
    char *d = malloc(plen + n + 1);

    if (!d)
        return ref_fail(err, REF_NOMEM);
    memcpy(d, prefix, plen);
    memcpy(d + plen, s, n + 1);
    *ret = (struct bt_ref){NULL, NULL, NULL, d};
    return 0;
}

int bt_ref_parse_any(const char *s, struct bt_ref *ret, struct bt_err **err)
{
    size_t n = strlen(s);

    if (is_identifier(s, n))
        return digest_only("sha256:", s, ret, err);
    if (digest_validate(s, n) == REF_OK)
        return digest_only("", s, ret, err);
    return bt_ref_parse(s, ret, err);
}

int bt_ref_parse_raw(const char *s, struct bt_ref *ret, struct bt_err **err)
{
    enum ref_fail f = ref_parse_plain(s, strlen(s), ret);
    return f == REF_OK ? 0 : ref_fail(err, f);
}

void bt_ref_done(struct bt_ref *r)
{
    if (!r)
        return;
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    *r = (struct bt_ref){NULL, NULL, NULL, NULL};
}

static int dup_or_null(const char *s, char **ret)
{
    *ret = NULL;
    if (!s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

int bt_ref_copy(const struct bt_ref *src, struct bt_ref *ret)
{
    struct bt_ref r = {NULL, NULL, NULL, NULL};

    if (dup_or_null(src->domain, &r.domain) < 0 || dup_or_null(src->path, &r.path) < 0 ||
        dup_or_null(src->tag, &r.tag) < 0 || dup_or_null(src->digest, &r.digest) < 0) {
        bt_ref_done(&r);
        return -ENOMEM;
    }
    *ret = r;
    return 0;
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool bt_ref_equal(const struct bt_ref *a, const struct bt_ref *b)
{
    return str_eq(a->domain, b->domain) && str_eq(a->path, b->path) && str_eq(a->tag, b->tag) &&
           str_eq(a->digest, b->digest);
}

bool bt_ref_is_digest_only(const struct bt_ref *r)
{
    return !r->path && r->digest;
}

int bt_ref_default_tag(struct bt_ref *r)
{
    if (r->tag || r->digest)
        return 0;
    r->tag = strdup(BT_REF_DEFAULT_TAG);
    return r->tag ? 1 : -ENOMEM;
}

bool bt_ref_tag_valid(const char *tag)
{
    return tag && match_tag(tag, strlen(tag));
}

int bt_ref_digest_check(const char *digest, struct bt_err **err)
{
    enum ref_fail f = digest_validate(digest, strlen(digest));
    return f == REF_OK ? 0 : ref_fail(err, f);
}

static int replace(char **field, const char *value, struct bt_err **err)
{
    char *v = strdup(value);

    if (!v)
        return ref_fail(err, REF_NOMEM);
    free(*field);
    *field = v;
    return 0;
}

int bt_ref_set_tag(struct bt_ref *r, const char *tag, struct bt_err **err)
{
    if (!r->path)
        return ref_fail(err, REF_FORMAT);
    if (!bt_ref_tag_valid(tag))
        return ref_fail(err, REF_TAG_FORMAT);
    return replace(&r->tag, tag, err);
}

int bt_ref_set_digest(struct bt_ref *r, const char *digest, struct bt_err **err)
{
    if (!r->path)
        return ref_fail(err, REF_FORMAT);
    if (bt_ref_digest_check(digest, err) < 0)
        return -1;
    return replace(&r->digest, digest, err);
}

int bt_ref_set_tag_or_digest(struct bt_ref *r, const char *tag_or_digest, struct bt_err **err)
{
    if (!tag_or_digest || !*tag_or_digest)
        return 0;
    if (r->path && digest_validate(tag_or_digest, strlen(tag_or_digest)) == REF_OK) {
        /* dockerd: WithDigest(TrimNamed(ref), digest) drops the tag. */
        if (replace(&r->digest, tag_or_digest, err) < 0)
            return -1;
        free(r->tag);
        r->tag = NULL;
        return 0;
    }
    return bt_ref_set_tag(r, tag_or_digest, err);
}

bool bt_ref_looks_like_id(const char *s)
{
    if (strncmp(s, "sha256:", 7) == 0)
        s += 7;
    return is_identifier(s, strlen(s));
}

const char *bt_ref_registry_host(const struct bt_ref *r)
{
    if (!r->domain || !*r->domain)
        return NULL;
    if (strcmp(r->domain, BT_REF_DEFAULT_DOMAIN) == 0 || strcmp(r->domain, LEGACY_DOMAIN) == 0)
        return BT_REF_DOCKER_HUB_HOST;
    return r->domain;
}

/* ---- formatting ------------------------------------------------------------ */

/* The parts in order, NULLs skipped, into one malloc'd string. */
static char *join(const char *const *parts, size_t n)
{
    size_t len = 0, off = 0;
    char *s;

    for (size_t i = 0; i < n; i++)
        len += parts[i] ? strlen(parts[i]) : 0;
    s = malloc(len + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i])
            continue;
        memcpy(s + off, parts[i], strlen(parts[i]));
        off += strlen(parts[i]);
    }
    s[off] = '\0';
    return s;
}

/* Docker's familiarizeName: docker.io goes, and "library/" too when one
 * component follows it. */
static void familiar_parts(const struct bt_ref *r, const char **ret_domain, const char **ret_path)
{
    *ret_domain = r->domain && *r->domain ? r->domain : NULL;
    *ret_path = r->path;
    if (!*ret_domain || strcmp(*ret_domain, BT_REF_DEFAULT_DOMAIN) != 0)
        return;
    *ret_domain = NULL;
    if (strncmp(r->path, LIBRARY_PREFIX, strlen(LIBRARY_PREFIX)) == 0 &&
        !strchr(r->path + strlen(LIBRARY_PREFIX), '/'))
        *ret_path = r->path + strlen(LIBRARY_PREFIX);
}

static char *format(const struct bt_ref *r, bool familiar, bool with_suffix)
{
    const char *domain, *path;

    if (!r->path)
        return with_suffix && r->digest ? strdup(r->digest) : NULL;
    if (familiar) {
        familiar_parts(r, &domain, &path);
    } else {
        domain = r->domain && *r->domain ? r->domain : NULL;
        path = r->path;
    }
    const char *parts[] = {
        domain,
        domain ? "/" : NULL,
        path,
        with_suffix && r->tag ? ":" : NULL,
        with_suffix ? r->tag : NULL,
        with_suffix && r->digest ? "@" : NULL,
        with_suffix ? r->digest : NULL,
    };
    return join(parts, ARRAY_SIZE(parts));
}

char *bt_ref_string(const struct bt_ref *r)
{
    return format(r, false, true);
}

char *bt_ref_familiar(const struct bt_ref *r)
{
    return format(r, true, true);
}

char *bt_ref_name(const struct bt_ref *r)
{
    return format(r, false, false);
}

char *bt_ref_familiar_name(const struct bt_ref *r)
{
    return format(r, true, false);
}
