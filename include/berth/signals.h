/* Signal names as Docker takes them (StopSignal, kill -s, stop --signal). ANY. */
#ifndef BERTH_SIGNALS_H
#define BERTH_SIGNALS_H

/* "9", "KILL", "SIGKILL", "sigkill", "RTMIN+3": the signal number, or -EINVAL. */
int bt_signal_parse(const char *s);
/* "SIGKILL" for 9; NULL for a number without a name. */
const char *bt_signal_name(int sig);

#endif
