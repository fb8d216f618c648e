/*
 * test-saves-report: saves.csv written and read back, and the "Saves"
 * section of summary.md written from it: the medians of each row, the
 * ratio of a hinted sparse image to the in-use memory and the target met
 * or missed; the provenance at the top of both CSVs and in summary.md.
 * Needs no lab.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "saves.h"
#include "tap.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* One save of GIB: the allocated size is RATIO times the in-use 1000 MiB;
 * MemFree 2000 MiB, of which a hinted save hinted 1900 */
static SaveRun
save(unsigned int gib, unsigned int run, bool hint, SaveFormat format,
     double ratio, double save_ms)
{
    SaveRun r = {
        .gib = gib, .run = run, .hint = hint, .format = format,
        .in_use_mib = 1000, .save_ms = save_ms, .restore_ms = 2000,
        .apparent_mib = hint ? 1100 : 3000, .allocated_mib = 1000 * ratio,
        .hinted_mib = hint ? 1900 : 0, .mem_free_mib = 2000,
    };

    return r;
}

/* a line without a colon is not a "key: value" line and is left out */
#define PROVENANCE "fph commit: 0123abc\nqemu queue: 5e1f 13 patches\n" \
    "no colon here\nhost CPU: Some CPU: 2 cores\n"

/* runs.csv written with the provenance, one run appended and read back */
static bool
runs_with_provenance(const char *dir)
{
    g_autoptr(GArray) runs = g_array_new(FALSE, TRUE, sizeof(Run));
    Options o = { .out = (char *)dir };
    Run r = {
        .sc = SC_IDLE_FREED, .gib = 2, .mode = MODE_HINT, .run = 1,
        .from = "A", .to = "B", .in_use_mib = 300, .qemu_ms = 900,
        .setup_ms = 10, .api_ms = 2000, .elapsed_ms = 1900,
        .downtime_ms = 50, .sent_mib = 320, .hinted_mib = 1500,
        .bw_mib_s = 400, .throughput = NAN, .sent_before_hint_mib = 0,
    };
    FILE *f = csv_open(&o, false);
    bool ok;

    if (!f) {
        return false;
    }
    csv_append(f, &r);
    fclose(f);
    o.sizes = g_array_new(FALSE, FALSE, sizeof(unsigned int));
    ok = csv_read(&o, runs) && runs->len == 1 &&
        g_array_index(runs, Run, 0).gib == 2 &&
        g_array_index(runs, Run, 0).mode == MODE_HINT &&
        g_array_index(runs, Run, 0).hinted_mib == 1500;
    g_array_unref(o.sizes);
    if (o.links) {
        g_ptr_array_unref(o.links);
    }
    return ok;
}

int
main(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("fph-saves-XXXXXX", &err);
    g_autofree char *md_file = NULL;
    g_autofree char *csv_file = NULL;
    g_autofree char *md = NULL;
    g_autofree char *prov_file = NULL;
    g_autofree char *runs_file = NULL;
    g_autofree char *text = NULL;
    g_autofree char *plot_file = NULL;
    g_autofree char *plot = NULL;
    /* what gnuplot makes of saves-plot.dat, removed at the end */
    static const char *const plot_out[] = {
        "saves-plot.gp", "saves-plot.log", "saves.png",
    };
    g_autoptr(GArray) in = g_array_new(FALSE, TRUE, sizeof(SaveRun));
    g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(SaveRun));
    g_autoptr(GArray) bad = g_array_new(FALSE, TRUE, sizeof(SaveRun));
    FILE *f = NULL;
    guint i;

    g_set_prgname("test-saves-report");
    if (!dir) {
        g_printerr("%s\n", err->message);
        return 1;
    }
    /* 2 GiB: hinted sparse at 1.0, 1.1, 1.2 of in-use (median 1.1, met);
     * 4 GiB: at 1.4, 1.5, 1.6 (median 1.5, missed); save times 3, 5, 4 s */
    for (i = 0; i < 3; i++) {
        SaveRun r[] = {
            save(2, i, false, SAVE_FORMAT_RAW, 3.0, 9000),
            save(2, i, true, SAVE_FORMAT_RAW, 1.1, 4000),
            save(2, i, false, SAVE_FORMAT_SPARSE, 3.0, 9000),
            save(2, i, true, SAVE_FORMAT_SPARSE, 1.0 + i / 10.0,
                 (double[]){ 3000, 5000, 4000 }[i]),
            save(4, i, true, SAVE_FORMAT_SPARSE, 1.4 + i / 10.0, 8000),
        };

        g_array_append_vals(in, r, G_N_ELEMENTS(r));
    }
    plot_file = g_build_filename(dir, "saves-plot.dat", NULL);
    prov_file = g_build_filename(dir, "provenance.txt", NULL);
    g_file_set_contents(prov_file, PROVENANCE, -1, NULL);
    /* half of the saves, then the rest as a resumed benchmark appends them */
    for (i = 0; i < in->len; i++) {
        if (i == 0 || i == in->len / 2) {
            if (i) {
                fclose(f);
            }
            f = saves_csv_open(dir, i > 0);
            check(f != NULL, i ? "saves.csv opened to append" : "saves.csv opened");
            if (!f) {
                return 1;
            }
        }
        saves_csv_append(f, &g_array_index(in, SaveRun, i));
    }
    fclose(f);

    check(saves_csv_read(dir, out) && out->len == in->len,
          "saves.csv read back: as many saves as written, the appended ones "
          "after the first header");
    for (i = 0; i < MIN(in->len, out->len); i++) {
        SaveRun *a = &g_array_index(in, SaveRun, i);
        SaveRun *b = &g_array_index(out, SaveRun, i);

        g_autofree char *key_a = save_key(a);
        g_autofree char *key_b = save_key(b);

        if (!g_str_equal(key_a, key_b) ||
            a->gib != b->gib || a->run != b->run || a->hint != b->hint ||
            a->format != b->format || fabs(a->allocated_mib - b->allocated_mib) > 0.05 ||
            fabs(a->save_ms - b->save_ms) > 0.05 ||
            fabs(a->mem_free_mib - b->mem_free_mib) > 0.05) {
            check(false, "a save read back equals the one written");
            break;
        }
    }

    csv_file = g_build_filename(dir, "saves.csv", NULL);
    check(g_file_get_contents(csv_file, &text, NULL, NULL) &&
          g_str_has_prefix(text, "# fph commit: 0123abc\n# qemu queue: "
                           "5e1f 13 patches\n# host CPU: Some CPU: 2 "
                           "cores\nsize_gib,"),
          "saves.csv starts with the provenance as comments, then its header");
    g_clear_pointer(&text, g_free);
    check(runs_with_provenance(dir),
          "runs.csv: the provenance as comments, and a run read back after them");
    runs_file = g_build_filename(dir, "runs.csv", NULL);

    md_file = g_build_filename(dir, "summary.md", NULL);
    f = fopen(md_file, "w");
    provenance_md(f, dir);
    fclose(f);
    check(g_file_get_contents(md_file, &text, NULL, NULL) &&
          strstr(text, "## Provenance\n\n| what | measured with |\n|---|---|\n"
                 "| fph commit | 0123abc |\n| qemu queue | 5e1f 13 patches |\n"
                 "| host CPU | Some CPU: 2 cores |\n\n"),
          "summary.md: the provenance as a table, a value with a colon whole, "
          "the line without one left out");
    g_clear_pointer(&text, g_free);
    g_remove(prov_file);
    f = fopen(md_file, "w");
    provenance_md(f, dir);
    fclose(f);
    check(g_file_get_contents(md_file, &text, NULL, NULL) &&
          strstr(text, "## Provenance\n\nNot recorded"),
          "summary.md of a benchmark without provenance.txt says so");
    g_clear_pointer(&text, g_free);

    g_file_set_contents(md_file, "# before\n", -1, NULL);
    write_saves_summary(dir, out);
    check(g_file_get_contents(md_file, &md, NULL, NULL), "summary.md written");
    check(md && g_str_has_prefix(md, "# before\n"),
          "the Saves section is appended to what summary.md held");
    check(md && strstr(md, "| 2 GiB | sparse | yes | 1000 (1000–1000) | 1100 "
                       "(1100–1100) | 1100 (1000–1200) | 1.10 (1.00–1.20) | "
                       "4.0 (3.0–5.0) | 2.0 (2.0–2.0) | 1900 (1900–1900) | "
                       "100 (100–100) |"),
          "the row of hinted sparse 2 GiB saves: medians (min–max), seconds, "
          "the free memory not hinted (MemFree less the hinted)");
    check(md && strstr(md, "| 2 GiB | raw | no | 1000 (1000–1000) | 3000 "
                       "(3000–3000) | 3000 (3000–3000) | 3.00 (3.00–3.00) | "
                       "9.0 (9.0–9.0) | 2.0 (2.0–2.0) | 0 (0–0) | 2000 "
                       "(2000–2000) |"),
          "a save without hints: all its free memory is not hinted");
    check(md && !strstr(md, "| 4 GiB | raw |"), "no row for what was not measured");
    check(md && strstr(md, "| 2 GiB sparse, hinted: allocated / in-use ≤ 1.3 | "
                       "1.10 | **met** |"), "2 GiB: the target met at 1.10");
    check(md && strstr(md, "| 4 GiB sparse, hinted: allocated / in-use ≤ 1.3 | "
                       "1.50 | **missed** |"), "4 GiB: the target missed at 1.50");
    /* with the allowance: 1500 MiB allocated of 1000 in-use + 100 not hinted */
    check(md && strstr(md, "| 4 GiB sparse, hinted: allocated / (in-use + free "
                       "not hinted) ≤ 1.3 | 1.36 | **missed** |"),
          "4 GiB with the allowance: missed at 1.36");
    check(md && strstr(md, "| 2 GiB sparse, hinted: allocated / (in-use + free "
                       "not hinted) ≤ 1.3 | 1.00 | **met** |"),
          "2 GiB with the allowance: met at 1.00");
    check(md && strstr(md, "![saves](saves.png)") &&
          g_file_get_contents(plot_file, &plot, NULL, NULL) &&
          strstr(plot, "# sparse hints=1\n2 1100.000000 1000.000000 "
                 "1200.000000 1000.000000\n"),
          "the saves plot's data: allocated median, min, max and in-use per "
          "format, hints and size");

    g_file_set_contents(csv_file, "size_gib,run,hint,format,in_use_mib,save_ms,"
                        "restore_ms,apparent_mib,allocated_mib,hinted_mib,"
                        "mem_free_mib\n"
                        "2,0,maybe,raw,1,1,1,1,1,1,1\n", -1, NULL);
    check(!saves_csv_read(dir, bad), "a line with hint 'maybe' is refused");
    g_file_set_contents(csv_file, "size_gib,run,hint,format,in_use_mib,save_ms,"
                        "restore_ms,apparent_mib,allocated_mib,hinted_mib\n"
                        "2,0,yes,sparse,1000,1,1,1,1200,1,1\n", -1, NULL);
    check(!saves_csv_read(dir, bad), "a line with more fields than the header "
          "is refused");
    g_file_set_contents(csv_file, "size_gib,run,hint,format,in_use_mib,save_ms,"
                        "restore_ms,apparent_mib,allocated_mib,hinted_mib\n"
                        "2,0,yes,sparse,1000,1,1,1,1200,1\n", -1, NULL);
    check(saves_csv_read(dir, bad) && bad->len == 1 &&
          isnan(g_array_index(bad, SaveRun, 0).mem_free_mib),
          "a saves.csv without mem_free_mib (before 2026-12-05) reads, MemFree "
          "unknown");
    g_remove(md_file);
    write_saves_summary(dir, bad);
    g_clear_pointer(&md, g_free);
    check(g_file_get_contents(md_file, &md, NULL, NULL) &&
          strstr(md, "| 2 GiB sparse, hinted: allocated / in-use ≤ 1.3 | 1.20 | "
                 "**met** |") &&
          strstr(md, "| 2 GiB sparse, hinted: allocated / (in-use + free not "
                 "hinted) ≤ 1.3 | n/a | not measured |"),
          "without MemFree the allowance is not measured, the in-use target is");
    g_array_set_size(bad, 0);

    g_remove(csv_file);
    g_remove(md_file);
    g_remove(runs_file);
    g_remove(plot_file);
    for (i = 0; i < G_N_ELEMENTS(plot_out); i++) {
        g_autofree char *p = g_build_filename(dir, plot_out[i], NULL);

        g_remove(p);
    }
    g_rmdir(dir);
    check(saves_csv_read(dir, bad) && bad->len == 0,
          "no saves.csv: no saves, and no error");
    return tap_done();
}
