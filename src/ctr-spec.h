/* Private: what starting a container needs, built from its record
 * (src/ctr_spec.c) and carried out on the pool (src/ctr_start.c). */
#ifndef BERTH_CTR_SPEC_H
#define BERTH_CTR_SPEC_H

#include "berth/cgroup.h"
#include "berth/rt_spec.h"
#include "src/ctr-lifecycle.h"

enum ctr_seccomp {
    CTR_SECCOMP_DEFAULT,
    CTR_SECCOMP_NONE,    /* unconfined, or privileged */
    CTR_SECCOMP_PROFILE, /* seccomp_profile holds a Docker profile (JSON) */
    CTR_SECCOMP_MAX,
};

struct ctr_start_plan {
    struct bt_rt_spec spec;
    struct bt_cg_resources res;
    enum ctr_seccomp seccomp;
    char *seccomp_profile;
};

/* Fill p from c (rootfs: where the rootfs will be mounted). The record's
 * hostname/hosts/resolv.conf paths and log path must be set. Checks what
 * dockerd checks at start (sysctls, ulimits, log options, resources). */
int ctr_plan_build(struct bt_daemon *d, const struct bt_ctr *c, const char *run_dir,
                   const char *rootfs, struct ctr_start_plan *p, struct bt_err **err);
void ctr_plan_done(struct ctr_start_plan *p);

/* HostConfig resources as cgroup limits. -ENOMEM. */
int ctr_resources(const cJSON *host_config, struct bt_cg_resources *r);
void ctr_resources_done(struct bt_cg_resources *r);
/* The json-file "attrs" object (ctr_logattrs.c) for the log options cfg of
 * container c; *ret NULL when there are none. */
int ctr_log_attrs(const struct bt_ctr *c, const cJSON *cfg, char **ret, struct bt_err **err);
/* "10m" -> bytes (base 1024), -EINVAL. */
int ctr_parse_size(const char *s, int64_t *ret);

/* POOL: write the compiled seccomp filter for (profile or the default, caps)
 * to path; compiled filters are cached. */
int ctr_seccomp_write(const char *profile, uint64_t caps, const char *path, struct bt_err **err);

#endif
