/* Times in query parameters (since, until): Unix seconds with an optional
 * fraction ("1767225600.000000000"), RFC 3339 ("2026-11-22T10:20:56Z",
 * with fraction and offset), or a Go duration ("10m", "1h30m") counted back
 * from `now_nano`, as dockerd's timetypes.GetTimestamp takes them. */
#ifndef BERTH_TIMEPARSE_H
#define BERTH_TIMEPARSE_H

#include <stdint.h>

/* 0 and *ret_nano (ns since the epoch), or -EINVAL. */
int bt_time_parse(const char *s, int64_t now_nano, int64_t *ret_nano);
int64_t bt_now_nano(void);

#endif
