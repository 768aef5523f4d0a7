/* Random IDs (berth/hexid.h). */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "berth/hexid.h"

#define SHORT_LEN 12

int bt_hexid_random(char id[BT_HEXID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[BT_HEXID_LEN / 2];

    do {
        size_t got = 0;
        while (got < sizeof(raw)) {
            ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            got += (size_t)n;
        }
        for (size_t i = 0; i < sizeof(raw); i++) {
            id[2 * i] = hex[raw[i] >> 4];
            id[2 * i + 1] = hex[raw[i] & 15];
        }
        id[BT_HEXID_LEN] = '\0';
    } while (strspn(id, "0123456789") >= SHORT_LEN);
    return 0;
}
