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

/* Go's time.RFC3339Nano in UTC: "2026-11-22T10:18:31.257672767Z", trailing
 * zeros of the fraction dropped (no fraction at all on a whole second). 0 is
 * Go's zero time, "0001-01-01T00:00:00Z", which Docker prints for "never". */
#define BT_TIME_RFC3339_MAX 40
void bt_time_format_rfc3339nano(int64_t nano, char buf[BT_TIME_RFC3339_MAX]);
/* The reverse: RFC 3339 only (fraction and offset optional); the zero time
 * gives 0. 0 or -EINVAL (also for times an int64 of nanoseconds cannot hold). */
int bt_time_parse_rfc3339(const char *s, int64_t *ret_nano);

#endif
