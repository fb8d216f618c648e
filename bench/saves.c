/*
 * saves: saves.csv and the "Saves" section of the benchmark's summary.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "saves.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const save_format_names[SAVE_FORMAT_LAST] = {
    "raw", "sparse",
};

/* saves.csv before 2026-12-05 had no mem_free_mib */
#define SAVES_HEADER_NO_FREE "size_gib,run,hint,format,in_use_mib,save_ms," \
    "restore_ms,apparent_mib,allocated_mib,hinted_mib"
#define SAVES_HEADER SAVES_HEADER_NO_FREE ",mem_free_mib"
#define SAVES_FIELDS 11

FILE *
saves_csv_open(const char *out, bool append)
{
    return csv_create(out, "saves.csv", SAVES_HEADER, append);
}

static void
num(FILE *f, double v)
{
    fputc(',', f);
    if (!isnan(v)) {
        fprintf(f, "%.1f", v);
    }
}

char *
save_key(const SaveRun *r)
{
    return g_strdup_printf("%ug/%u/%s/%s", r->gib, r->run,
                           r->hint ? "hint" : "plain",
                           save_format_names[r->format]);
}

void
saves_csv_append(FILE *f, const SaveRun *r)
{
    fprintf(f, "%u,%u,%s,%s", r->gib, r->run, r->hint ? "yes" : "no",
            save_format_names[r->format]);
    num(f, r->in_use_mib);
    num(f, r->save_ms);
    num(f, r->restore_ms);
    num(f, r->apparent_mib);
    num(f, r->allocated_mib);
    num(f, r->hinted_mib);
    num(f, r->mem_free_mib);
    fputc('\n', f);
    fflush(f);
}

bool
saves_csv_read(const char *out, GArray *saves)
{
    g_autofree char *file = g_build_filename(out, "saves.csv", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) all = NULL;
    char **lines;
    guint fields = SAVES_FIELDS;
    int i;

    if (!g_file_test(file, G_FILE_TEST_EXISTS)) {
        return true;
    }
    if (!g_file_get_contents(file, &text, NULL, &err)) {
        g_printerr("%s: %s\n", g_get_prgname(), err->message);
        return false;
    }
    all = g_strsplit(text, "\n", -1);
    lines = csv_skip_comments(all);
    if (lines[0] && g_str_equal(lines[0], SAVES_HEADER_NO_FREE)) {
        fields = SAVES_FIELDS - 1;
    } else if (!lines[0] || !g_str_equal(lines[0], SAVES_HEADER)) {
        g_printerr("%s: %s is not a saves.csv of this benchmark\n",
                   g_get_prgname(), file);
        return false;
    }
    for (i = 1; lines[i] && lines[i][0]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ",", -1);
        SaveRun r = { 0 };

        if (g_strv_length(f) != fields ||
            (!g_str_equal(f[2], "yes") && !g_str_equal(f[2], "no")) ||
            (!g_str_equal(f[3], save_format_names[SAVE_FORMAT_RAW]) &&
             !g_str_equal(f[3], save_format_names[SAVE_FORMAT_SPARSE]))) {
            g_printerr("%s: %s:%d: unexpected line\n", g_get_prgname(), file,
                       (int)(lines - all) + i + 1);
            return false;
        }
        r.gib = atoi(f[0]);
        r.run = atoi(f[1]);
        r.hint = g_str_equal(f[2], "yes");
        r.format = g_str_equal(f[3], save_format_names[SAVE_FORMAT_RAW]) ?
                   SAVE_FORMAT_RAW : SAVE_FORMAT_SPARSE;
        r.in_use_mib = csv_field(f, 4);
        r.save_ms = csv_field(f, 5);
        r.restore_ms = csv_field(f, 6);
        r.apparent_mib = csv_field(f, 7);
        r.allocated_mib = csv_field(f, 8);
        r.hinted_mib = csv_field(f, 9);
        r.mem_free_mib = fields > 10 ? csv_field(f, 10) : NAN;
        g_array_append_val(saves, r);
    }
    return true;
}

typedef double (*SaveField)(const SaveRun *r);

static double s_in_use(const SaveRun *r) { return r->in_use_mib; }
static double s_apparent(const SaveRun *r) { return r->apparent_mib; }
static double s_allocated(const SaveRun *r) { return r->allocated_mib; }
static double s_save(const SaveRun *r) { return r->save_ms / 1000; }
static double s_restore(const SaveRun *r) { return r->restore_ms / 1000; }
static double s_hinted(const SaveRun *r) { return r->hinted_mib; }
static double
s_ratio(const SaveRun *r)
{
    return r->in_use_mib > 0 ? r->allocated_mib / r->in_use_mib : NAN;
}
/* The free memory the driver did not hint (all of it without hints) */
static double
s_not_hinted(const SaveRun *r)
{
    return r->mem_free_mib - (r->hint ? r->hinted_mib : 0);
}
/* The allocated size against the in-use memory plus what was free but
 * not hinted: issue 14's allowance */
static double
s_ratio_allowed(const SaveRun *r)
{
    double base = r->in_use_mib + s_not_hinted(r);

    return base > 0 ? r->allocated_mib / base : NAN;
}

static Stat
save_stat(GArray *saves, unsigned int gib, bool hint, SaveFormat format,
          SaveField fn)
{
    g_autoptr(GArray) v = g_array_new(FALSE, FALSE, sizeof(double));
    guint i;

    for (i = 0; i < saves->len; i++) {
        SaveRun *r = &g_array_index(saves, SaveRun, i);
        double x;

        if (r->gib != gib || r->hint != hint || r->format != format) {
            continue;
        }
        x = fn(r);
        g_array_append_val(v, x);
    }
    return stat_values(v);
}

/* A row of the targets' table: WHAT of GIB's hinted sparse saves */
static void
target_row(FILE *f, unsigned int gib, const char *what, Stat st)
{
    char med[32] = "n/a";

    if (st.n) {
        g_snprintf(med, sizeof(med), "%.2f", st.med);
    }
    fprintf(f, "| %u GiB sparse, hinted: %s ≤ %.1f | %s | %s |\n", gib, what,
            SAVE_TARGET_RATIO, med,
            st.n == 0 ? "not measured" :
            st.med <= SAVE_TARGET_RATIO ? "**met**" : "**missed**");
}

/* saves.png: the images' allocated size against the guest's size, per
 * format, without and with hints, beside the in-use memory */
static void
write_saves_plot(const char *out, GArray *saves, GArray *sizes)
{
    g_autofree char *dat = g_build_filename(out, "saves-plot.dat", NULL);
    g_autofree char *gp = g_build_filename(out, "saves-plot.gp", NULL);
    g_autofree char *cmd = NULL;
    FILE *f = fopen(dat, "w");
    unsigned int max_gib = 1;
    guint k;
    int fmt, i;

    if (!f) {
        return;
    }
    for (k = 0; k < sizes->len; k++) {
        max_gib = MAX(max_gib, g_array_index(sizes, unsigned int, k));
    }
    /* a block per format and hints: size, allocated (median, min, max),
     * in-use (median) */
    for (fmt = 0; fmt < SAVE_FORMAT_LAST; fmt++) {
        for (i = 0; i < 2; i++) {
            fprintf(f, "# %s hints=%d\n", save_format_names[fmt], i);
            for (k = 0; k < sizes->len; k++) {
                unsigned int gib = g_array_index(sizes, unsigned int, k);
                Stat a = save_stat(saves, gib, i, fmt, s_allocated);
                Stat u = save_stat(saves, gib, i, fmt, s_in_use);

                fprintf(f, "%u %f %f %f %f\n", gib, a.n ? a.med : NAN,
                        a.n ? a.min : NAN, a.n ? a.max : NAN, u.n ? u.med : NAN);
            }
            fprintf(f, "\n\n");
        }
    }
    fclose(f);
    if (!(f = fopen(gp, "w"))) {
        return;
    }
    fprintf(f, "set terminal pngcairo size 900,500 font ',10'\n"
            "set output 'saves.png'\n"
            "set datafile missing 'nan'\n"
            "set key top left\n"
            "set grid\n"
            "set xlabel 'guest memory (GiB)'\n"
            "set ylabel 'MiB'\n"
            "set logscale y\n"
            "set xrange [0.5:%u]\n"
            "set title 'save image, allocated (median, bars min-max)'\n"
            "plot for [b=0:%d] 'saves-plot.dat' index b u 1:2:3:4 w yerrorlines "
            "t word('%s %s-hints %s %s-hints', b+1), "
            "'saves-plot.dat' index 0 u 1:5 w lp dt 2 t 'in-use memory'\n",
            max_gib + 1, 2 * SAVE_FORMAT_LAST - 1, save_format_names[0],
            save_format_names[0], save_format_names[1], save_format_names[1]);
    fclose(f);
    cmd = g_strdup_printf("cd '%s' && gnuplot saves-plot.gp 2> saves-plot.log",
                          out);
    if (system(cmd) != 0) {
        g_printerr("%s: gnuplot failed (see %s/saves-plot.log)\n",
                   g_get_prgname(), out);
    }
}

void
write_saves_summary(const char *out, GArray *saves)
{
    g_autofree char *file = g_build_filename(out, "summary.md", NULL);
    g_autoptr(GArray) sizes = g_array_new(FALSE, FALSE, sizeof(unsigned int));
    FILE *f;
    guint i, k;
    int fmt;

    if (saves->len == 0) {
        return;
    }
    if (!(f = fopen(file, "a"))) {
        g_printerr("%s: cannot write %s: %s\n", g_get_prgname(), file,
                   g_strerror(errno));
        return;
    }
    for (i = 0; i < saves->len; i++) {
        unsigned int gib = g_array_index(saves, SaveRun, i).gib;
        bool known = false;

        for (k = 0; k < sizes->len; k++) {
            known |= g_array_index(sizes, unsigned int, k) == gib;
        }
        if (!known) {
            g_array_append_val(sizes, gib);
        }
    }

    fprintf(f, "\n## Saves\n\n");
    fprintf(f, "`virDomainSaveParams()` of the idle-freed guest (70%% of its "
            "memory written, then freed) to a file in host A's "
            "/var/lib/libvirt/images, then `virDomainRestore()`, interleaved, "
            "without and with `VIR_DOMAIN_SAVE_FREE_PAGE_HINT` (the default "
            "wait, 10 s), in libvirt's default image format (raw) and in "
            "`sparse`.  Median (min–max) of the runs (saves.csv); image sizes "
            "from stat(2): apparent (st_size) and allocated (st_blocks).\n\n");
    fprintf(f, "| size | format | hints | in-use MiB | image MiB | allocated "
            "MiB | allocated / in-use | save s | restore s | hinted MiB | free, "
            "not hinted MiB |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (k = 0; k < sizes->len; k++) {
        unsigned int gib = g_array_index(sizes, unsigned int, k);

        for (fmt = 0; fmt < SAVE_FORMAT_LAST; fmt++) {
            for (i = 0; i < 2; i++) {
                bool hint = i == 1;

                if (save_stat(saves, gib, hint, fmt, s_save).n == 0) {
                    continue;
                }
                fprintf(f, "| %u GiB | %s | %s |", gib, save_format_names[fmt],
                        hint ? "yes" : "no");
                md_stat(f, save_stat(saves, gib, hint, fmt, s_in_use), "%.0f");
                md_stat(f, save_stat(saves, gib, hint, fmt, s_apparent), "%.0f");
                md_stat(f, save_stat(saves, gib, hint, fmt, s_allocated), "%.0f");
                md_stat(f, save_stat(saves, gib, hint, fmt, s_ratio), "%.2f");
                md_stat(f, save_stat(saves, gib, hint, fmt, s_save), "%.1f");
                md_stat(f, save_stat(saves, gib, hint, fmt, s_restore), "%.1f");
                md_stat(f, save_stat(saves, gib, hint, fmt, s_hinted), "%.0f");
                md_stat(f, save_stat(saves, gib, hint, fmt, s_not_hinted), "%.0f");
                fputc('\n', f);
            }
        }
    }

    fprintf(f, "\nTargets: with hints, the allocated size of a sparse image "
            "is at most %.1f times the guest's in-use memory (issue 16), and at "
            "most %.1f times the in-use memory plus the free memory the driver "
            "did not hint (issue 14's allowance; MemFree before the save less "
            "the hinted bytes).\n\n", SAVE_TARGET_RATIO, SAVE_TARGET_RATIO);
    fprintf(f, "| target | median | result |\n|---|---|---|\n");
    for (k = 0; k < sizes->len; k++) {
        unsigned int gib = g_array_index(sizes, unsigned int, k);

        target_row(f, gib, "allocated / in-use",
                   save_stat(saves, gib, true, SAVE_FORMAT_SPARSE, s_ratio));
        target_row(f, gib, "allocated / (in-use + free not hinted)",
                   save_stat(saves, gib, true, SAVE_FORMAT_SPARSE,
                             s_ratio_allowed));
    }
    fprintf(f, "\n![saves](saves.png)\n");
    fclose(f);
    write_saves_plot(out, saves, sizes);
}

bool
report_from_csvs(Options *o, const char *started, guint *n_runs,
                 guint *n_saves)
{
    g_autoptr(GArray) runs = g_array_new(FALSE, TRUE, sizeof(Run));
    g_autoptr(GArray) saves = g_array_new(FALSE, TRUE, sizeof(SaveRun));

    if (!o->sizes) {
        o->sizes = g_array_new(FALSE, FALSE, sizeof(unsigned int));
    }
    if (!csv_read(o, runs) || !saves_csv_read(o->out, saves)) {
        return false;
    }
    *n_runs = runs->len;
    *n_saves = saves->len;
    if (runs->len == 0 && saves->len == 0) {
        g_printerr("%s: %s has no run yet (its runs.csv only a header): no "
                   "report\n", g_get_prgname(), o->out);
        return false;
    }
    write_summary(o, runs, started);
    write_saves_summary(o->out, saves);
    write_plots(o, runs);
    return true;
}
