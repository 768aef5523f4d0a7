/* A busybox root filesystem for the tests that run real containers, made
 * without a shell: Debian's busybox-static copied in, every applet a
 * relative link to it (an absolute one would name the host's busybox). */
#ifndef BERTH_TEST_BUSYBOX_ROOTFS_H
#define BERTH_TEST_BUSYBOX_ROOTFS_H

#define TEST_BUSYBOX "/bin/busybox"

/* Make dir/bin (busybox and its applets), dir/etc and dir/tmp. 0, or -errno. */
int test_busybox_rootfs(const char *dir);
/* Remove a tree (test teardown; does not cross into mounts). */
void test_rm_tree(const char *dir);

#endif
