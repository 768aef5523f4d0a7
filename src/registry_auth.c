#include <config.h>

/* Pure helpers of the registry client: credentials from X-Registry-Auth,
 * WWW-Authenticate challenges, which hosts speak plain HTTP, the token cache,
 * and the two small JSON documents registries answer with. cJSON stays
 * inside this file: nothing here hands a cJSON pointer out. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "berth/err.h"
#include "berth/registry.h"

/* ---- base64 ------------------------------------------------------------------ */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Either alphabet, padding optional. Returns the decoded length or -EINVAL. */
static int b64_decode(const char *in, size_t len, char **ret)
{
    size_t n = len, out_len = 0;
    unsigned acc = 0, bits = 0;
    char *out;

    while (n > 0 && in[n - 1] == '=')
        n--;
    if (len - n > 2 || n % 4 == 1 || n > (size_t)1 << 24)
        return -EINVAL;
    out = malloc(n / 4 * 3 + 3 + 1);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return -EINVAL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[out_len++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[out_len] = '\0';
    *ret = out;
    return (int)out_len;
}

/* ---- credentials ------------------------------------------------------------- */

void bt_reg_creds_free(struct bt_reg_creds *c)
{
    if (!c)
        return;
    /* Secrets do not linger in freed memory. */
    if (c->password)
        explicit_bzero(c->password, strlen(c->password));
    if (c->identitytoken)
        explicit_bzero(c->identitytoken, strlen(c->identitytoken));
    if (c->registrytoken)
        explicit_bzero(c->registrytoken, strlen(c->registrytoken));
    free(c->username);
    free(c->password);
    free(c->identitytoken);
    free(c->registrytoken);
    free(c->serveraddress);
    free(c);
}

bool bt_reg_creds_empty(const struct bt_reg_creds *c)
{
    return !c ||
           ((!c->username || !*c->username) && (!c->password || !*c->password) &&
            (!c->identitytoken || !*c->identitytoken) && (!c->registrytoken || !*c->registrytoken));
}

static int dup_field(const char *s, char **ret)
{
    *ret = NULL;
    if (!s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

struct bt_reg_creds *bt_reg_creds_dup(const struct bt_reg_creds *c)
{
    struct bt_reg_creds *d;

    if (!c)
        return NULL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    if (dup_field(c->username, &d->username) < 0 || dup_field(c->password, &d->password) < 0 ||
        dup_field(c->identitytoken, &d->identitytoken) < 0 ||
        dup_field(c->registrytoken, &d->registrytoken) < 0 ||
        dup_field(c->serveraddress, &d->serveraddress) < 0) {
        bt_reg_creds_free(d);
        return NULL;
    }
    return d;
}

/* A string field (case-insensitive key, as Go decodes); absent or null is NULL. */
static int json_str(const cJSON *obj, const char *key, char **ret)
{
    const cJSON *v = cJSON_GetObjectItem(obj, key);

    *ret = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return -EINVAL;
    return dup_field(v->valuestring, ret);
}

/* "auth": base64 of "user:pass", used when username and password are empty. */
static int creds_apply_auth(struct bt_reg_creds *c, const char *auth)
{
    _cleanup_free_ char *plain = NULL;
    char *colon;
    int n;

    if (!auth || !*auth || (c->username && *c->username))
        return 0;
    n = b64_decode(auth, strlen(auth), &plain);
    if (n < 0)
        return n;
    colon = memchr(plain, ':', (size_t)n);
    if (!colon) {
        explicit_bzero(plain, (size_t)n);
        return -EINVAL;
    }
    *colon = '\0';
    free(c->username);
    free(c->password);
    c->username = strdup(plain);
    c->password = strdup(colon + 1);
    explicit_bzero(plain, (size_t)n);
    return c->username && c->password ? 0 : -ENOMEM;
}

int bt_reg_creds_from_json(const char *json, size_t len, struct bt_reg_creds **ret,
                           struct bt_err **err)
{
    struct bt_reg_creds *c;
    _cleanup_free_ char *auth = NULL;
    cJSON *root;
    int r;

    root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bt_err_set(err, BT_EINVAL, 0, "invalid registry credentials: not a JSON object");
    }
    c = calloc(1, sizeof(*c));
    r = c ? 0 : -ENOMEM;
    if (r == 0)
        r = json_str(root, "username", &c->username);
    if (r == 0)
        r = json_str(root, "password", &c->password);
    if (r == 0)
        r = json_str(root, "identitytoken", &c->identitytoken);
    if (r == 0)
        r = json_str(root, "registrytoken", &c->registrytoken);
    if (r == 0)
        r = json_str(root, "serveraddress", &c->serveraddress);
    if (r == 0)
        r = json_str(root, "auth", &auth);
    if (r == 0)
        r = creds_apply_auth(c, auth);
    if (auth)
        explicit_bzero(auth, strlen(auth));
    cJSON_Delete(root);
    if (r < 0) {
        bt_reg_creds_free(c);
        return bt_err_set(err, BT_EINVAL, 0, "invalid registry credentials");
    }
    *ret = c;
    return 0;
}

int bt_reg_creds_decode(const char *value, struct bt_reg_creds **ret, struct bt_err **err)
{
    _cleanup_free_ char *json = NULL;
    size_t len = value ? strlen(value) : 0;
    int n, r;

    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0) {
        *ret = calloc(1, sizeof(**ret));
        return *ret ? 0 : bt_err_set(err, BT_EINTERNAL, ENOMEM, "registry credentials");
    }
    n = b64_decode(value, len, &json);
    if (n < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid X-Registry-Auth header: bad base64");
    r = bt_reg_creds_from_json(json, (size_t)n, ret, err);
    explicit_bzero(json, (size_t)n);
    return r;
}

/* ---- WWW-Authenticate -------------------------------------------------------- */

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+.^_`|~-", c));
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A quoted-string (with \-escapes) or a token, copied out. */
static int parse_value(const char **pp, char **ret)
{
    const char *p = *pp;
    char *out, *o;

    if (*p != '"') {
        const char *s = p;
        /* Tokens and token68-style values ("abc==", "a/b"). */
        while (is_tchar(*p) || *p == '/' || *p == '=' || *p == ':')
            p++;
        if (p == s)
            return -EINVAL;
        *ret = strndup(s, (size_t)(p - s));
        *pp = p;
        return *ret ? 0 : -ENOMEM;
    }
    p++;
    o = out = malloc(strlen(p) + 1);
    if (!out)
        return -ENOMEM;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        *o++ = *p;
    }
    if (*p != '"') {
        free(out);
        return -EINVAL;
    }
    *o = '\0';
    *ret = out;
    *pp = p + 1;
    return 0;
}

static void challenge_done(struct bt_reg_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
}

void bt_reg_challenges_free(struct bt_reg_challenge *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        challenge_done(&c[i]);
    free(c);
}

static char **challenge_slot(struct bt_reg_challenge *c, const char *key, size_t klen)
{
    static const struct {
        const char *name;
        size_t off;
    } keys[] = {
        {"realm", offsetof(struct bt_reg_challenge, realm)},
        {"service", offsetof(struct bt_reg_challenge, service)},
        {"scope", offsetof(struct bt_reg_challenge, scope)},
        {"error", offsetof(struct bt_reg_challenge, error)},
    };
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strlen(keys[i].name) == klen && strncasecmp(keys[i].name, key, klen) == 0)
            return (char **)((char *)c + keys[i].off);
    return NULL;
}

/* Parameters after a scheme, up to the next scheme or the end. */
static int parse_params(const char **pp, struct bt_reg_challenge *c)
{
    const char *p = *pp;

    for (;;) {
        const char *key, *save;
        char **slot, *val = NULL;
        size_t klen;
        int r;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        save = key = p;
        while (is_tchar(*p))
            p++;
        klen = (size_t)(p - key);
        p = skip_ws(p);
        if (klen == 0)
            return -EINVAL;
        if (*p != '=') { /* a token without "=": the next challenge's scheme */
            p = save;
            break;
        }
        p = skip_ws(p + 1);
        r = parse_value(&p, &val);
        if (r < 0)
            return r;
        slot = challenge_slot(c, key, klen);
        if (slot) {
            free(*slot);
            *slot = val;
        } else
            free(val);
        p = skip_ws(p);
        if (*p && *p != ',')
            return -EINVAL;
    }
    *pp = p;
    return 0;
}

int bt_reg_challenges_parse(const char *value, struct bt_reg_challenge **ret, size_t *ret_n)
{
    struct bt_reg_challenge *v = NULL;
    const char *p = value ? value : "";
    size_t n = 0;
    int r = 0;

    for (;;) {
        const char *s;
        struct bt_reg_challenge *nv;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        s = p;
        while (is_tchar(*p))
            p++;
        if (p == s || (*p && *p != ' ' && *p != '\t' && *p != ',')) {
            r = -EINVAL;
            break;
        }
        nv = realloc(v, (n + 1) * sizeof(*v));
        if (!nv) {
            r = -ENOMEM;
            break;
        }
        v = nv;
        memset(&v[n], 0, sizeof(v[n]));
        if ((size_t)(p - s) == 6 && strncasecmp(s, "bearer", 6) == 0)
            v[n].scheme = BT_REG_AUTH_BEARER;
        else if ((size_t)(p - s) == 5 && strncasecmp(s, "basic", 5) == 0)
            v[n].scheme = BT_REG_AUTH_BASIC;
        else
            v[n].scheme = BT_REG_AUTH_OTHER;
        n++;
        r = parse_params(&p, &v[n - 1]);
        if (r < 0)
            break;
    }
    if (r < 0) {
        bt_reg_challenges_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* ---- hosts and endpoints ------------------------------------------------------ */

/* The host name without port or brackets, into buf; false when it does not fit. */
static bool host_name(const char *host, char *buf, size_t size)
{
    const char *s = host, *e;

    if (*s == '[') {
        s++;
        e = strchr(s, ']');
        if (!e)
            return false;
    } else if (strchr(s, ':') && strchr(s, ':') != strrchr(s, ':'))
        e = s + strlen(s); /* a bare IPv6 address */
    else
        e = strchr(s, ':') ? strchr(s, ':') : s + strlen(s);
    if ((size_t)(e - s) >= size)
        return false;
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    return true;
}

struct ipaddr {
    int family;
    unsigned char b[16];
};

static bool ip_parse(const char *s, struct ipaddr *a)
{
    if (inet_pton(AF_INET, s, a->b) == 1) {
        a->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, a->b) == 1) {
        a->family = AF_INET6;
        return true;
    }
    return false;
}

bool bt_reg_host_is_loopback(const char *host)
{
    char name[256];
    struct ipaddr a;

    if (!host || !host_name(host, name, sizeof(name)))
        return false;
    if (strcasecmp(name, "localhost") == 0)
        return true;
    if (!ip_parse(name, &a))
        return false;
    if (a.family == AF_INET)
        return a.b[0] == 127;
    return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a.b);
}

static bool cidr_contains(const char *cidr, const char *name)
{
    char net[64];
    const char *slash = strchr(cidr, '/');
    struct ipaddr n, a;
    char *end;
    long bits;

    if (!slash || (size_t)(slash - cidr) >= sizeof(net))
        return false;
    memcpy(net, cidr, (size_t)(slash - cidr));
    net[slash - cidr] = '\0';
    errno = 0;
    bits = strtol(slash + 1, &end, 10);
    if (errno || *end || end == slash + 1 || bits < 0)
        return false;
    if (!ip_parse(net, &n) || !ip_parse(name, &a) || n.family != a.family)
        return false;
    if (bits > (n.family == AF_INET ? 32 : 128))
        return false;
    for (long i = 0; i < bits; i++) {
        unsigned char m = (unsigned char)(0x80 >> (i % 8));
        if ((n.b[i / 8] & m) != (a.b[i / 8] & m))
            return false;
    }
    return true;
}

/* An entry as daemon.json may write it: an optional scheme and trailing '/' dropped. */
static bool entry_matches(const char *entry, const char *host, const char *name)
{
    size_t len;

    if (strncasecmp(entry, "http://", 7) == 0)
        entry += 7;
    else if (strncasecmp(entry, "https://", 8) == 0)
        entry += 8;
    len = strlen(entry);
    while (len > 0 && entry[len - 1] == '/')
        len--;
    if (memchr(entry, '/', len)) {
        char cidr[80];
        if (len >= sizeof(cidr))
            return false;
        memcpy(cidr, entry, len);
        cidr[len] = '\0';
        return cidr_contains(cidr, name);
    }
    return strlen(host) == len && strncasecmp(entry, host, len) == 0;
}

bool bt_reg_host_insecure(const char *host, const char *const *insecure, size_t n)
{
    char name[256];

    if (!host || !host_name(host, name, sizeof(name)))
        return false;
    if (bt_reg_host_is_loopback(host))
        return true;
    for (size_t i = 0; i < n; i++)
        if (insecure[i] && entry_matches(insecure[i], host, name))
            return true;
    return false;
}

static bool is_docker_hub(const char *host)
{
    return strcasecmp(host, BT_REG_DOCKER_HUB) == 0 || strcasecmp(host, "index.docker.io") == 0 ||
           strcasecmp(host, BT_REG_DOCKER_HUB_API) == 0;
}

int bt_reg_endpoint_url(const char *host, const char *const *insecure, size_t n, char **ret_url)
{
    char *url = NULL;

    if (!host || !*host)
        return -EINVAL;
    if (is_docker_hub(host))
        url = strdup("https://" BT_REG_DOCKER_HUB_API);
    else if (asprintf(&url, "%s://%s", bt_reg_host_insecure(host, insecure, n) ? "http" : "https",
                      host) < 0)
        url = NULL;
    if (!url)
        return -ENOMEM;
    *ret_url = url;
    return 0;
}

int bt_reg_host_from_server_address(const char *addr, char **ret_host)
{
    const char *s = addr ? addr : "";
    size_t len;
    char *h;

    if (strncasecmp(s, "http://", 7) == 0)
        s += 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        s += 8;
    len = strcspn(s, "/");
    h = len ? strndup(s, len) : strdup(BT_REG_DOCKER_HUB);
    if (h && is_docker_hub(h)) {
        free(h);
        h = strdup(BT_REG_DOCKER_HUB);
    }
    if (!h)
        return -ENOMEM;
    *ret_host = h;
    return 0;
}

/* ---- token cache -------------------------------------------------------------- */

#define TOKEN_CACHE_MAX 256
#define TOKEN_MIN_LIFETIME_S 60

struct token_entry {
    char *key, *token;
    uint64_t expires_ms;
};

struct bt_reg_token_cache {
    bt_reg_clock_fn clock;
    void *clock_data;
    struct token_entry e[TOKEN_CACHE_MAX];
    size_t n;
};

struct bt_reg_token_cache *bt_reg_token_cache_new(bt_reg_clock_fn clock, void *clock_data)
{
    struct bt_reg_token_cache *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->clock = clock;
    c->clock_data = clock_data;
    return c;
}

static void token_entry_drop(struct bt_reg_token_cache *c, size_t i)
{
    explicit_bzero(c->e[i].token, strlen(c->e[i].token));
    free(c->e[i].key);
    free(c->e[i].token);
    c->e[i] = c->e[--c->n];
}

static ssize_t token_find(struct bt_reg_token_cache *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].key, key) == 0)
            return (ssize_t)i;
    return -1;
}

int bt_reg_token_cache_put(struct bt_reg_token_cache *c, const char *key, const char *token,
                           int64_t expires_in_s)
{
    uint64_t now = c->clock(c->clock_data);
    struct token_entry t;
    ssize_t i;

    if (expires_in_s < TOKEN_MIN_LIFETIME_S)
        expires_in_s = TOKEN_MIN_LIFETIME_S;
    if (expires_in_s > 366 * 24 * 3600)
        expires_in_s = 366 * 24 * 3600;
    t.key = strdup(key);
    t.token = strdup(token);
    t.expires_ms = now + (uint64_t)expires_in_s * 1000;
    if (!t.key || !t.token) {
        free(t.key);
        free(t.token);
        return -ENOMEM;
    }
    bt_reg_token_cache_drop(c, key);
    for (size_t j = c->n; j-- > 0;)
        if (c->e[j].expires_ms <= now)
            token_entry_drop(c, j);
    if (c->n == TOKEN_CACHE_MAX) {
        size_t old = 0;
        for (size_t j = 1; j < c->n; j++)
            if (c->e[j].expires_ms < c->e[old].expires_ms)
                old = j;
        token_entry_drop(c, old);
    }
    i = (ssize_t)c->n++;
    c->e[i] = t;
    return 0;
}

const char *bt_reg_token_cache_get(struct bt_reg_token_cache *c, const char *key)
{
    ssize_t i = token_find(c, key);

    if (i < 0)
        return NULL;
    if (c->e[i].expires_ms <= c->clock(c->clock_data)) {
        token_entry_drop(c, (size_t)i);
        return NULL;
    }
    return c->e[i].token;
}

void bt_reg_token_cache_drop(struct bt_reg_token_cache *c, const char *key)
{
    ssize_t i = token_find(c, key);

    if (i >= 0)
        token_entry_drop(c, (size_t)i);
}

void bt_reg_token_cache_free(struct bt_reg_token_cache *c)
{
    if (!c)
        return;
    while (c->n > 0)
        token_entry_drop(c, c->n - 1);
    free(c);
}

/* ---- registry JSON answers ---------------------------------------------------- */

char *bt_reg_error_text(const char *body, size_t len)
{
    cJSON *root, *first;
    const cJSON *code, *msg;
    char *out = NULL;

    if (!body || !len)
        return NULL;
    root = cJSON_ParseWithLength(body, len);
    first = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "errors"), 0);
    code = cJSON_GetObjectItem(first, "code");
    msg = cJSON_GetObjectItem(first, "message");
    if (cJSON_IsString(code)) {
        /* Go's errcode: the code in lower case with spaces, then the message. */
        char *c = strdup(code->valuestring);
        for (char *p = c; p && *p; p++)
            *p = *p == '_' ? ' ' : (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
        if (c && asprintf(&out, "%s: %s", c, cJSON_IsString(msg) ? msg->valuestring : "") < 0)
            out = NULL;
        free(c);
    }
    cJSON_Delete(root);
    return out;
}

int bt_reg_token_response_parse(const char *body, size_t len, char **ret_token,
                                int64_t *ret_expires_in, char **ret_refresh)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *tok, *exp, *ref;
    int r = -EINVAL;

    tok = cJSON_GetObjectItem(root, "token");
    if (!cJSON_IsString(tok) || !*tok->valuestring)
        tok = cJSON_GetObjectItem(root, "access_token");
    exp = cJSON_GetObjectItem(root, "expires_in");
    ref = cJSON_GetObjectItem(root, "refresh_token");
    *ret_token = NULL;
    *ret_refresh = NULL;
    *ret_expires_in = cJSON_IsNumber(exp) && exp->valuedouble > 0 && exp->valuedouble < 1e9
                          ? (int64_t)exp->valuedouble
                          : 0;
    if (cJSON_IsString(tok) && *tok->valuestring) {
        *ret_token = strdup(tok->valuestring);
        if (cJSON_IsString(ref) && *ref->valuestring)
            *ret_refresh = strdup(ref->valuestring);
        r = *ret_token ? 0 : -ENOMEM;
    }
    if (root) {
        /* The parsed tree held the token too. */
        if (cJSON_IsString(tok))
            explicit_bzero(tok->valuestring, strlen(tok->valuestring));
        if (cJSON_IsString(ref))
            explicit_bzero(ref->valuestring, strlen(ref->valuestring));
    }
    cJSON_Delete(root);
    return r;
}

int bt_reg_manifest_sniff(const char *body, size_t len, char **ret_media_type)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *mt, *sv;
    const char *guess;
    int r = 0;

    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return -EINVAL;
    }
    mt = cJSON_GetObjectItem(root, "mediaType");
    sv = cJSON_GetObjectItem(root, "schemaVersion");
    if (cJSON_IsNumber(sv) && sv->valuedouble == 1) {
        r = 1;
        guess = BT_REG_MT_SCHEMA1;
    } else if (cJSON_IsString(mt) && *mt->valuestring)
        guess = mt->valuestring;
    else if (cJSON_GetObjectItem(root, "manifests"))
        guess = BT_REG_MT_OCI_INDEX;
    else
        guess = BT_REG_MT_OCI_MANIFEST;
    *ret_media_type = strdup(guess);
    cJSON_Delete(root);
    if (!*ret_media_type)
        return -ENOMEM;
    return r;
}
