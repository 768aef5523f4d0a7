/* Exec records: create, look up, the container's ExecIDs, and dropping
 * them with their container. Starting one is src/ctr_exec_start.c. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/hexid.h"
#include "berth/daemon.h"
#include "berth/log.h"
#include "src/ctr-exec.h"
#include "src/ctr-lifecycle.h"

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void bt_exec_config_done(struct bt_exec_config *cfg)
{
    if (!cfg)
        return;
    strv_free(cfg->cmd);
    strv_free(cfg->env);
    free(cfg->user);
    free(cfg->working_dir);
    free(cfg->detach_keys);
    memset(cfg, 0, sizeof(*cfg));
}

static void exec_free(struct bt_exec *e)
{
    if (!e)
        return;
    exec__rt_detach(e);
    bt_exec_config_done(&e->cfg);
    free(e);
}

static struct bt_execs *store(struct bt_daemon *d)
{
    if (!d->execs)
        d->execs = calloc(1, sizeof(*d->execs));
    return d->execs;
}

char *exec__cmdline(const struct bt_exec *e)
{
    size_t len = 1;
    char *s, *p;

    for (char **a = e->cfg.cmd; a && *a; a++)
        len += strlen(*a) + 1;
    if (!(s = malloc(len)))
        return NULL;
    p = s;
    for (char **a = e->cfg.cmd; a && *a; a++) {
        size_t n = strlen(*a);
        if (p != s)
            *p++ = ' ';
        memcpy(p, *a, n);
        p += n;
    }
    *p = 0;
    return s;
}

void exec__event(struct bt_daemon *d, const struct bt_exec *e, const char *action,
                 bool with_cmd, const char *exit_code)
{
    _cleanup_free_ char *cmd = with_cmd ? exec__cmdline(e) : NULL;
    _cleanup_free_ char *full = NULL;
    struct bt_kv extra[2];
    size_t n = 0;
    struct bt_ctr *c;

    if (bt_ctr_lookup(d, e->ctr_id, &c, NULL) < 0)
        return;
    if (with_cmd && (!cmd || asprintf(&full, "%s: %s", action, cmd) < 0))
        return;
    if (exit_code) {
        extra[n].key = "exitCode";
        extra[n++].value = (char *)exit_code;
    }
    extra[n].key = "execID";
    extra[n++].value = (char *)e->id;
    ctr_event_attrs(d, c, full ? full : action, extra, n);
}

void exec__ids_refresh(struct bt_daemon *d, const char *ctr_id)
{
    struct bt_execs *s = d->execs;
    struct bt_ctr *c;
    size_t n = 0;
    char **ids;

    if (!s || bt_ctr_lookup(d, ctr_id, &c, NULL) < 0 || strcmp(c->id, ctr_id) != 0)
        return;
    for (size_t i = 0; i < s->n; i++)
        n += !s->v[i]->exited && strcmp(s->v[i]->ctr_id, ctr_id) == 0;
    ids = n ? calloc(n + 1, sizeof(*ids)) : NULL;
    n = 0;
    for (size_t i = 0; ids && i < s->n; i++)
        if (!s->v[i]->exited && strcmp(s->v[i]->ctr_id, ctr_id) == 0 &&
            !(ids[n++] = strdup(s->v[i]->id)))
            break;
    strv_free(c->exec_ids);
    c->exec_ids = ids; /* NULL when none: inspect shows null, as dockerd */
}

static void remove_at(struct bt_execs *s, size_t i)
{
    struct bt_exec *e = s->v[i];

    memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof(*s->v));
    s->n--;
    exec_free(e);
}

void exec__prune(struct bt_daemon *d, const char *ctr_id)
{
    struct bt_execs *s = d->execs;
    size_t exited = 0;

    for (size_t i = 0; s && i < s->n; i++)
        exited += s->v[i]->exited && !s->v[i]->rt && strcmp(s->v[i]->ctr_id, ctr_id) == 0;
    /* Oldest first: the store is in creation order. */
    for (size_t i = 0; s && i < s->n && exited > BT_EXEC_KEEP_EXITED;) {
        struct bt_exec *e = s->v[i];
        if (e->exited && !e->rt && strcmp(e->ctr_id, ctr_id) == 0) {
            remove_at(s, i);
            exited--;
        } else {
            i++;
        }
    }
}

static int ctr_check_running(const struct bt_ctr *c, struct bt_err **err)
{
    if (c->state.status == BT_CTR_PAUSED)
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "Container %s is paused, unpause the container before exec", c->id);
    if (c->state.status != BT_CTR_RUNNING || c->state.pid <= 0)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is not running", c->id);
    return 0;
}

int exec__ctr_running(struct bt_daemon *d, const char *ctr_id, struct bt_ctr **ret,
                      struct bt_err **err)
{
    struct bt_ctr *c;

    if (bt_ctr_lookup(d, ctr_id, &c, err) < 0)
        return -1;
    if (ctr_check_running(c, err) < 0)
        return -1;
    *ret = c;
    return 0;
}

int bt_exec_create(struct bt_daemon *d, struct bt_ctr *c, struct bt_exec_config *cfg,
                   struct bt_exec **ret, struct bt_err **err)
{
    struct bt_execs *s = store(d);
    struct bt_exec *e = NULL;
    int r;

    if (!s || !(e = calloc(1, sizeof(*e)))) {
        bt_exec_config_done(cfg);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    e->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    if (!e->cfg.cmd || !e->cfg.cmd[0]) {
        exec_free(e);
        return bt_err_set(err, BT_EINVAL, 0, "No exec command specified");
    }
    r = ctr_check_running(c, err);
    if (r == 0 && (r = bt_hexid_random(e->id)) < 0)
        bt_err_set(err, BT_EINTERNAL, -r, "exec id");
    if (r == 0 && s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct bt_exec **v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        else
            s->v = v, s->cap = cap;
    }
    if (r < 0) {
        exec_free(e);
        return -1;
    }
    memcpy(e->ctr_id, c->id, sizeof(e->ctr_id));
    s->v[s->n++] = e;
    exec__ids_refresh(d, c->id);
    exec__event(d, e, "exec_create", true, NULL);
    *ret = e;
    return 0;
}

int bt_exec_lookup(struct bt_daemon *d, const char *id, struct bt_exec **ret, struct bt_err **err)
{
    struct bt_execs *s = d->execs;
    struct bt_exec *found = NULL;
    size_t len = id ? strlen(id) : 0;

    for (size_t i = 0; s && len && i < s->n; i++) {
        if (strncmp(s->v[i]->id, id, len) != 0)
            continue;
        if (len == BT_EXEC_ID_LEN) {
            found = s->v[i];
            break;
        }
        if (found)
            return bt_err_set(err, BT_EINVAL, 0, "Multiple IDs found with provided prefix: %s", id);
        found = s->v[i];
    }
    if (!found)
        return bt_err_set(err, BT_ENOTFOUND, 0, "No such exec instance: %s", id ? id : "");
    *ret = found;
    return 0;
}

void bt_execs_ctr_removed(struct bt_daemon *d, const char *ctr_id)
{
    struct bt_execs *s = d->execs;

    for (size_t i = 0; s && i < s->n;) {
        if (strcmp(s->v[i]->ctr_id, ctr_id) == 0)
            remove_at(s, i);
        else
            i++;
    }
}

void bt_execs_close(struct bt_daemon *d)
{
    struct bt_execs *s = d->execs;

    for (size_t i = 0; s && i < s->n; i++)
        exec__rt_detach(s->v[i]);
}

void bt_execs_free(struct bt_daemon *d)
{
    struct bt_execs *s = d->execs;

    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        exec_free(s->v[i]);
    free(s->v);
    free(s);
    d->execs = NULL;
}
