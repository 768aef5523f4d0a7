/* Linux capabilities as Docker names and combines them: the daemon turns a
 * container's Privileged/CapAdd/CapDrop into the bitmask of rt_spec.caps
 * (bit n = capability n). Pure functions; any thread. */
#ifndef BERTH_CAPS_H
#define BERTH_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"

/* The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap,
 * read once), or CAP_LAST_CAP of the headers we were built with when that
 * file cannot be read. */
int bt_caps_last(void);

/* The number of a capability named "NET_ADMIN", "CAP_NET_ADMIN" or any case
 * of those; -1 when the name is unknown. "ALL" is not a capability here. */
int bt_caps_from_name(const char *name);

/* "CAP_NET_ADMIN" for its number; NULL when we know no such capability. */
const char *bt_caps_name(int cap);

/* Docker's default set for a non-privileged container. */
uint64_t bt_caps_default(void);

/* Every capability up to bt_caps_last(): what --privileged gets. */
uint64_t bt_caps_all(void);

/* Docker's rules for HostConfig.Privileged, CapAdd and CapDrop: privileged
 * gets every capability; otherwise CapAdd is checked, then CapDrop (an unknown
 * name is BT_EINVAL: `invalid CapAdd: unknown capability: "CAP_FOO"`), then
 *   - "ALL" in add: every capability but those dropped;
 *   - "ALL" in drop: exactly the ones added;
 *   - else the default set minus the dropped plus the added (so a cap both
 *     added and dropped is kept, as Docker does).
 * *ret is written only on success. */
int bt_caps_compute(const char *const *add, size_t n_add, const char *const *drop, size_t n_drop,
                    bool privileged, uint64_t *ret, struct bt_err **err);

/* The set as /proc/<pid>/status prints CapEff: 16 lowercase hex digits.
 * buf must hold BT_CAPS_HEX_LEN bytes; returns buf. */
#define BT_CAPS_HEX_LEN 17
char *bt_caps_format_hex(uint64_t caps, char *buf);

#endif
