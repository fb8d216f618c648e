/*
 * fph-demo: the main job.  Brings the lab up, boots the guest on host A,
 * migrates it to B once without and once with free page hinting (each time
 * after the guest wrote then freed 1 GiB, the seed's idle case), prints the
 * two migrations side by side and tears the lab down.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "fphlab.h"

#include <stdio.h>

#define GUEST(...) ((const char *const[]){ "/bin/fph-guest", __VA_ARGS__, NULL })

typedef struct {
    const char *label;
    bool hinted;
    guint64 elapsed_ms;
    guint64 sent;
    guint64 downtime_ms;
    bool has_hinted_pages;
    guint64 hinted_pages;
} DemoRun;

static bool
demo_run(FphLab *lab, DemoRun *run, GError **error)
{
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autofree char *name = g_strdup_printf("demo-%s",
                                            run->hinted ? "hinted" : "plain");
    g_autoptr(GHashTable) info = NULL;
    const char *const hint_flag[] = { "--free-page-hint", NULL };

    printf("[demo] %s: booting on host A\n", run->label);
    if (!fph_guest_boot(lab, a, name, 2048, run->hinted, error)) {
        return false;
    }
    printf("[demo] %s: filling 256 MiB, writing then freeing 1 GiB\n", run->label);
    if (!fph_guest_run(a, name, GUEST("fill", "/run/fph-pattern", "256", "1"), 0,
                       600, NULL, error) ||
        !fph_guest_run(a, name, GUEST("dirty-free", "1024", "2"), 0, 900, NULL,
                       error)) {
        return false;
    }
    printf("[demo] %s: virsh migrate --live%s A -> B\n", run->label,
           run->hinted ? " --free-page-hint" : "");
    if (!fph_migrate(a, b, name, run->hinted ? hint_flag : NULL, error)) {
        return false;
    }
    info = fph_jobinfo_completed(b, name, error);
    if (!info) {
        return false;
    }
    if (!fph_jobinfo_u64(info, "time_elapsed", &run->elapsed_ms) ||
        !fph_jobinfo_u64(info, "memory_processed", &run->sent) ||
        !fph_jobinfo_u64(info, "downtime", &run->downtime_ms)) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "domjobinfo --completed on B lacks time_elapsed, "
                    "memory_processed or downtime");
        return false;
    }
    /* reported by libvirt when the guest was asked for hints */
    run->has_hinted_pages = fph_jobinfo_u64(info, "memory_free_page_hint_pages",
                                            &run->hinted_pages);
    if (!fph_guest_run(b, name, GUEST("verify", "/run/fph-pattern", "1"), 0, 600,
                       NULL, error)) {
        return false;
    }
    printf("[demo] %s: pattern verified on host B\n", run->label);
    fph_virsh(b, NULL, NULL, "destroy", name, NULL);
    return true;
}

int
main(void)
{
    /* Not freed at the end of main: the exit handler may still need it. */
    FphLab *lab = fph_lab_new();
    g_autoptr(GError) err = NULL;
    DemoRun runs[] = {
        { .label = "without hinting", .hinted = false },
        { .label = "with hinting", .hinted = true },
    };
    size_t i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    fph_lab_teardown_on_exit(lab);
    printf("[demo] bringing up the lab: hosts A and B, Debian 13 with fph's "
           "packages, joined by their own link\n");
    if (!fph_lab_up(lab, &err)) {
        fprintf(stderr, "fph-demo: %s\n", err->message);
        return 1;
    }
    for (i = 0; i < G_N_ELEMENTS(runs); i++) {
        if (!demo_run(lab, &runs[i], &err)) {
            fprintf(stderr, "fph-demo: %s: %s\n", runs[i].label, err->message);
            return 1;
        }
    }

    printf("\nLive migration A -> B (virsh on A, to qemu+tls://%s over the "
           "hosts' link) of an idle 2 GiB guest (TCG) that wrote then freed "
           "1 GiB:\n\n", fph_lab_host(lab, "B")->addr);
    printf("%-22s %18s %18s\n", "", runs[0].label, runs[1].label);
    printf("%-22s %15" G_GUINT64_FORMAT " ms %15" G_GUINT64_FORMAT " ms\n",
           "migration time", runs[0].elapsed_ms, runs[1].elapsed_ms);
    printf("%-22s %14.1f MiB %14.1f MiB\n", "memory sent",
           runs[0].sent / 1048576.0, runs[1].sent / 1048576.0);
    printf("%-22s", "pages hinted");
    for (i = 0; i < G_N_ELEMENTS(runs); i++) {
        if (runs[i].has_hinted_pages) {
            printf(" %18" G_GUINT64_FORMAT, runs[i].hinted_pages);
        } else {
            printf(" %18s", "n/a");
        }
    }
    printf("\n%-22s %15" G_GUINT64_FORMAT " ms %15" G_GUINT64_FORMAT " ms\n\n",
           "downtime", runs[0].downtime_ms, runs[1].downtime_ms);
    if (runs[1].sent < runs[0].sent) {
        printf("Free page hinting sent %.0f%% less memory.\n",
               100.0 - 100.0 * runs[1].sent / runs[0].sent);
    } else {
        printf("Free page hinting did NOT send less memory.\n");
    }

    if (!fph_lab_down(lab, false, &err)) {
        fprintf(stderr, "fph-demo: %s\n", err->message);
        return 1;
    }
    printf("[demo] lab torn down\n");
    return runs[1].sent < runs[0].sent ? 0 : 1;
}
