/*
 * report: runs.csv, summary.md and the plots of the benchmark.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const mode_names[MODE_LAST] = {
    "plain", "hint", "hint-wait",
};

const char *const sc_names[SC_LAST] = {
    "idle-fresh", "idle-freed", "workload",
};

/* ---- output ---- */

static void
csv_num(FILE *f, double v, const char *fmt)
{
    fputc(',', f);
    if (!isnan(v)) {
        fprintf(f, fmt, v);
    }
}

#define CSV_HEADER "scenario,size_gib,mode,run,from,to,in_use_mib," \
    "qemu_total_ms,setup_ms,api_wall_ms,libvirt_elapsed_ms," \
    "libvirt_cost_ms,downtime_ms,sent_mib,hinted_mib,bandwidth_mib_s," \
    "sent_before_first_hint_mib,workload_units_s"

char **
provenance_read(const char *out)
{
    g_autofree char *file = g_build_filename(out, "provenance.txt", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *kept;
    int i;

    if (!g_file_get_contents(file, &text, NULL, NULL)) {
        return NULL;
    }
    lines = g_strsplit(text, "\n", -1);
    kept = g_ptr_array_new();
    for (i = 0; lines[i]; i++) {
        if (strchr(lines[i], ':')) {
            g_ptr_array_add(kept, g_strdup(lines[i]));
        }
    }
    g_ptr_array_add(kept, NULL);
    return (char **)g_ptr_array_free(kept, FALSE);
}

void
provenance_csv(FILE *f, const char *out)
{
    g_auto(GStrv) lines = provenance_read(out);
    int i;

    for (i = 0; lines && lines[i]; i++) {
        fprintf(f, "# %s\n", lines[i]);
    }
}

void
provenance_md(FILE *f, const char *out)
{
    g_auto(GStrv) lines = provenance_read(out);
    int i;

    if (!lines || !lines[0]) {
        fprintf(f, "## Provenance\n\nNot recorded (no provenance.txt: a "
                "benchmark from before fph recorded it).\n\n");
        return;
    }
    fprintf(f, "## Provenance\n\n| what | measured with |\n|---|---|\n");
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) kv = g_strsplit(lines[i], ":", 2);

        fprintf(f, "| %s | %s |\n", g_strstrip(kv[0]), g_strstrip(kv[1]));
    }
    fputc('\n', f);
}

char **
csv_skip_comments(char **lines)
{
    while (lines[0] && lines[0][0] == '#') {
        lines++;
    }
    return lines;
}

/* runs.csv is written run by run, so that an interrupted benchmark keeps
 * what it measured (and --report can summarize it) */
FILE *
csv_open(const Options *o)
{
    g_autofree char *file = g_build_filename(o->out, "runs.csv", NULL);
    FILE *f = fopen(file, "w");

    if (!f) {
        g_printerr("%s: cannot write %s: %s\n", g_get_prgname(), file, g_strerror(errno));
        return NULL;
    }
    provenance_csv(f, o->out);
    fprintf(f, CSV_HEADER "\n");
    fflush(f);
    return f;
}

void
csv_append(FILE *f, const Run *r)
{
    fprintf(f, "%s,%u,%s,%u,%s,%s", sc_names[r->sc], r->gib,
            mode_names[r->mode], r->run, r->from, r->to);
    csv_num(f, r->in_use_mib, "%.1f");
    csv_num(f, r->qemu_ms, "%.0f");
    csv_num(f, r->setup_ms, "%.0f");
    csv_num(f, r->api_ms, "%.0f");
    csv_num(f, r->elapsed_ms, "%.0f");
    csv_num(f, r->api_ms - r->qemu_ms, "%.0f");
    csv_num(f, r->downtime_ms, "%.0f");
    csv_num(f, r->sent_mib, "%.1f");
    csv_num(f, r->hinted_mib, "%.1f");
    csv_num(f, r->bw_mib_s, "%.1f");
    csv_num(f, r->sent_before_hint_mib, "%.1f");
    csv_num(f, r->throughput, "%.1f");
    fputc('\n', f);
    fflush(f);
}

static int
name_index(const char *const *names, int n, const char *name)
{
    int i;

    for (i = 0; i < n; i++) {
        if (g_str_equal(names[i], name)) {
            return i;
        }
    }
    return -1;
}

double
csv_field(char **fields, int i)
{
    return fields[i][0] ? g_ascii_strtod(fields[i], NULL) : NAN;
}

/* Read runs.csv of o->out back, and the sizes, scenarios and modes in it */
bool
csv_read(Options *o, GArray *runs)
{
    g_autofree char *file = g_build_filename(o->out, "runs.csv", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) all = NULL;
    char **lines;
    g_autoptr(GError) err = NULL;
    int i, j;

    if (!g_file_get_contents(file, &text, NULL, &err)) {
        g_printerr("%s: %s\n", g_get_prgname(), err->message);
        return false;
    }
    all = g_strsplit(text, "\n", -1);
    lines = csv_skip_comments(all);
    if (!lines[0] || !g_str_equal(lines[0], CSV_HEADER)) {
        g_printerr("%s: %s is not a runs.csv of this benchmark\n", g_get_prgname(), file);
        return false;
    }
    for (j = 0; j < SC_LAST; j++) {
        o->scenarios[j] = false;
    }
    for (j = 0; j < MODE_LAST; j++) {
        o->modes[j] = false;
    }
    g_array_set_size(o->sizes, 0);
    o->runs = 0;
    for (i = 1; lines[i] && lines[i][0]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ",", -1);
        Run r = { 0 };
        int sc, mode;
        bool known = false;
        guint k;

        if (g_strv_length(f) != 18 ||
            (sc = name_index(sc_names, SC_LAST, f[0])) < 0 ||
            (mode = name_index(mode_names, MODE_LAST, f[2])) < 0) {
            g_printerr("%s: %s:%d: unexpected line\n", g_get_prgname(), file,
                       (int)(lines - all) + i + 1);
            return false;
        }
        r.sc = sc;
        r.mode = mode;
        r.gib = atoi(f[1]);
        r.run = atoi(f[3]);
        g_strlcpy(r.from, f[4], sizeof(r.from));
        g_strlcpy(r.to, f[5], sizeof(r.to));
        r.in_use_mib = csv_field(f, 6);
        r.qemu_ms = csv_field(f, 7);
        if (r.qemu_ms <= 0) {
            r.qemu_ms = NAN;    /* a sample of an older benchmark */
        }
        r.setup_ms = csv_field(f, 8);
        r.api_ms = csv_field(f, 9);
        r.elapsed_ms = csv_field(f, 10);
        r.downtime_ms = csv_field(f, 12);
        r.sent_mib = csv_field(f, 13);
        r.hinted_mib = csv_field(f, 14);
        r.bw_mib_s = csv_field(f, 15);
        r.sent_before_hint_mib = csv_field(f, 16);
        r.throughput = csv_field(f, 17);
        g_array_append_val(runs, r);
        o->scenarios[sc] = true;
        o->modes[mode] = true;
        o->runs = MAX(o->runs, r.run + 1);
        for (k = 0; k < o->sizes->len; k++) {
            known |= g_array_index(o->sizes, unsigned int, k) == r.gib;
        }
        if (!known) {
            g_array_append_val(o->sizes, r.gib);
        }
    }
    return runs->len > 0;
}


static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

typedef double (*Field)(const Run *r);

Stat
stat_values(GArray *values)
{
    g_autoptr(GArray) v = g_array_new(FALSE, FALSE, sizeof(double));
    Stat st = { 0, NAN, NAN, NAN };
    guint i;

    for (i = 0; i < values->len; i++) {
        double x = g_array_index(values, double, i);

        if (!isnan(x)) {
            g_array_append_val(v, x);
        }
    }
    if (v->len == 0) {
        return st;
    }
    qsort(v->data, v->len, sizeof(double), cmp_double);
    st.n = v->len;
    st.min = g_array_index(v, double, 0);
    st.max = g_array_index(v, double, v->len - 1);
    st.med = v->len % 2 ? g_array_index(v, double, v->len / 2) :
             (g_array_index(v, double, v->len / 2 - 1) +
              g_array_index(v, double, v->len / 2)) / 2;
    return st;
}

static Stat
stat_of(GArray *runs, Scenario sc, unsigned int gib, Mode mode, Field field)
{
    g_autoptr(GArray) v = g_array_new(FALSE, FALSE, sizeof(double));
    guint i;

    for (i = 0; i < runs->len; i++) {
        Run *r = &g_array_index(runs, Run, i);
        double x;

        if (r->sc != sc || r->gib != gib || r->mode != mode) {
            continue;
        }
        x = field(r);
        g_array_append_val(v, x);
    }
    return stat_values(v);
}

static double f_qemu(const Run *r) { return r->qemu_ms; }
static double f_api(const Run *r) { return r->api_ms; }
static double f_cost(const Run *r) { return r->api_ms - r->qemu_ms; }
static double f_down(const Run *r) { return r->downtime_ms; }
static double f_setup(const Run *r) { return r->setup_ms; }
static double f_sent(const Run *r) { return r->sent_mib; }
static double f_hinted(const Run *r) { return r->hinted_mib; }
static double f_in_use(const Run *r) { return r->in_use_mib; }
static double f_bw(const Run *r) { return r->bw_mib_s; }
static double f_before(const Run *r) { return r->sent_before_hint_mib; }
static double f_tput(const Run *r) { return r->throughput; }

void
md_stat(FILE *f, Stat st, const char *fmt)
{
    if (st.n == 0) {
        fputs(" n/a |", f);
        return;
    }
    fputc(' ', f);
    fprintf(f, fmt, st.med);
    fputs(" (", f);
    fprintf(f, fmt, st.min);
    fputs("–", f);
    fprintf(f, fmt, st.max);
    fputs(") |", f);
}

static bool
have_runs(GArray *runs, Scenario sc, unsigned int gib, Mode mode)
{
    return stat_of(runs, sc, gib, mode, f_api).n > 0;
}

/* The lower bound of a migration's time: its in-use memory sent at the
 * bandwidth the plain migrations of that size and scenario reached */
static double
lower_bound_ms(GArray *runs, Scenario sc, unsigned int gib)
{
    Stat in_use = stat_of(runs, sc, gib, MODE_PLAIN, f_in_use);
    Stat bw = stat_of(runs, sc, gib, MODE_PLAIN, f_bw);

    return in_use.n && bw.n && bw.med > 0 ? in_use.med / bw.med * 1000 : NAN;
}

static void
target_line(FILE *f, const char *what, double value, const char *unit,
            bool met)
{
    fprintf(f, "| %s | %.1f %s | %s |\n", what, value, unit,
            isnan(value) ? "not measured" : met ? "**met**" : "**missed**");
}

static void
write_targets(FILE *f, const Options *o, GArray *runs)
{
    Mode m;

    fprintf(f, "## Targets\n\n"
            "Medians; \"time\" is QEMU's total time.  The targets compare a "
            "hinted mode with `plain` of the same scenario and size.\n\n"
            "| target | measured | result |\n|---|---|---|\n");
    for (m = MODE_HINT; m < MODE_LAST; m++) {
        Stat plain = stat_of(runs, SC_IDLE_FREED, 2, MODE_PLAIN, f_qemu);
        Stat hint = stat_of(runs, SC_IDLE_FREED, 2, m, f_qemu);
        Stat sent = stat_of(runs, SC_IDLE_FREED, 2, m, f_sent);
        Stat in_use = stat_of(runs, SC_IDLE_FREED, 2, m, f_in_use);
        Stat wplain = stat_of(runs, SC_WORKLOAD, 2, MODE_PLAIN, f_qemu);
        Stat whint = stat_of(runs, SC_WORKLOAD, 2, m, f_qemu);
        Stat tplain = stat_of(runs, SC_WORKLOAD, 2, MODE_PLAIN, f_tput);
        Stat thint = stat_of(runs, SC_WORKLOAD, 2, m, f_tput);
        g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        double v;

        if (!o->modes[m]) {
            continue;
        }
        a = g_strdup_printf("idle-freed 2 GiB, `%s`: time at least 90%% lower "
                            "than `plain`", mode_names[m]);
        v = (1 - hint.med / plain.med) * 100;
        target_line(f, a, v, "% lower", v >= 90);
        b = g_strdup_printf("idle-freed 2 GiB, `%s`: bytes sent at most 1.5x "
                            "the in-use memory", mode_names[m]);
        v = sent.med / in_use.med;
        target_line(f, b, v, "x in-use", v <= 1.5);
        c = g_strdup_printf("workload 2 GiB, `%s`: time at least 50%% lower",
                            mode_names[m]);
        v = (1 - whint.med / wplain.med) * 100;
        target_line(f, c, v, "% lower", v >= 50);
        d = g_strdup_printf("workload 2 GiB, `%s`: throughput within 3%% of "
                            "`plain`", mode_names[m]);
        v = (thint.med / tplain.med - 1) * 100;
        target_line(f, d, v, "% change", fabs(v) <= 3 || v > 0);
    }
    fputc('\n', f);
}

void
write_summary(const Options *o, GArray *runs, const char *started)
{
    g_autofree char *file = g_build_filename(o->out, "summary.md", NULL);
    FILE *f = fopen(file, "w");
    Scenario sc;
    Mode m;
    guint i;

    if (!f) {
        g_printerr("%s: cannot write %s: %s\n", g_get_prgname(), file, g_strerror(errno));
        return;
    }
    fprintf(f, "# fph benchmark, %s\n\n", started);
    fprintf(f, "TCG guest (1 vCPU) in fph's two-host lab on one machine (2 "
            "cores), two Debian 13 hosts with fph's packages; migrations "
            "through libvirt's C API, peer to peer (TLS between the daemons) "
            "over the hosts' veth link without a rate limit, back and forth "
            "between hosts A and B; %u runs "
            "per mode, modes interleaved (the order alternates each run).  "
            "`hint-wait` waits up to %" G_GUINT64_FORMAT " ms.  Workload: "
            "%u MiB working set dirtied at %u MiB/s, %u MiB/s allocated and "
            "freed, computing with the rest.  Guest kernel command line "
            "extra: `%s`.  Each cell: median (min–max).  "
            "Raw data: `runs.csv`; timelines: `trace/`.\n\n",
            o->runs, o->hint_wait_ms, o->ws_mib, o->dirty_rate, o->churn_rate,
            o->guest_append ? o->guest_append : "(none)");
    provenance_md(f, o->out);
    write_targets(f, o, runs);

    for (sc = 0; sc < SC_LAST; sc++) {
        if (!o->scenarios[sc]) {
            continue;
        }
        fprintf(f, "## %s\n\n", sc_names[sc]);
        fprintf(f, "| GiB | mode | QEMU total ms | API wall ms | libvirt cost ms "
                "| setup ms | downtime ms | sent MiB | hinted MiB | in-use MiB "
                "| sent before 1st hint MiB | lower bound ms |%s\n",
                sc == SC_WORKLOAD ? " workload units/s |" : "");
        fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|%s\n",
                sc == SC_WORKLOAD ? "---|" : "");
        for (i = 0; i < o->sizes->len; i++) {
            unsigned int gib = g_array_index(o->sizes, unsigned int, i);
            double lb = lower_bound_ms(runs, sc, gib);

            for (m = 0; m < MODE_LAST; m++) {
                if (!have_runs(runs, sc, gib, m)) {
                    continue;
                }
                fprintf(f, "| %u | %s |", gib, mode_names[m]);
                md_stat(f, stat_of(runs, sc, gib, m, f_qemu), "%.0f");
                md_stat(f, stat_of(runs, sc, gib, m, f_api), "%.0f");
                md_stat(f, stat_of(runs, sc, gib, m, f_cost), "%.0f");
                md_stat(f, stat_of(runs, sc, gib, m, f_setup), "%.0f");
                md_stat(f, stat_of(runs, sc, gib, m, f_down), "%.0f");
                md_stat(f, stat_of(runs, sc, gib, m, f_sent), "%.0f");
                md_stat(f, stat_of(runs, sc, gib, m, f_hinted), "%.0f");
                md_stat(f, stat_of(runs, sc, gib, m, f_in_use), "%.0f");
                md_stat(f, stat_of(runs, sc, gib, m, f_before), "%.0f");
                if (isnan(lb)) {
                    fputs(" n/a |", f);
                } else {
                    fprintf(f, " %.0f |", lb);
                }
                if (sc == SC_WORKLOAD) {
                    md_stat(f, stat_of(runs, sc, gib, m, f_tput), "%.0f");
                }
                fputc('\n', f);
            }
        }
        fputc('\n', f);
    }
    fprintf(f, "The seed (8 GiB, 4 vCPUs, KVM, 100G, 10 runs): idle %d -> %d "
            "ms, kernel compile %d -> %d ms.\n\n"
            "![time](time.png)\n\n![bytes](bytes.png)\n\n"
            "![timeline](timeline.png)\n",
            SEED_IDLE_PLAIN_MS, SEED_IDLE_HINT_MS, SEED_WORK_PLAIN_MS,
            SEED_WORK_HINT_MS);
    fclose(f);
}

/* Data files and a gnuplot script: time and bytes against guest size */
void
write_plots(const Options *o, GArray *runs)
{
    g_autofree char *dat = g_build_filename(o->out, "plot.dat", NULL);
    g_autofree char *gp = g_build_filename(o->out, "plot.gp", NULL);
    g_autofree char *cmd = NULL;
    FILE *f = fopen(dat, "w");
    unsigned int tl_gib = g_array_index(o->sizes, unsigned int, 0);
    int nsc = 0;
    Scenario sc;
    Mode m;
    guint i;
    int rc;

    for (sc = 0; sc < SC_LAST; sc++) {
        nsc += o->scenarios[sc];
    }
    /* the timeline of the 2 GiB guest, or of the first size */
    for (i = 0; i < o->sizes->len; i++) {
        if (g_array_index(o->sizes, unsigned int, i) == 2) {
            tl_gib = 2;
        }
    }

    if (!f) {
        return;
    }
    /* one block per scenario and mode: size, time, bytes, bounds */
    for (sc = 0; sc < SC_LAST; sc++) {
        for (m = 0; m < MODE_LAST; m++) {
            int rows = 0;

            fprintf(f, "# %s %s\n", sc_names[sc], mode_names[m]);
            for (i = 0; i < o->sizes->len; i++) {
                unsigned int gib = g_array_index(o->sizes, unsigned int, i);
                Stat t = stat_of(runs, sc, gib, m, f_qemu);
                Stat b = stat_of(runs, sc, gib, m, f_sent);
                Stat u = stat_of(runs, sc, gib, MODE_PLAIN, f_in_use);

                if (t.n == 0 && b.n == 0) {
                    continue;
                }
                fprintf(f, "%u %f %f %f %f %f %f %f %f\n", gib, t.med, t.min,
                        t.max, b.med, b.min, b.max,
                        lower_bound_ms(runs, sc, gib), u.med);
                rows++;
            }
            if (rows == 0) {
                /* gnuplot's "index" counts only blocks with a line */
                fprintf(f, "nan nan nan nan nan nan nan nan nan\n");
            }
            fprintf(f, "\n\n");
        }
    }
    fclose(f);

    if (!(f = fopen(gp, "w"))) {
        return;
    }
    fprintf(f,
            "set terminal pngcairo size 1400,500 font ',10'\n"
            "set datafile missing 'nan'\n"
            "set key top left\n"
            "set grid\n"
            "set xlabel 'guest memory (GiB)'\n"
            "set xrange [0.5:%d]\n"
            "set logscale y\n"
            "idx(sc, m) = sc * %d + m\n",
            SEED_SIZE_GIB + 1, MODE_LAST);
    fprintf(f,
            "set output 'time.png'\n"
            "set multiplot layout 1,%d title 'migration time (QEMU total-time, "
            "median, bars min-max)'\n"
            "set ylabel 'ms'\n", nsc);
    for (sc = 0; sc < SC_LAST; sc++) {
        if (!o->scenarios[sc]) {
            continue;
        }
        fprintf(f, "set title '%s'\n", sc_names[sc]);
        fprintf(f, "plot for [m=0:%d] 'plot.dat' index idx(%d, m) u 1:2:3:4 "
                "w yerrorlines t word('plain hint hint-wait', m+1), "
                "'plot.dat' index idx(%d, 0) u 1:8 w lp dt 2 t 'lower bound "
                "(in-use / bandwidth)'",
                MODE_LAST - 1, sc, sc);
        if (sc == SC_IDLE_FREED) {
            fprintf(f, ", '-' u 1:2 w p pt 7 ps 1.5 t 'seed idle (KVM, 100G)'"
                    "\n%d %d\n%d %d\ne\n", SEED_SIZE_GIB, SEED_IDLE_PLAIN_MS,
                    SEED_SIZE_GIB, SEED_IDLE_HINT_MS);
        } else if (sc == SC_WORKLOAD) {
            fprintf(f, ", '-' u 1:2 w p pt 7 ps 1.5 t 'seed compile (KVM, "
                    "100G)'\n%d %d\n%d %d\ne\n", SEED_SIZE_GIB,
                    SEED_WORK_PLAIN_MS, SEED_SIZE_GIB, SEED_WORK_HINT_MS);
        } else {
            fputc('\n', f);
        }
    }
    fprintf(f, "unset multiplot\n"
            "set output 'bytes.png'\n"
            "set multiplot layout 1,%d title 'memory sent (median, bars "
            "min-max)'\n"
            "set ylabel 'MiB'\n", nsc);
    for (sc = 0; sc < SC_LAST; sc++) {
        if (!o->scenarios[sc]) {
            continue;
        }
        fprintf(f, "set title '%s'\n", sc_names[sc]);
        fprintf(f, "plot for [m=0:%d] 'plot.dat' index idx(%d, m) u 1:5:6:7 "
                "w yerrorlines t word('plain hint hint-wait', m+1), "
                "'plot.dat' index idx(%d, 0) u 1:9 w lp dt 2 t 'lower bound "
                "(in-use memory)'\n", MODE_LAST - 1, sc, sc);
    }
    fprintf(f, "unset multiplot\n"
            "set output 'timeline.png'\n"
            "unset logscale y\n"
            "set autoscale x\n"
            "set datafile separator ','\n"
            "set key top right\n"
            "set xlabel 'ms since the migration call'\n"
            "set ylabel 'MiB'\n"
            "set multiplot layout 1,2 title 'idle-freed %u GiB, run 0: memory "
            "sent, hinted and remaining while the migration runs'\n", tl_gib);
    for (m = MODE_HINT; m < MODE_LAST; m++) {
        fprintf(f, "set title '%s'\n"
                "plot 'trace/idle-freed-%ug-%s-0.csv' u 1:3 every ::1 w l lw 2 "
                "t 'sent', '' u 1:5 every ::1 w l lw 2 t 'hinted', "
                "'' u 1:4 every ::1 w l t 'remaining (dirty)', "
                "'trace/idle-freed-%ug-plain-0.csv' u 1:3 every ::1 w l dt 2 "
                "t 'sent without hints'\n", mode_names[m], tl_gib,
                mode_names[m], tl_gib);
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);

    cmd = g_strdup_printf("cd '%s' && gnuplot plot.gp 2> plot.log", o->out);
    rc = system(cmd);
    if (rc != 0) {
        g_printerr("%s: gnuplot failed (see %s/plot.log)\n", g_get_prgname(), o->out);
    }
}

/* ---- the runs ---- */

