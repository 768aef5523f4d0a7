/* Seccomp profiles compiled to the classic BPF program the monitor loads.
 *
 * The daemon decides the filter (berth's default profile, or a Docker JSON
 * profile from --security-opt seccomp=FILE) and writes the compiled program
 * to RUN_DIR/seccomp.bpf (rt_spec.h); the monitor only reads it and calls
 * seccomp(SECCOMP_SET_MODE_FILTER). */
#ifndef BERTH_SECCOMP_H
#define BERTH_SECCOMP_H

#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"

/* Compile a profile for this machine's architecture (on x86_64 the filter
 * also covers i386 and x32 processes, as Docker's default does).
 *
 * profile_json: Docker's profile format (len bytes, need not be
 *   NUL-terminated); NULL = berth's default profile. Bad JSON, an unknown
 *   action, operator or architecture is BT_EINVAL ("decoding seccomp profile
 *   failed: ..."); unknown syscall names are skipped, as Docker does.
 * caps: the container's capability set (bit n = capability n): rules that
 *   include or exclude capabilities are chosen by it.
 *
 * Syscalls newer than any the profile names get ENOSYS instead of the
 * profile's default errno, so a libc can fall back to an older call.
 *
 * On success *ret_prog is a malloc'd array of struct sock_filter and
 * *ret_len its size in BYTES (a multiple of 8): the content of seccomp.bpf.
 * Blocking (a few ms of CPU): call it from the thread pool. */
int bt_seccomp_compile(const char *profile_json, size_t len, uint64_t caps, void **ret_prog,
                       size_t *ret_len, struct bt_err **err);

#endif
