/* Small language helpers shared by every module: cleanup attributes,
 * ownership transfer and container_of. */
#ifndef BERTH_MACRO_H
#define BERTH_MACRO_H

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

/* Return the value and reset the variable, so a cleanup attribute on it does nothing. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) take_ptr_ = (p);                                                             \
        (p) = NULL;                                                                                \
        take_ptr_;                                                                                 \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int take_fd_ = (fd);                                                                       \
        (fd) = -1;                                                                                 \
        take_fd_;                                                                                  \
    })

static inline void bt_freep(void *p)
{
    free(*(void **)p);
}

static inline void bt_closep(int *fd)
{
    if (*fd >= 0)
        (void)close(*fd);
}

#define _cleanup_free_ _cleanup_(bt_freep)
#define _cleanup_close_ _cleanup_(bt_closep)

#endif
