/* The json-file log reader behind GET /containers/{id}/logs: walks the
 * rotated files oldest first, then the live one, and turns each entry into
 * the bytes the client gets (a multiplexed frame, or raw for a TTY). It holds
 * the file it reads open, so a rotation (rename to <log>.1) never loses its
 * place; the files that came after it are found again by inode. */
#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "berth/ctr_logs.h"
#include "berth/timeparse.h"

#define READ_CHUNK (64 * 1024)
#define MAX_ROTATED 4096 /* far above any sane max-file: bounds the scan */

/* ---- one line ------------------------------------------------------------------- */

/* Go's url.QueryEscape of s onto b. */
static void query_escape(struct bt_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            (void)bt_buf_append(b, s, 1);
        } else if (c == ' ') {
            (void)bt_buf_append(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            (void)bt_buf_append(b, e, 3);
        }
    }
}

/* dockerd's --details prefix: the attrs sorted by key, "k=v" joined by ",". */
static char *format_details(const cJSON *attrs)
{
    const cJSON *a, *b;
    const cJSON *sorted[256];
    size_t n = 0;
    struct bt_buf out;

    cJSON_ArrayForEach(a, attrs)
        if (cJSON_IsString(a) && n < ARRAY_SIZE(sorted))
            sorted[n++] = a;
    for (size_t i = 1; i < n; i++) /* few keys: insertion sort */
        for (size_t j = i; j > 0 && strcmp(sorted[j - 1]->string, sorted[j]->string) > 0; j--) {
            b = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = b;
        }
    bt_buf_init(&out, 0);
    for (size_t i = 0; i < n; i++) {
        if (i)
            (void)bt_buf_append(&out, ",", 1);
        query_escape(&out, sorted[i]->string);
        (void)bt_buf_append(&out, "=", 1);
        query_escape(&out, sorted[i]->valuestring);
    }
    char *p = bt_buf_steal(&out, NULL);
    return p ? p : strdup("");
}

int bt_logline_parse(const char *line, size_t len, struct bt_logline *ret)
{
    cJSON *o = cJSON_ParseWithLength(line, len);
    const cJSON *log, *stream, *time;
    int r = -EINVAL;

    *ret = (struct bt_logline){0};
    if (!o)
        return -EINVAL;
    log = cJSON_GetObjectItemCaseSensitive(o, "log");
    stream = cJSON_GetObjectItemCaseSensitive(o, "stream");
    time = cJSON_GetObjectItemCaseSensitive(o, "time");
    if (!cJSON_IsString(log) || !cJSON_IsString(stream) || !cJSON_IsString(time))
        goto out;
    if (bt_logline_time(time->valuestring, strlen(time->valuestring), &ret->time_nano) < 0 &&
        bt_time_parse_rfc3339(time->valuestring, &ret->time_nano) < 0)
        goto out;
    ret->is_stderr = strcmp(stream->valuestring, "stderr") == 0;
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "attrs")) &&
        !(ret->details = format_details(cJSON_GetObjectItemCaseSensitive(o, "attrs")))) {
        r = -ENOMEM;
        goto out;
    }
    ret->log_len = strlen(log->valuestring);
    /* Take the decoded string from the tree rather than copying it. */
    ret->log = log->valuestring;
    ((cJSON *)log)->valuestring = NULL;
    r = 0;
out:
    cJSON_Delete(o);
    return r;
}

void bt_logline_done(struct bt_logline *l)
{
    /* cJSON's default allocator is malloc (the daemon never changes it). */
    free(l->log);
    l->log = NULL;
    free(l->details);
    l->details = NULL;
}

/* ---- the reader ------------------------------------------------------------------ */

struct lfile {
    int fd;      /* plain file, or -1 */
    gzFile gz;   /* compressed rotation, or NULL */
    dev_t dev;
    ino_t ino;
};

struct bt_logs_reader {
    char *path;
    struct bt_logs_opts o;
    bool started;
    struct lfile *files; /* files[0] is read now; the last is the live one */
    size_t n_files;
    struct bt_buf pending; /* read, not yet cut into lines */
    long skip;             /* lines still to skip for `tail` */
    char *rbuf;
    /* The last second format_time formatted, "YYYY-MM-DDTHH:MM:SS." */
    bool ts_valid;
    time_t ts_sec;
    char ts_prefix[32];
    size_t ts_len;
};

int bt_logs_reader_new(const char *log_path, const struct bt_logs_opts *o,
                       struct bt_logs_reader **ret)
{
    struct bt_logs_reader *r = calloc(1, sizeof(*r));

    if (!r || !(r->path = strdup(log_path ? log_path : "")) || !(r->rbuf = malloc(READ_CHUNK))) {
        bt_logs_reader_free(r);
        return -ENOMEM;
    }
    r->o = *o;
    bt_buf_init(&r->pending, 0);
    *ret = r;
    return 0;
}

static void lfile_close(struct lfile *f)
{
    if (f->gz)
        (void)gzclose(f->gz);
    else if (f->fd >= 0)
        (void)close(f->fd);
    f->gz = NULL;
    f->fd = -1;
}

void bt_logs_reader_free(struct bt_logs_reader *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_files; i++)
        lfile_close(&r->files[i]);
    free(r->files);
    bt_buf_done(&r->pending);
    free(r->rbuf);
    free(r->path);
    free(r);
}

/* Open `name` (gz: through zlib). 0, or -errno (ENOENT: no such file). */
static int lfile_open(const char *name, bool gz, struct lfile *ret)
{
    struct stat st;
    int fd = open(name, O_RDONLY | O_CLOEXEC);

    *ret = (struct lfile){.fd = -1};
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        (void)close(fd);
        return -e;
    }
    ret->dev = st.st_dev;
    ret->ino = st.st_ino;
    if (gz) {
        if (!(ret->gz = gzdopen(fd, "rb"))) {
            (void)close(fd);
            return -ENOMEM;
        }
    } else {
        ret->fd = fd;
    }
    return 0;
}

static int push_file(struct bt_logs_reader *r, const struct lfile *f)
{
    struct lfile *n = realloc(r->files, (r->n_files + 1) * sizeof(*n));

    if (!n)
        return -ENOMEM;
    r->files = n;
    r->files[r->n_files++] = *f;
    return 0;
}

/* <log>.i, plain or compressed (a rotation being compressed may briefly be
 * either). */
static int open_rotated(const char *path, size_t i, struct lfile *ret)
{
    char name[4096];

    snprintf(name, sizeof(name), "%s.%zu", path, i);
    if (lfile_open(name, false, ret) == 0)
        return 0;
    snprintf(name, sizeof(name), "%s.%zu.gz", path, i);
    return lfile_open(name, true, ret);
}

static ssize_t lfile_read(struct lfile *f, char *buf, size_t len)
{
    if (f->gz) {
        int n = gzread(f->gz, buf, (unsigned)len);
        return n < 0 ? -EIO : n;
    }
    ssize_t n;
    do
        n = read(f->fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int lfile_rewind(struct lfile *f)
{
    if (f->gz)
        return gzrewind(f->gz) == 0 ? 0 : -EIO;
    return lseek(f->fd, 0, SEEK_SET) < 0 ? -errno : 0;
}

static long count_lines(struct bt_logs_reader *r)
{
    long n = 0;

    for (size_t i = 0; i < r->n_files; i++) {
        ssize_t got;
        while ((got = lfile_read(&r->files[i], r->rbuf, READ_CHUNK)) > 0)
            for (const char *p = r->rbuf; (p = memchr(p, '\n', (size_t)(r->rbuf + got - p)));
                 p++)
                n++;
        (void)lfile_rewind(&r->files[i]);
    }
    return n;
}

/* The files as they are now: rotations oldest first, then the live log. */
static void start(struct bt_logs_reader *r)
{
    struct lfile f;
    size_t n = 0;

    r->started = true;
    while (n < MAX_ROTATED && open_rotated(r->path, n + 1, &f) == 0) {
        if (push_file(r, &f) < 0) {
            lfile_close(&f);
            break;
        }
        n++;
    }
    /* Found newest first; read oldest first. */
    for (size_t i = 0; i < n / 2; i++) {
        struct lfile t = r->files[i];
        r->files[i] = r->files[n - 1 - i];
        r->files[n - 1 - i] = t;
    }
    if (*r->path && lfile_open(r->path, false, &f) == 0 && push_file(r, &f) < 0)
        lfile_close(&f);
    if (r->o.tail >= 0) {
        long total = count_lines(r);
        r->skip = total > r->o.tail ? total - r->o.tail : 0;
    }
}

/* stat of <log>.i (plain, else .gz), or of <log> for i == 0. */
static int stat_rotated(const char *path, size_t i, struct stat *st)
{
    char name[4096];

    if (i == 0)
        return stat(path, st);
    snprintf(name, sizeof(name), "%s.%zu", path, i);
    if (stat(name, st) == 0)
        return 0;
    snprintf(name, sizeof(name), "%s.%zu.gz", path, i);
    return stat(name, st);
}

/* Where the file ino/dev sits among <log>.1 ... now; 0 if not found. A
 * rotation renames top down, so while it runs one index may be vacant. */
static size_t rotated_index(const char *path, dev_t dev, ino_t ino, bool *gap)
{
    int missing = 0;

    *gap = false;
    for (size_t i = 1; i <= MAX_ROTATED && missing < 2; i++) {
        struct stat st;
        if (stat_rotated(path, i, &st) < 0) {
            missing++;
            continue;
        }
        if (missing)
            *gap = true;
        missing = 0;
        if (st.st_dev == dev && st.st_ino == ino)
            return i;
    }
    return 0;
}

/* The live file was renamed away: queue the files that came after it
 * (<log>.k-1 ... <log>.1, then the new <log>), k being where ours is now.
 * The names are a snapshot that a rotation running meanwhile shifts: the
 * files opened count only when each is the one the snapshot named and no
 * index was vacant (a rename in flight); else close them and look again.
 * A compressed rotation changes inode: then only the new <log> follows. */
static void follow_rotation(struct bt_logs_reader *r)
{
    const struct lfile cur = r->files[r->n_files - 1];
    const size_t before = r->n_files;

    for (int attempt = 0; attempt < 200; attempt++) {
        bool gap, same = true;
        struct lfile f;
        struct stat st;
        size_t k = rotated_index(r->path, cur.dev, cur.ino, &gap);
        if (gap) {
            struct timespec ts = {0, 1000000}; /* pool thread: let the renames finish */
            nanosleep(&ts, NULL);
            continue;
        }
        for (size_t i = k > 0 ? k - 1 : 0;; i--) {
            int rc = i ? open_rotated(r->path, i, &f) : lfile_open(r->path, false, &f);
            if (rc == 0 && push_file(r, &f) < 0) {
                lfile_close(&f);
                rc = -1;
            }
            if (rc < 0 || stat_rotated(r->path, i, &st) < 0 ||
                st.st_ino != r->files[r->n_files - 1].ino ||
                st.st_dev != r->files[r->n_files - 1].dev) {
                same = false;
                break;
            }
            if (i == 0)
                break;
        }
        if (same && rotated_index(r->path, cur.dev, cur.ino, &gap) == k && !gap)
            return;
        while (r->n_files > before)
            lfile_close(&r->files[--r->n_files]);
    }
    /* A writer that never holds still: follow the live file at least. */
    struct lfile f;
    if (lfile_open(r->path, false, &f) == 0 && push_file(r, &f) < 0)
        lfile_close(&f);
}

/* Go's RFC3339Nano with all nine digits and a space, as dockerd prints log
 * times: buf needs TS_MAX bytes. The date and time of day are formatted once
 * per second (a busy log has thousands of lines in each). */
#define TS_MAX 48
static size_t format_time(struct bt_logs_reader *r, int64_t nano, char *buf)
{
    time_t s = (time_t)(nano / 1000000000);
    long ns = (long)(nano % 1000000000);

    if (ns < 0) {
        ns += 1000000000;
        s--;
    }
    if (!r->ts_valid || s != r->ts_sec) {
        struct tm tm;
        gmtime_r(&s, &tm);
        r->ts_len = (size_t)snprintf(r->ts_prefix, sizeof(r->ts_prefix),
                                     "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (r->ts_len >= sizeof(r->ts_prefix))
            r->ts_len = sizeof(r->ts_prefix) - 1;
        r->ts_sec = s;
        r->ts_valid = true;
    }
    memcpy(buf, r->ts_prefix, r->ts_len);
    char *o = buf + r->ts_len;
    for (int i = 8; i >= 0; i--, ns /= 10)
        o[i] = (char)('0' + ns % 10);
    o[9] = 'Z';
    o[10] = ' ';
    return r->ts_len + 11;
}

static void put_header(char *h, bool is_stderr, size_t n)
{
    h[0] = is_stderr ? 2 : 1;
    h[1] = h[2] = h[3] = 0;
    h[4] = (char)(n >> 24);
    h[5] = (char)(n >> 16);
    h[6] = (char)(n >> 8);
    h[7] = (char)n;
}

/* A line the fast path does not take (another engine's, an odd escape, or
 * attrs wanted for --details): through cJSON. */
static int emit_parsed(struct bt_logs_reader *r, const char *line, size_t len, struct bt_buf *out)
{
    struct bt_logline l;
    char ts[TS_MAX];
    size_t ts_len = 0;

    if (bt_logline_parse(line, len, &l) < 0)
        return 0; /* a torn or foreign line: skip it, as dockerd's decoder does */
    if (r->o.until && l.time_nano > r->o.until) {
        bt_logline_done(&l);
        return 1;
    }
    if ((l.is_stderr ? !r->o.err : !r->o.out) || (r->o.since && l.time_nano < r->o.since)) {
        bt_logline_done(&l);
        return 0;
    }
    if (r->o.timestamps)
        ts_len = format_time(r, l.time_nano, ts);
    /* dockerd: "<time> <attrs> <line>"; no attrs still gives the space. */
    size_t det_len = r->o.details ? (l.details ? strlen(l.details) : 0) + 1 : 0;
    if (!r->o.tty) {
        char h[8];
        put_header(h, l.is_stderr, ts_len + det_len + l.log_len);
        (void)bt_buf_append(out, h, sizeof(h));
    }
    (void)bt_buf_append(out, ts, ts_len);
    if (det_len > 1)
        (void)bt_buf_append(out, l.details, det_len - 1);
    if (det_len)
        (void)bt_buf_append(out, " ", 1);
    (void)bt_buf_append(out, l.log, l.log_len);
    bt_logline_done(&l);
    return 0;
}

/* One line of the file: 1 when it was after `until`, else 0. The usual line
 * is decoded straight into `out`, its frame header filled in afterwards. */
static int emit_line(struct bt_logs_reader *r, const char *line, size_t len, struct bt_buf *out)
{
    struct bt_logline_span s;

    if (r->skip > 0) {
        r->skip--;
        return 0;
    }
    if (bt_logline_scan(line, len, &s) < 0 || (r->o.details && s.attrs))
        return emit_parsed(r, line, len, out);
    if (r->o.until && s.time_nano > r->o.until)
        return 1;
    if ((s.is_stderr ? !r->o.err : !r->o.out) || (r->o.since && s.time_nano < r->o.since))
        return 0;
    if (bt_buf_reserve(out, 8 + TS_MAX + 1 + s.log_len) < 0)
        return 0;
    char *h = out->p + out->len, *o = h + (r->o.tty ? 0 : 8);
    const char *body = o;
    if (r->o.timestamps)
        o += format_time(r, s.time_nano, o);
    if (r->o.details)
        *o++ = ' '; /* no attrs: dockerd still gives the space */
    o += bt_logline_unescape(s.log, s.log_len, o);
    if (!r->o.tty)
        put_header(h, s.is_stderr, (size_t)(o - body));
    out->len = (size_t)(o - out->p);
    out->p[out->len] = '\0';
    return 0;
}

/* Cut `pending` into lines until `out` is full. 1: past until. */
static int drain_pending(struct bt_logs_reader *r, struct bt_buf *out, size_t max)
{
    size_t used = 0;
    int past = 0;

    while (out->len < max && !past && used < r->pending.len) {
        char *start = r->pending.p + used;
        char *nl = memchr(start, '\n', r->pending.len - used);
        if (!nl)
            break;
        past = emit_line(r, start, (size_t)(nl - start), out);
        used += (size_t)(nl - start) + 1;
    }
    bt_buf_consume(&r->pending, used);
    return past;
}

enum bt_logs_step bt_logs_reader_step(struct bt_logs_reader *r, struct bt_buf *out, size_t max)
{
    if (!r->started)
        start(r);
    for (;;) {
        if (drain_pending(r, out, max))
            return BT_LOGS_PAST_UNTIL;
        if (out->len >= max)
            return BT_LOGS_MORE;
        if (r->n_files == 0) {
            /* No log yet (never started); it may appear once it runs. */
            struct lfile f;
            if (!*r->path || lfile_open(r->path, false, &f) < 0)
                return BT_LOGS_AT_END;
            if (push_file(r, &f) < 0) {
                lfile_close(&f);
                return BT_LOGS_AT_END;
            }
        }
        struct lfile *f = &r->files[0];
        ssize_t n = lfile_read(f, r->rbuf, READ_CHUNK);
        if (n > 0) {
            if (bt_buf_append(&r->pending, r->rbuf, (size_t)n) < 0)
                return BT_LOGS_AT_END;
            continue;
        }
        if (r->n_files > 1) {
            /* A finished rotation: a torn last line cannot be completed. */
            lfile_close(f);
            bt_buf_reset(&r->pending);
            memmove(r->files, r->files + 1, (r->n_files - 1) * sizeof(*r->files));
            r->n_files--;
            continue;
        }
        /* At the end of the live file: has it been rotated away? The
         * monitor writes before it renames, so one more read after seeing
         * the rename gets the file's last bytes. */
        struct stat st;
        if (stat(r->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino)
            return BT_LOGS_AT_END;
        if ((n = lfile_read(f, r->rbuf, READ_CHUNK)) > 0) {
            if (bt_buf_append(&r->pending, r->rbuf, (size_t)n) < 0)
                return BT_LOGS_AT_END;
            continue;
        }
        size_t before = r->n_files;
        follow_rotation(r);
        if (r->n_files == before)
            return BT_LOGS_AT_END; /* nothing new there yet */
    }
}
