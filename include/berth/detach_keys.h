/* Detach keys: the key sequence that ends an attach (or exec) session while
 * the process runs on. Docker's format: comma-separated keys, each a single
 * character, "ctrl-@" .. "ctrl-z", "ctrl-[", "ctrl-\", "ctrl-]", "ctrl-^",
 * "ctrl-_" (case-sensitive) or "DEL"; the default is "ctrl-p,ctrl-q".
 *
 * The scanner watches a client's stdin as it is relayed: bytes that could
 * begin the sequence are held back, across reads, until the sequence either
 * completes (they are dropped: the session ends) or fails (they are
 * released, in order, before what follows). Any thread; no allocation. */
#ifndef BERTH_DETACH_KEYS_H
#define BERTH_DETACH_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define BT_DETACH_KEYS_MAX 32
#define BT_DETACH_KEYS_DEFAULT "ctrl-p,ctrl-q"

struct bt_detach_keys {
    unsigned char seq[BT_DETACH_KEYS_MAX];
    size_t len;  /* >= 1 once parsed */
    size_t held; /* bytes of seq matched so far and not yet released */
};

/* Parse spec (NULL or "" means the default). 0, or -EINVAL for an unknown
 * key, an empty key or a sequence longer than BT_DETACH_KEYS_MAX. */
int bt_detach_keys_parse(const char *spec, struct bt_detach_keys *ret);

/* Receives the bytes to pass on, in order; may be called several times. */
typedef void (*bt_detach_emit_fn)(void *arg, const char *data, size_t len);

/* Scan the next len bytes of the stream. Returns true when the sequence
 * completed: the bytes before it were emitted, the rest of this chunk is
 * not, and the scanner is reset. False: everything that cannot be part of a
 * match any more was emitted. */
bool bt_detach_keys_scan(struct bt_detach_keys *k, const char *data, size_t len,
                         bt_detach_emit_fn emit, void *arg);

#endif
