/*
 * fph-lab: bring the two-host lab up, tear it down, show its state.
 *
 *   fph-lab up [--link-rate RATE] [--link-delay DELAY]
 *                              start hosts A and B; the link between them
 *                              limited to RATE (tc's syntax: 1gbit) and
 *                              delayed by DELAY (100us) each way
 *   fph-lab down [--keep-logs] stop both (by PID), remove or keep the state
 *   fph-lab status             exit 0 if both hosts are up
 *   fph-lab xml NAME [--hint]  print the test guest's domain XML
 *   fph-lab exec HOST PROGRAM [ARG...]  run PROGRAM (an absolute path in
 *                              the host) in host A or B, e.g.
 *                              fph-lab exec A /usr/bin/virsh list
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "fphlab.h"

#include <stdio.h>
#include <string.h>

static int
usage(void)
{
    fprintf(stderr, "usage: fph-lab up [--link-rate RATE] [--link-delay DELAY] | "
            "down [--keep-logs] | status | "
            "xml NAME [--hint] | exec A|B PROGRAM [ARG...]\n");
    return 64;
}

int
main(int argc, char **argv)
{
    g_autoptr(FphLab) lab = fph_lab_new();
    g_autoptr(GError) err = NULL;
    size_t i;

    if (argc >= 2 && strcmp(argv[1], "up") == 0) {
        int j;

        for (j = 2; j + 1 < argc; j += 2) {
            if (strcmp(argv[j], "--link-rate") == 0) {
                g_setenv("FPH_LAB_LINK_RATE", argv[j + 1], TRUE);
            } else if (strcmp(argv[j], "--link-delay") == 0) {
                g_setenv("FPH_LAB_LINK_DELAY", argv[j + 1], TRUE);
            } else {
                return usage();
            }
        }
        if (j != argc) {
            return usage();
        }
        if (!fph_lab_up(lab, &err)) {
            fprintf(stderr, "fph-lab: up: %s\n", err->message);
            g_clear_error(&err);
            /* Nothing of a half-started lab stays running. */
            if (!fph_lab_down(lab, true, &err)) {
                fprintf(stderr, "fph-lab: teardown: %s\n", err->message);
            }
            return 1;
        }
        for (i = 0; i < FPH_LAB_NHOSTS; i++) {
            printf("host %s: %s (from the other host: %s)\n", lab->hosts[i].name,
                   lab->hosts[i].uri, lab->hosts[i].remote_uri);
        }
        return 0;
    }
    if ((argc == 2 || argc == 3) && strcmp(argv[1], "down") == 0) {
        bool keep = argc == 3 && strcmp(argv[2], "--keep-logs") == 0;

        if (argc == 3 && !keep) {
            return usage();
        }
        if (!fph_lab_down(lab, keep, &err)) {
            fprintf(stderr, "fph-lab: down: %s\n", err->message);
            return 1;
        }
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "status") == 0) {
        return fph_lab_status(lab) ? 0 : 1;
    }
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "xml") == 0) {
        bool hint = argc == 4 && strcmp(argv[3], "--hint") == 0;
        g_autofree char *xml = NULL;

        if (argc == 4 && !hint) {
            return usage();
        }
        xml = fph_guest_xml(lab, argv[2], 2048, hint);
        fputs(xml, stdout);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "exec") == 0) {
        FphHost *host = fph_lab_host(lab, argv[2]);
        g_autofree char *out = NULL;
        g_autofree char *errout = NULL;
        int rc;

        if (!host || argv[3][0] != '/') {
            return usage();
        }
        fph_lab_status_quiet(lab);
        rc = fph_host_run(host, (const char *const *)argv + 3, &out, &errout);
        fputs(out ? out : "", stdout);
        fputs(errout ? errout : "", stderr);
        return rc < 0 ? 1 : rc;
    }
    return usage();
}
