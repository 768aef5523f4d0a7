/* Docker image references: "busybox", "user/app:1", "127.0.0.1:5000/x/y",
 * "[::1]:5000/x@sha256:<hex>", "name:tag@digest".
 *
 * Parsed and normalised the way Docker's distribution/reference package does
 * it (ParseNormalizedNamed, ParseAnyReference, FamiliarString, TagNameOnly,
 * WithTag, WithDigest), with the same error messages, so that a client sees
 * the words dockerd would have sent. Every error is BT_EINVAL except running
 * out of memory (BT_EINTERNAL).
 *
 * Normalisation: a name without a registry goes to "docker.io"; a
 * single-component name on docker.io gets "library/" ("busybox" is
 * docker.io/library/busybox); "index.docker.io" becomes "docker.io". The
 * first component is a registry when it contains '.' or ':', is "localhost",
 * or has an uppercase letter.
 *
 * Pure functions without shared state: any thread may call them. Every
 * string in a struct bt_ref is owned by it and freed by bt_ref_done(). */
#ifndef BERTH_REFERENCE_H
#define BERTH_REFERENCE_H

#include <stdbool.h>

struct bt_err;

#define BT_REF_DEFAULT_DOMAIN "docker.io"
#define BT_REF_DEFAULT_TAG "latest"
#define BT_REF_DOCKER_HUB_HOST "registry-1.docker.io"
#define BT_REF_PATH_MAX 255 /* bytes in the path (Docker no longer counts the domain) */
#define BT_REF_TAG_MAX 128

struct bt_ref {
    /* "docker.io", "127.0.0.1:5000", "[::1]:5000", "LOCALDOMAIN". NULL only
     * in a digest-only reference. "" in one corner Docker accepts: a first
     * component that looks like a registry (it has a '.') but is not a valid
     * host, such as "a_b.c/d", stays part of the path. */
    char *domain;
    char *path;   /* "library/busybox"; NULL only in a digest-only reference */
    char *tag;    /* "latest"; NULL when absent */
    char *digest; /* "sha256:<hex>"; NULL when absent */
};

/* Docker's ParseNormalizedNamed: s as a client typed it, normalised, with no
 * default tag. A 64-hex string is refused (it would be an image ID). *ret is
 * filled only on success; release it with bt_ref_done(). */
int bt_ref_parse(const char *s, struct bt_ref *ret, struct bt_err **err);
/* Docker's ParseAnyReference: like bt_ref_parse, but a 64-hex string or a
 * valid digest gives a digest-only reference (domain, path and tag NULL;
 * digest "sha256:<hex>"). For image lookups, not for pulls. */
int bt_ref_parse_any(const char *s, struct bt_ref *ret, struct bt_err **err);
/* Docker's plain Parse: the grammar alone, no normalisation ("busybox" keeps
 * domain "" and path "busybox"; "foo/bar" has domain "foo"). Reading
 * references that are already canonical, and tests. */
int bt_ref_parse_raw(const char *s, struct bt_ref *ret, struct bt_err **err);

/* Frees the strings and zeroes *r; safe on a zeroed or released struct. */
void bt_ref_done(struct bt_ref *r);
/* Deep copy into *ret; -ENOMEM. */
int bt_ref_copy(const struct bt_ref *src, struct bt_ref *ret);
/* All four fields equal (NULL equals only NULL). */
bool bt_ref_equal(const struct bt_ref *a, const struct bt_ref *b);

/* Docker's TagNameOnly: adds "latest" when there is neither tag nor digest.
 * Returns 1 when it added the tag, 0 when r already had one, -ENOMEM. */
int bt_ref_default_tag(struct bt_ref *r);
/* Docker's WithTag: sets the tag ("invalid tag format") and keeps any digest. */
int bt_ref_set_tag(struct bt_ref *r, const char *tag, struct bt_err **err);
/* Docker's WithDigest, with the digest validated as digest.Parse does
 * (see bt_ref_digest_check); keeps any tag. */
int bt_ref_set_digest(struct bt_ref *r, const char *digest, struct bt_err **err);
/* The `tag` query parameter of POST /images/create, which may hold a tag or
 * a digest. A valid digest replaces tag and digest (the reference becomes
 * name@digest); anything else is set as a tag as bt_ref_set_tag does. NULL or
 * "" changes nothing. Note that dockerd strips one trailing ':' from
 * fromImage before parsing it (for `pull -a`); that is the handler's part. */
int bt_ref_set_tag_or_digest(struct bt_ref *r, const char *tag_or_digest, struct bt_err **err);

/* Strings, malloc'd for the caller; NULL when out of memory, and the name
 * forms NULL for a digest-only reference.
 *   bt_ref_string        docker.io/library/busybox:latest   (a digest-only: sha256:...)
 *   bt_ref_familiar      busybox:latest, user/x@sha256:..., 127.0.0.1:5000/x:1
 *   bt_ref_name          docker.io/library/busybox
 *   bt_ref_familiar_name busybox */
char *bt_ref_string(const struct bt_ref *r);
char *bt_ref_familiar(const struct bt_ref *r);
char *bt_ref_name(const struct bt_ref *r);
char *bt_ref_familiar_name(const struct bt_ref *r);

/* A digest with no name (only bt_ref_parse_any makes these). */
bool bt_ref_is_digest_only(const struct bt_ref *r);
/* 64 lowercase hex, or "sha256:" and 64 lowercase hex: an image ID, not a name. */
bool bt_ref_looks_like_id(const char *s);
/* A tag as Docker allows it: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool bt_ref_tag_valid(const char *tag);
/* Docker's digest.Parse: "sha256:" + 64, "sha384:" + 96 or "sha512:" + 128
 * lowercase hex. Errors "invalid checksum digest format", "invalid checksum
 * digest length", "unsupported digest algorithm". */
int bt_ref_digest_check(const char *digest, struct bt_err **err);

/* The host to speak the registry API to: "registry-1.docker.io" for
 * docker.io, else the domain with its port ("127.0.0.1:5000", "[::1]:5000").
 * NULL when the reference has no usable domain (digest-only, or ""). The
 * pointer is into r or static. */
const char *bt_ref_registry_host(const struct bt_ref *r);

#endif
