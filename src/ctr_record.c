/* The container record on disk (data-root/containers/<id>/config.json): its
 * JSON form, and loading every record at start-up. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "berth/cgroup.h"
#include "berth/daemon.h"
#include "berth/log.h"
#include "berth/storage.h"
#include "berth/timeparse.h"
#include "src/ctr-internal.h"

#define RECORD_FILE "config.json"
#define RECORD_MAX (16u << 20) /* a record is a few KiB; anything this big is not one */

char *bt__ctr_dir(const struct bt_daemon *d, const char *id)
{
    char *p;
    return asprintf(&p, "%s/containers/%s", d->cfg.data_root, id) < 0 ? NULL : p;
}

char *bt__ctr_run_dir(const struct bt_daemon *d, const char *id)
{
    char *p;
    return asprintf(&p, "%s/%s", d->cfg.exec_root, id) < 0 ? NULL : p;
}

/* ---- encode ------------------------------------------------------------------------- */

static bool add_str(cJSON *o, const char *key, const char *v)
{
    return cJSON_AddStringToObject(o, key, v ? v : "") != NULL;
}

static bool add_time(cJSON *o, const char *key, int64_t nano)
{
    char t[BT_TIME_RFC3339_MAX];

    bt_time_format_rfc3339nano(nano, t);
    return add_str(o, key, t);
}

/* The record's own trees go in by reference: nothing is copied, and deleting
 * the wrapper leaves them alone. */
static bool add_ref(cJSON *o, const char *key, cJSON *item)
{
    if (!item)
        return cJSON_AddNullToObject(o, key) != NULL;
    return cJSON_AddItemReferenceToObject(o, key, item);
}

static bool add_state(cJSON *o, const struct bt_ctr_state *st)
{
    cJSON *s = cJSON_AddObjectToObject(o, "State");

    return s && add_str(s, "Status", bt_ctr_status_name(st->status)) &&
           cJSON_AddBoolToObject(s, "OOMKilled", st->oom_killed) &&
           cJSON_AddNumberToObject(s, "Pid", st->pid) &&
           cJSON_AddNumberToObject(s, "MonitorPid", st->monitor_pid) &&
           cJSON_AddNumberToObject(s, "ExitCode", st->exit_code) &&
           add_str(s, "Error", st->error) && add_time(s, "StartedAt", st->started_nano) &&
           add_time(s, "FinishedAt", st->finished_nano);
}

static bool add_args(cJSON *o, char **args)
{
    cJSON *a = cJSON_AddArrayToObject(o, "Args");

    if (!a)
        return false;
    for (char **p = args; p && *p; p++) {
        cJSON *s = cJSON_CreateString(*p);
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            return false;
        }
    }
    return true;
}

char *bt__ctr_encode(const struct bt_ctr *c)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    bool ok;

    if (!o)
        return NULL;
    ok = add_str(o, "ID", c->id) && add_str(o, "Name", c->name) &&
         add_time(o, "Created", c->created_nano) && add_str(o, "Image", c->image_id) &&
         add_str(o, "TopLayer", c->top_chain) &&
         add_ref(o, "Config", c->config) && add_ref(o, "HostConfig", c->host_config) &&
         add_ref(o, "NetworkingConfig", c->networking) && add_str(o, "Path", c->path) &&
         add_args(o, c->args) && add_state(o, &c->state) &&
         cJSON_AddNumberToObject(o, "RestartCount", c->restart_count) &&
         cJSON_AddBoolToObject(o, "HasBeenStarted", c->has_been_started) &&
         cJSON_AddBoolToObject(o, "ManuallyStopped", c->manually_stopped) &&
         add_str(o, "LogPath", c->log_path) && add_str(o, "HostnamePath", c->hostname_path) &&
         add_str(o, "HostsPath", c->hosts_path) &&
         add_str(o, "ResolvConfPath", c->resolv_conf_path);
    if (ok)
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* ---- decode ------------------------------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A string member (missing reads as ""); false when it is something else. */
static bool get_str(const cJSON *o, const char *key, const char **ret)
{
    const cJSON *v = get(o, key);

    if (!v) {
        *ret = "";
        return true;
    }
    if (!cJSON_IsString(v))
        return false;
    *ret = v->valuestring;
    return true;
}

static bool get_int(const cJSON *o, const char *key, int *ret)
{
    const cJSON *v = get(o, key);

    if (!v) {
        *ret = 0;
        return true;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < -2147483648.0 || v->valuedouble > 2147483647.0)
        return false;
    *ret = (int)v->valuedouble;
    return true;
}

static bool get_bool(const cJSON *o, const char *key, bool *ret)
{
    const cJSON *v = get(o, key);

    if (v && !cJSON_IsBool(v))
        return false;
    *ret = v && cJSON_IsTrue(v);
    return true;
}

static bool get_time(const cJSON *o, const char *key, int64_t *ret)
{
    const char *s;

    if (!get_str(o, key, &s))
        return false;
    if (!*s) {
        *ret = 0;
        return true;
    }
    return bt_time_parse_rfc3339(s, ret) == 0;
}

/* Replace *dst with a copy of the string member. */
static bool take_str(const cJSON *o, const char *key, char **dst)
{
    const char *s;
    char *copy;

    if (!get_str(o, key, &s) || !(copy = strdup(s)))
        return false;
    free(*dst);
    *dst = copy;
    return true;
}

static bool id_valid(const char *id)
{
    if (strlen(id) != BT_CTR_ID_LEN)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static bool status_parse(const char *s, enum bt_ctr_status *ret)
{
    for (int i = 0; i < BT_CTR_STATUS_MAX; i++) {
        if (strcmp(s, bt_ctr_status_name(i)) == 0) {
            *ret = i;
            return true;
        }
    }
    return false;
}

static int decode_state(const cJSON *o, struct bt_ctr_state *st, struct bt_err **err)
{
    const cJSON *s = get(o, "State");
    const char *status;

    if (!cJSON_IsObject(s))
        return bt_err_set(err, BT_EINVAL, 0, "State is not an object");
    if (!get_str(s, "Status", &status) || !status_parse(status, &st->status))
        return bt_err_set(err, BT_EINVAL, 0, "State.Status is not a status");
    if (!get_bool(s, "OOMKilled", &st->oom_killed) || !get_int(s, "Pid", &st->pid) ||
        !get_int(s, "MonitorPid", &st->monitor_pid) || !get_int(s, "ExitCode", &st->exit_code))
        return bt_err_set(err, BT_EINVAL, 0, "State has a field of the wrong type");
    if (!get_time(s, "StartedAt", &st->started_nano) ||
        !get_time(s, "FinishedAt", &st->finished_nano))
        return bt_err_set(err, BT_EINVAL, 0, "State has a bad time");
    if (!take_str(s, "Error", &st->error))
        return bt_err_set(err, BT_EINVAL, 0, "State.Error is not a string");
    if (!*st->error) {
        free(st->error);
        st->error = NULL;
    }
    return 0;
}

/* Path and Args: the command, Args always a (maybe empty) array. */
static int decode_command(const cJSON *o, struct bt_ctr *c, struct bt_err **err)
{
    const cJSON *args = get(o, "Args"), *a;
    size_t n = 0;

    if (!take_str(o, "Path", &c->path))
        return bt_err_set(err, BT_EINVAL, 0, "Path is not a string");
    if (args && !cJSON_IsArray(args))
        return bt_err_set(err, BT_EINVAL, 0, "Args is not an array");
    c->args = calloc((size_t)cJSON_GetArraySize(args) + 1, sizeof(*c->args));
    if (!c->args)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "decode container record");
    cJSON_ArrayForEach(a, args) {
        if (!cJSON_IsString(a))
            return bt_err_set(err, BT_EINVAL, 0, "Args holds a non-string");
        if (!(c->args[n++] = strdup(a->valuestring)))
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "decode container record");
    }
    return 0;
}

/* Move an object member of the parsed tree into the record. */
static int take_tree(cJSON *o, const char *key, bool required, cJSON **dst, struct bt_err **err)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (cJSON_IsObject(v)) {
        *dst = cJSON_DetachItemViaPointer(o, v);
        return 0;
    }
    if (!required && (!v || cJSON_IsNull(v)))
        return 0;
    return bt_err_set(err, BT_EINVAL, 0, "%s is not an object", key);
}

static int decode_head(const cJSON *o, struct bt_ctr *c, struct bt_err **err)
{
    const char *id, *name, *image, *top;

    if (!get_str(o, "ID", &id) || !id_valid(id))
        return bt_err_set(err, BT_EINVAL, 0, "ID is not a container ID");
    memcpy(c->id, id, BT_CTR_ID_LEN + 1);
    if (!get_str(o, "Name", &name))
        return bt_err_set(err, BT_EINVAL, 0, "Name is not a string");
    if (*name == '/')
        name++;
    if (!(c->name = strdup(name)))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "decode container record");
    if (!get_str(o, "Image", &image) || strlen(image) >= sizeof(c->image_id))
        return bt_err_set(err, BT_EINVAL, 0, "Image is not an image ID");
    memcpy(c->image_id, image, strlen(image) + 1);
    /* The layer the rootfs is mounted from and the container holds a
     * reference on: without it a restarted daemon mounts an empty rootfs. */
    if (!get_str(o, "TopLayer", &top) || strlen(top) >= sizeof(c->top_chain))
        return bt_err_set(err, BT_EINVAL, 0, "TopLayer is not a chain ID");
    memcpy(c->top_chain, top, strlen(top) + 1);
    if (!get_time(o, "Created", &c->created_nano))
        return bt_err_set(err, BT_EINVAL, 0, "Created is not a time");
    return 0;
}

static int decode_tail(const cJSON *o, struct bt_ctr *c, struct bt_err **err)
{
    if (!get_int(o, "RestartCount", &c->restart_count) ||
        !get_bool(o, "HasBeenStarted", &c->has_been_started) ||
        !get_bool(o, "ManuallyStopped", &c->manually_stopped))
        return bt_err_set(err, BT_EINVAL, 0, "a counter or flag has the wrong type");
    if (!take_str(o, "LogPath", &c->log_path) || !take_str(o, "HostnamePath", &c->hostname_path) ||
        !take_str(o, "HostsPath", &c->hosts_path) ||
        !take_str(o, "ResolvConfPath", &c->resolv_conf_path))
        return bt_err_set(err, BT_EINVAL, 0, "a path is not a string");
    return 0;
}

int bt__ctr_decode(const char *text, size_t len, struct bt_ctr **ret, struct bt_err **err)
{
    cJSON *o = cJSON_ParseWithLength(text, len);
    struct bt_ctr *c = NULL;
    int r = -1;

    if (!cJSON_IsObject(o)) {
        bt_err_set(err, BT_EINVAL, 0, "not a JSON object");
        goto out;
    }
    c = bt__ctr_new();
    if (!c) {
        bt_err_set(err, BT_EINTERNAL, ENOMEM, "decode container record");
        goto out;
    }
    if (decode_head(o, c, err) < 0 || take_tree(o, "Config", true, &c->config, err) < 0 ||
        take_tree(o, "HostConfig", true, &c->host_config, err) < 0 ||
        take_tree(o, "NetworkingConfig", false, &c->networking, err) < 0 ||
        decode_command(o, c, err) < 0 || decode_state(o, &c->state, err) < 0 ||
        decode_tail(o, c, err) < 0)
        goto out;
    *ret = TAKE_PTR(c);
    r = 0;
out:
    bt__ctr_free(c);
    cJSON_Delete(o);
    return r;
}

/* ---- load --------------------------------------------------------------------------- */

static int read_record(int dfd, const char *id, char **ret, size_t *ret_len)
{
    char path[BT_CTR_ID_LEN + sizeof("/" RECORD_FILE)];
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    size_t len = 0;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/" RECORD_FILE, id);
    fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > RECORD_MAX)
        return -EFBIG;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    n = bt_read_full(fd, buf, (size_t)st.st_size);
    if (n < 0)
        return (int)n;
    len = (size_t)n;
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

/* Keep a record that does not load for a human to look at, out of the way
 * of the next start. */
static void move_aside(int dfd, const char *id, const char *why)
{
    char from[128], to[160];
    long long now = (long long)(bt_now_nano() / 1000000000LL);

    snprintf(from, sizeof(from), "%s/" RECORD_FILE, id);
    snprintf(to, sizeof(to), "%s/" RECORD_FILE ".corrupt-%lld", id, now);
    if (renameat(dfd, from, dfd, to) < 0) {
        BT_LOG(ERROR, "ctr", "corrupt container record, cannot move it aside; ignoring it",
               "id=%s err=\"%s\" move_err=\"%s\"", id, bt_log_q(why), strerror(errno));
        return;
    }
    BT_LOG(ERROR, "ctr", "corrupt container record moved aside; ignoring it",
           "id=%s err=\"%s\" file=%s", id, bt_log_q(why), to);
}

/* Whether the directory id holds a record moved aside (kept for a human). */
static bool has_corrupt_record(int dfd, const char *id)
{
    int fd = openat(dfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    struct dirent *de;
    bool found = false;
    DIR *dir;

    if (fd < 0)
        return true; /* cannot look: keep it */
    if (!(dir = fdopendir(fd))) {
        close(fd);
        return true;
    }
    while (!found && (de = readdir(dir)))
        found = strncmp(de->d_name, RECORD_FILE ".corrupt-", sizeof(RECORD_FILE ".corrupt-") - 1) == 0;
    closedir(dir);
    return found;
}

/* A container directory without a record is what a kill -9 left between a
 * create's mkdir and its first record write (the API answers before record
 * writes land, so it may even have been started): that container does not
 * exist for anybody after the restart. Tear down whatever its start made
 * (the cgroup removal kills its processes; its monitor then ends), then
 * remove the directory; its layer reference is dropped with the other stray
 * ones. */
static void drop_unrecorded(struct bt_daemon *d, int dfd, const char *id)
{
    _cleanup_free_ char *path = NULL, *rootfs = NULL, *run = NULL;
    int r;

    if (has_corrupt_record(dfd, id)) {
        BT_LOG(WARN, "ctr", "container directory without a record, leaving it", "id=%s", id);
        return;
    }
    path = bt__ctr_dir(d, id);
    run = bt__ctr_run_dir(d, id);
    if (!path || !run || asprintf(&rootfs, "%s/rootfs", path) < 0) {
        BT_LOG(ERROR, "ctr", "out of memory removing a container directory", "id=%s", id);
        return;
    }
    if (d->cgroups)
        (void)bt_cg_remove(d->cgroups, id, NULL);
    if (d->driver)
        (void)stor_driver_unmount(d->driver, rootfs, NULL);
    (void)stor_rm_rf(run);
    r = stor_rm_rf(path);
    if (r < 0)
        BT_LOG(WARN, "ctr", "cannot remove a container directory without a record",
               "id=%s err=\"%s\"", id, strerror(-r));
    else
        BT_LOG(INFO, "ctr", "removed a container directory without a record", "id=%s", id);
}

static void load_one(struct bt_daemon *d, int dfd, const char *id)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_err_ struct bt_err *err = NULL;
    struct bt_ctr *c = NULL;
    char tmp[BT_CTR_ID_LEN + sizeof("/" RECORD_FILE ".tmp")];
    size_t len = 0;
    int r;

    /* A write cut short by a kill -9 leaves its temp file (the record is the
     * old one or the new one, never half): nobody finishes it now. */
    snprintf(tmp, sizeof(tmp), "%s/" RECORD_FILE ".tmp", id);
    (void)unlinkat(dfd, tmp, 0);
    r = read_record(dfd, id, &text, &len);
    if (r == -ENOENT) {
        drop_unrecorded(d, dfd, id);
        return;
    }
    if (r < 0) {
        BT_LOG(ERROR, "ctr", "cannot read container record, ignoring it", "id=%s err=\"%s\"", id,
               strerror(-r));
        return;
    }
    if (bt__ctr_decode(text, len, &c, &err) < 0) {
        if (err && err->code == BT_EINTERNAL) {
            BT_LOG(ERROR, "ctr", "cannot load container record, ignoring it", "id=%s err=\"%s\"",
                   id, bt_log_q(err->msg));
            return;
        }
        move_aside(dfd, id, err ? err->msg : "invalid");
        return;
    }
    if (strcmp(c->id, id) != 0) {
        move_aside(dfd, id, "the record names another container ID");
        bt__ctr_free(c);
        return;
    }
    r = bt__ctrs_add(d, c);
    if (r < 0) {
        BT_LOG(ERROR, "ctr", "cannot index container record, ignoring it",
               "id=%s name=%s err=\"%s\"", id, c->name,
               r == -EEXIST ? "name already held by another container" : strerror(-r));
        bt__ctr_free(c);
    }
}

int bt__ctrs_load(struct bt_daemon *d, struct bt_err **err)
{
    _cleanup_free_ char *path = NULL;
    struct dirent *de;
    DIR *dir;
    int dfd;

    if (asprintf(&path, "%s/containers", d->cfg.data_root) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "load containers");
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s", path);
    dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open %s", path);
    dir = fdopendir(dfd);
    if (!dir) {
        int e = errno;
        close(dfd);
        return bt_err_set(err, BT_EINTERNAL, e, "read %s", path);
    }
    while ((errno = 0, de = readdir(dir))) {
        if (id_valid(de->d_name)) {
            load_one(d, dfd, de->d_name);
        } else if (strncmp(de->d_name, ".tmp-", 5) == 0) {
            /* A removal cut short by a kill -9 (stor_rm_rf renames first). */
            _cleanup_free_ char *tmp = NULL;
            if (asprintf(&tmp, "%s/%s", path, de->d_name) >= 0)
                (void)stor_rm_rf(tmp);
        }
    }
    if (errno) {
        int e = errno;
        closedir(dir);
        return bt_err_set(err, BT_EINTERNAL, e, "read %s", path);
    }
    closedir(dir);
    return 0;
}
