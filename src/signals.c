/* Signal names: the Linux set, as Docker's signal map spells them. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/macro.h"
#include "berth/signals.h"

static const struct {
    const char *name; /* without "SIG" */
    int sig;
} signals[] = {
    {"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"BUS", SIGBUS},     {"CHLD", SIGCHLD},
    {"CLD", SIGCHLD},  {"CONT", SIGCONT}, {"FPE", SIGFPE},     {"HUP", SIGHUP},
    {"ILL", SIGILL},   {"INT", SIGINT},   {"IO", SIGIO},       {"IOT", SIGIOT},
    {"KILL", SIGKILL}, {"PIPE", SIGPIPE}, {"POLL", SIGPOLL},   {"PROF", SIGPROF},
    {"PWR", SIGPWR},   {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV},   {"STKFLT", SIGSTKFLT},
    {"STOP", SIGSTOP}, {"SYS", SIGSYS},   {"TERM", SIGTERM},   {"TRAP", SIGTRAP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},   {"URG", SIGURG},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
};

static int parse_number(const char *s, int lo, int hi)
{
    char *end;
    long v;

    if (!*s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -EINVAL;
    return (int)v;
}

int bt_signal_parse(const char *s)
{
    int n;

    if (!s || !*s)
        return -EINVAL;
    if (isdigit((unsigned char)*s)) {
        n = parse_number(s, 1, SIGRTMAX);
        return n;
    }
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        if (strcasecmp(s, signals[i].name) == 0)
            return signals[i].sig;
    /* RTMIN, RTMIN+n, RTMAX, RTMAX-n */
    if (strncasecmp(s, "RTMIN", 5) == 0) {
        if (!s[5])
            return SIGRTMIN;
        if (s[5] != '+' || (n = parse_number(s + 6, 1, SIGRTMAX - SIGRTMIN)) < 0)
            return -EINVAL;
        return SIGRTMIN + n;
    }
    if (strncasecmp(s, "RTMAX", 5) == 0) {
        if (!s[5])
            return SIGRTMAX;
        if (s[5] != '-' || (n = parse_number(s + 6, 1, SIGRTMAX - SIGRTMIN)) < 0)
            return -EINVAL;
        return SIGRTMAX - n;
    }
    return -EINVAL;
}

const char *bt_signal_name(int sig)
{
    static const char *const full[] = {
        [SIGHUP] = "SIGHUP",   [SIGINT] = "SIGINT",     [SIGQUIT] = "SIGQUIT",
        [SIGILL] = "SIGILL",   [SIGTRAP] = "SIGTRAP",   [SIGABRT] = "SIGABRT",
        [SIGBUS] = "SIGBUS",   [SIGFPE] = "SIGFPE",     [SIGKILL] = "SIGKILL",
        [SIGUSR1] = "SIGUSR1", [SIGSEGV] = "SIGSEGV",   [SIGUSR2] = "SIGUSR2",
        [SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM",   [SIGTERM] = "SIGTERM",
        [SIGSTKFLT] = "SIGSTKFLT", [SIGCHLD] = "SIGCHLD", [SIGCONT] = "SIGCONT",
        [SIGSTOP] = "SIGSTOP", [SIGTSTP] = "SIGTSTP",   [SIGTTIN] = "SIGTTIN",
        [SIGTTOU] = "SIGTTOU", [SIGURG] = "SIGURG",     [SIGXCPU] = "SIGXCPU",
        [SIGXFSZ] = "SIGXFSZ", [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF",
        [SIGWINCH] = "SIGWINCH", [SIGIO] = "SIGIO",     [SIGPWR] = "SIGPWR",
        [SIGSYS] = "SIGSYS",
    };
    if (sig <= 0 || (size_t)sig >= ARRAY_SIZE(full))
        return NULL;
    return full[sig];
}
