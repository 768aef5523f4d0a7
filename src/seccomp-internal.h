/* Shared by the seccomp compiler (seccomp.c), berth's default profile
 * (seccomp_default.c) and Docker's JSON profile reader (seccomp_json.c):
 * a filter being built over libseccomp. */
#ifndef BERTH_SECCOMP_INTERNAL_H
#define BERTH_SECCOMP_INTERNAL_H

#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>

#include "berth/err.h"

struct bt__sc {
    scmp_filter_ctx ctx;
    uint32_t default_action;
    int max_nr; /* highest native syscall number the profile names, applied or not */
};

/* Start a filter for the native architecture. */
int bt__sc_init(struct bt__sc *f, uint32_t default_action, struct bt_err **err);
/* Also filter processes of another architecture (SCMP_ARCH_*). */
int bt__sc_add_arch(struct bt__sc *f, uint32_t arch, struct bt_err **err);
/* Record that the profile names this syscall (for the ENOSYS cut-off) and
 * return its native number, or __NR_SCMP_ERROR when libseccomp does not know it. */
int bt__sc_note(struct bt__sc *f, const char *name);
/* Add one rule; unknown names are skipped. args: n_args comparisons, all of
 * which must hold. */
int bt__sc_add(struct bt__sc *f, const char *name, uint32_t action, const struct scmp_arg_cmp *args,
               unsigned n_args, struct bt_err **err);
void bt__sc_done(struct bt__sc *f);

/* True when the running kernel is at least major.minor. */
bool bt__sc_kernel_at_least(unsigned major, unsigned minor);
/* The architecture Docker's profiles call this machine ("amd64", "arm64", ...). */
const char *bt__sc_go_arch(void);

/* Build berth's default profile for a container holding caps. */
int bt__sc_default(struct bt__sc *f, uint64_t caps, struct bt_err **err);
/* Build a Docker JSON profile; f is initialised here (the default action
 * comes from the profile). On failure f holds nothing. */
int bt__sc_json(struct bt__sc *f, const char *json, size_t len, uint64_t caps, struct bt_err **err);

#endif
