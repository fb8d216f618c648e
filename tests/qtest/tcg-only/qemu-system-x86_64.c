/*
 * tcg-only/qemu-system-x86_64: the QEMU the qtests run, forced to TCG:
 * runs $FPH_QEMU_BINARY with the arguments it was given, minus any
 * "-accel kvm..." pair.
 *
 * QEMU's qtests start their guests with "-accel kvm -accel tcg" whenever
 * /dev/kvm is usable.  On fph's machines /dev/kvm exists but nested KVM
 * hangs the guest, so the qtests must run under TCG.  libqtest finds the
 * target architecture from the binary's name, hence this wrapper's name;
 * its directory, tcg-only/, says what it does.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    const char *qemu = getenv("FPH_QEMU_BINARY");
    char **args = calloc(argc + 1, sizeof(*args));
    int i;
    int n = 0;

    if (!qemu || !args) {
        fprintf(stderr, "tcg-only qemu-system-x86_64: FPH_QEMU_BINARY is not set\n");
        return 127;
    }
    args[n++] = (char *)qemu;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-accel") == 0 && i + 1 < argc &&
            strncmp(argv[i + 1], "kvm", 3) == 0) {
            i++;
            continue;
        }
        args[n++] = argv[i];
    }
    args[n] = NULL;
    execv(qemu, args);
    fprintf(stderr, "tcg-only qemu-system-x86_64: cannot run %s: %s\n", qemu, strerror(errno));
    return 127;
}
