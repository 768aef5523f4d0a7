/* Random IDs as Docker makes them: 64 lowercase hex characters (256 bits),
 * for containers, execs, networks and endpoints. Any thread. */
#ifndef BERTH_HEXID_H
#define BERTH_HEXID_H

#define BT_HEXID_LEN 64

/* Fill id (BT_HEXID_LEN characters and a NUL) from getrandom(2). An ID
 * whose 12-character short form is all digits is drawn again, as Docker
 * does: tools would read it as a number. 0 or -errno. */
int bt_hexid_random(char id[BT_HEXID_LEN + 1]);

#endif
