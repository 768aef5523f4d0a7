/* Compiled seccomp filters for container starts. Compiling Docker's default
 * profile costs several milliseconds (three x86 ABIs), and nearly every
 * container uses the same (profile, capabilities) pair, so the last few
 * programs are kept. Pool threads share the cache under a mutex. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/digest.h"
#include "berth/seccomp.h"
#include "src/ctr-spec.h"

#define CACHE_SLOTS 8

struct slot {
    uint64_t caps;
    char *profile;   /* NULL for the default profile */
    void *prog;
    size_t len;
    uint64_t used;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot cache[CACHE_SLOTS];
static uint64_t cache_clock;

static bool same_profile(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Copy of a cached program, or NULL. */
static void *cache_get(const char *profile, uint64_t caps, size_t *ret_len)
{
    void *copy = NULL;

    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct slot *s = &cache[i];
        if (s->prog && s->caps == caps && same_profile(s->profile, profile)) {
            if ((copy = malloc(s->len))) {
                memcpy(copy, s->prog, s->len);
                *ret_len = s->len;
                s->used = ++cache_clock;
            }
            break;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return copy;
}

static void cache_put(const char *profile, uint64_t caps, const void *prog, size_t len)
{
    struct slot *victim = &cache[0];
    void *p = malloc(len);
    char *prof = profile ? strdup(profile) : NULL;

    if (!p || (profile && !prof)) {
        free(p);
        free(prof);
        return;
    }
    memcpy(p, prog, len);
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (!cache[i].prog || cache[i].used < victim->used)
            victim = &cache[i];
    free(victim->prog);
    free(victim->profile);
    victim->prog = p;
    victim->profile = prof;
    victim->len = len;
    victim->caps = caps;
    victim->used = ++cache_clock;
    pthread_mutex_unlock(&cache_lock);
}

int ctr_seccomp_write(const char *profile, uint64_t caps, const char *path, struct bt_err **err)
{
    _cleanup_free_ void *prog = NULL;
    size_t len = 0;
    int fd;

    prog = cache_get(profile, caps, &len);
    if (!prog) {
        if (bt_seccomp_compile(profile, profile ? strlen(profile) : 0, caps, &prog, &len, err) < 0)
            return -1;
        cache_put(profile, caps, prog, len);
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s: %m", path);
    if (write(fd, prog, len) != (ssize_t)len) {
        int e = errno ? errno : EIO;
        close(fd);
        return bt_err_set(err, BT_EINTERNAL, e, "write %s: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}
