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
    "plain", "hint", "hint-wait", "reporting", "reporting-hint-wait",
};

bool
mode_hints(Mode mode)
{
    return mode == MODE_HINT || mode == MODE_HINT_WAIT ||
           mode == MODE_REPORTING_HINT_WAIT;
}

bool
mode_waits(Mode mode)
{
    return mode == MODE_HINT_WAIT || mode == MODE_REPORTING_HINT_WAIT;
}

bool
mode_reporting(Mode mode)
{
    return mode == MODE_REPORTING || mode == MODE_REPORTING_HINT_WAIT;
}

Mode
mode_base(Mode mode)
{
    return mode_reporting(mode) ? MODE_REPORTING : MODE_PLAIN;
}

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

/* runs.csv before link rates (2026-12-05): 18 fields, no link, no MemFree */
#define CSV_HEADER_NO_LINK "scenario,size_gib,mode,run,from,to,in_use_mib," \
    "qemu_total_ms,setup_ms,api_wall_ms,libvirt_elapsed_ms," \
    "libvirt_cost_ms,downtime_ms,sent_mib,hinted_mib,bandwidth_mib_s," \
    "sent_before_first_hint_mib,workload_units_s"
#define CSV_HEADER CSV_HEADER_NO_LINK ",link,mem_free_mib"
#define CSV_FIELDS 20

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
    fprintf(f, ",%s", r->link[0] ? r->link : LINK_UNLIMITED);
    csv_num(f, r->mem_free_mib, "%.1f");
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
    guint fields = CSV_FIELDS;
    int i, j;

    if (!g_file_get_contents(file, &text, NULL, &err)) {
        g_printerr("%s: %s\n", g_get_prgname(), err->message);
        return false;
    }
    all = g_strsplit(text, "\n", -1);
    lines = csv_skip_comments(all);
    o->traces_without_link = false;
    if (lines[0] && g_str_equal(lines[0], CSV_HEADER_NO_LINK)) {
        fields = CSV_FIELDS - 2;
        o->traces_without_link = true;
    } else if (!lines[0] || !g_str_equal(lines[0], CSV_HEADER)) {
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
    if (o->links) {
        g_ptr_array_set_size(o->links, 0);
    } else {
        o->links = g_ptr_array_new_with_free_func(g_free);
    }
    o->runs = 0;
    for (i = 1; lines[i] && lines[i][0]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ",", -1);
        Run r = { 0 };
        int sc, mode;
        bool known = false;
        guint k;

        if (g_strv_length(f) != fields ||
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
        g_strlcpy(r.link, fields == CSV_FIELDS ? f[18] : LINK_UNLIMITED,
                  sizeof(r.link));
        r.mem_free_mib = fields == CSV_FIELDS ? csv_field(f, 19) : NAN;
        if (!r.link[0]) {
            g_printerr("%s: %s:%d: a run without its link\n", g_get_prgname(),
                       file, (int)(lines - all) + i + 1);
            return false;
        }
        if (!g_ptr_array_find_with_equal_func(o->links, r.link, g_str_equal,
                                              NULL)) {
            g_ptr_array_add(o->links, g_strdup(r.link));
        }
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
stat_of(GArray *runs, Scenario sc, unsigned int gib, const char *link,
        Mode mode, Field field)
{
    g_autoptr(GArray) v = g_array_new(FALSE, FALSE, sizeof(double));
    guint i;

    for (i = 0; i < runs->len; i++) {
        Run *r = &g_array_index(runs, Run, i);
        double x;

        if (r->sc != sc || r->gib != gib || r->mode != mode ||
            !g_str_equal(r->link, link)) {
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
/* the guest's free memory its driver did not hint (MemFree before, less
 * what QEMU counted hinted; hints of memory freed later can exceed it) */
static double f_unhinted(const Run *r)
{
    return isnan(r->mem_free_mib) ? NAN : MAX(r->mem_free_mib - r->hinted_mib, 0);
}

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
have_runs(GArray *runs, Scenario sc, unsigned int gib, const char *link,
          Mode mode)
{
    return stat_of(runs, sc, gib, link, mode, f_api).n > 0;
}

/* The lower bound of a migration's time: its in-use memory sent at the
 * bandwidth the plain migrations of that size, scenario and link reached */
static double
lower_bound_ms(GArray *runs, Scenario sc, unsigned int gib, const char *link)
{
    Stat in_use = stat_of(runs, sc, gib, link, MODE_PLAIN, f_in_use);
    Stat bw = stat_of(runs, sc, gib, link, MODE_PLAIN, f_bw);

    return in_use.n && bw.n && bw.med > 0 ? in_use.med / bw.med * 1000 : NAN;
}

static void
target_line(FILE *f, const char *what, double value, const char *unit,
            bool met)
{
    if (isnan(value)) {
        fprintf(f, "| %s | n/a | not measured |\n", what);
        return;
    }
    fprintf(f, "| %s | %.*f %s | %s |\n", what, unit[0] == 'x' ? 2 : 1, value,
            unit, met ? "**met**" : "**missed**");
}

/* Issue 16's targets: the 4 GiB guest over a 1 Gbit/s link */
#define TARGET_GIB 4
#define TARGET_LINK "1gbit"

static void
write_targets(FILE *f, const Options *o, GArray *runs)
{
    Mode m;

    fprintf(f, "## Targets\n\n"
            "Medians of the %u GiB guest over the link at `%s`; \"time\" is "
            "QEMU's total time, \"API time\" the wall time of the migration "
            "call.  The targets compare a hinted mode with `plain` of the same "
            "scenario.  \"Not hinted\" is the guest's MemFree before the "
            "migration less what QEMU counted hinted.\n\n"
            "| target | measured | result |\n|---|---|---|\n",
            TARGET_GIB, TARGET_LINK);
    /* the targets are against plain: the reporting guest's
     * comparison has its own table (write_reporting) */
    for (m = MODE_HINT; m < MODE_LAST; m++) {
        const unsigned int g = TARGET_GIB;
        const char *l = TARGET_LINK;
        Stat plain = stat_of(runs, SC_IDLE_FREED, g, l, MODE_PLAIN, f_qemu);
        Stat hint = stat_of(runs, SC_IDLE_FREED, g, l, m, f_qemu);
        Stat aplain = stat_of(runs, SC_IDLE_FREED, g, l, MODE_PLAIN, f_api);
        Stat ahint = stat_of(runs, SC_IDLE_FREED, g, l, m, f_api);
        Stat sent = stat_of(runs, SC_IDLE_FREED, g, l, m, f_sent);
        Stat in_use = stat_of(runs, SC_IDLE_FREED, g, l, m, f_in_use);
        Stat unhinted = stat_of(runs, SC_IDLE_FREED, g, l, m, f_unhinted);
        Stat wplain = stat_of(runs, SC_WORKLOAD, g, l, MODE_PLAIN, f_qemu);
        Stat whint = stat_of(runs, SC_WORKLOAD, g, l, m, f_qemu);
        Stat tplain = stat_of(runs, SC_WORKLOAD, g, l, MODE_PLAIN, f_tput);
        Stat thint = stat_of(runs, SC_WORKLOAD, g, l, m, f_tput);
        g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        double v;

        if (!o->modes[m] || !mode_hints(m) || mode_reporting(m)) {
            continue;
        }
        a = g_strdup_printf("idle-freed, `%s`: API time at least 85%% lower "
                            "than `plain`", mode_names[m]);
        v = (1 - ahint.med / aplain.med) * 100;
        target_line(f, a, v, "% lower", v >= 85);
        b = g_strdup_printf("idle-freed, `%s`: time at least 95%% lower than "
                            "`plain`", mode_names[m]);
        v = (1 - hint.med / plain.med) * 100;
        target_line(f, b, v, "% lower", v >= 95);
        c = g_strdup_printf("idle-freed, `%s`: bytes sent at most 1.3x "
                            "(in-use + not hinted)", mode_names[m]);
        v = unhinted.n ? sent.med / (in_use.med + unhinted.med) : NAN;
        target_line(f, c, v, "x", v <= 1.3);
        d = g_strdup_printf("workload, `%s`: time at least 80%% lower",
                            mode_names[m]);
        v = (1 - whint.med / wplain.med) * 100;
        target_line(f, d, v, "% lower", v >= 80);
        e = g_strdup_printf("workload, `%s`: throughput within 3%% of "
                            "`plain`", mode_names[m]);
        v = (thint.med / tplain.med - 1) * 100;
        target_line(f, e, v, "% change", fabs(v) <= 3 || v > 0);
    }
    fputc('\n', f);
}

/* The percentage by which VALUE is lower than BASE, in a table cell */
static void
md_lower(FILE *f, Stat value, Stat base)
{
    if (value.n == 0 || base.n == 0 || !(base.med > 0)) {
        fputs(" n/a |", f);
        return;
    }
    fprintf(f, " %.0f%% |", (1 - value.med / base.med) * 100);
}

/* The medians of FIELD of N MODES, a table cell each */
static void
md_medians(FILE *f, GArray *runs, Scenario sc, unsigned int gib,
           const char *link, const Mode *modes, guint n, Field field)
{
    guint i;

    for (i = 0; i < n; i++) {
        Stat st = stat_of(runs, sc, gib, link, modes[i], field);

        if (st.n) {
            fprintf(f, " %.0f |", st.med);
        } else {
            fputs(" n/a |", f);
        }
    }
}

/*
 * Whether hinting still pays when the guest reports its free pages: the
 * reporting guest without and with hints, beside the other guest's plain
 * and hint-wait, per scenario, size and link (medians)
 */
static void
write_reporting(FILE *f, const Options *o, GArray *runs)
{
    static const Mode cols[] = {
        MODE_PLAIN, MODE_HINT_WAIT, MODE_REPORTING, MODE_REPORTING_HINT_WAIT,
    };
    Scenario sc;
    guint i, l, c;

    if (!o->modes[MODE_REPORTING] || !o->modes[MODE_REPORTING_HINT_WAIT]) {
        return;
    }
    fprintf(f, "## Hinting with free page reporting\n\n"
            "The `reporting` modes migrate a guest of the same size whose "
            "balloon also has `freePageReporting='on'`; QEMU discards the "
            "memory that guest reports, and a migration still reads every "
            "page (discarded ones as zero pages).  Medians; \"lower\": "
            "`reporting-hint-wait` against `reporting`.\n\n"
            "| scenario | GiB | link |");
    for (c = 0; c < G_N_ELEMENTS(cols); c++) {
        fprintf(f, " `%s` ms |", mode_names[cols[c]]);
    }
    fputs(" time lower |", f);
    for (c = 0; c < G_N_ELEMENTS(cols); c++) {
        fprintf(f, " `%s` MiB sent |", mode_names[cols[c]]);
    }
    fputs(" bytes lower |\n|---|---|---|", f);
    for (c = 0; c < 2 * G_N_ELEMENTS(cols) + 2; c++) {
        fputs("---|", f);
    }
    fputc('\n', f);
    for (sc = 0; sc < SC_LAST; sc++) {
        for (i = 0; i < o->sizes->len; i++) {
            unsigned int gib = g_array_index(o->sizes, unsigned int, i);

            for (l = 0; l < o->links->len; l++) {
                const char *link = g_ptr_array_index(o->links, l);
                Stat rep_t = stat_of(runs, sc, gib, link, MODE_REPORTING, f_qemu);
                Stat rhw_t = stat_of(runs, sc, gib, link,
                                     MODE_REPORTING_HINT_WAIT, f_qemu);
                Stat rep_b = stat_of(runs, sc, gib, link, MODE_REPORTING, f_sent);
                Stat rhw_b = stat_of(runs, sc, gib, link,
                                     MODE_REPORTING_HINT_WAIT, f_sent);

                if (rep_t.n == 0 && rhw_t.n == 0) {
                    continue;
                }
                fprintf(f, "| %s | %u | %s |", sc_names[sc], gib, link);
                md_medians(f, runs, sc, gib, link, cols, G_N_ELEMENTS(cols),
                           f_qemu);
                md_lower(f, rhw_t, rep_t);
                md_medians(f, runs, sc, gib, link, cols, G_N_ELEMENTS(cols),
                           f_sent);
                md_lower(f, rhw_b, rep_b);
                fputc('\n', f);
            }
        }
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
    guint i, l;

    if (!f) {
        g_printerr("%s: cannot write %s: %s\n", g_get_prgname(), file, g_strerror(errno));
        return;
    }
    fprintf(f, "# fph benchmark, %s\n\n", started);
    fprintf(f, "TCG guest (1 vCPU) in fph's two-host lab on one machine (2 "
            "cores), two Debian 13 hosts with fph's packages; migrations "
            "through libvirt's C API, peer to peer (TLS between the daemons) "
            "over the hosts' veth link at the rate of the `link` column (tc's "
            "token bucket on both ends; `unlimited`: none), back and forth "
            "between hosts A and B; %u runs "
            "per mode, modes interleaved (the order alternates each run).  "
            "`hint-wait` waits up to %" G_GUINT64_FORMAT " ms; the "
            "`reporting` modes migrate a second guest of each size, whose "
            "balloon also has `freePageReporting='on'`.  Workload: "
            "%u MiB working set dirtied at %u MiB/s, %u MiB/s allocated and "
            "freed, computing with the rest.  Guest kernel command line "
            "extra: `%s`.  Each cell: median (min–max).  "
            "Raw data: `runs.csv`; timelines: `trace/`.\n\n",
            o->runs, o->hint_wait_ms, o->ws_mib, o->dirty_rate, o->churn_rate,
            o->guest_append ? o->guest_append : "(none)");
    provenance_md(f, o->out);
    write_targets(f, o, runs);
    write_reporting(f, o, runs);

    for (sc = 0; sc < SC_LAST; sc++) {
        if (!o->scenarios[sc]) {
            continue;
        }
        fprintf(f, "## %s\n\n", sc_names[sc]);
        fprintf(f, "| GiB | link | mode | QEMU total ms | API wall ms | "
                "libvirt cost ms | setup ms | downtime ms | sent MiB | hinted "
                "MiB | in-use MiB | not hinted MiB | sent before 1st hint MiB "
                "| lower bound ms |%s\n",
                sc == SC_WORKLOAD ? " workload units/s |" : "");
        fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|%s\n",
                sc == SC_WORKLOAD ? "---|" : "");
        for (i = 0; i < o->sizes->len; i++) {
            unsigned int gib = g_array_index(o->sizes, unsigned int, i);

            for (l = 0; l < o->links->len; l++) {
                const char *link = g_ptr_array_index(o->links, l);
                double lb = lower_bound_ms(runs, sc, gib, link);

                for (m = 0; m < MODE_LAST; m++) {
                    if (!have_runs(runs, sc, gib, link, m)) {
                        continue;
                    }
                    fprintf(f, "| %u | %s | %s |", gib, link, mode_names[m]);
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_qemu), "%.0f");
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_api), "%.0f");
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_cost), "%.0f");
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_setup), "%.0f");
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_down), "%.0f");
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_sent), "%.0f");
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_hinted), "%.0f");
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_in_use), "%.0f");
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_unhinted), "%.0f");
                    md_stat(f, stat_of(runs, sc, gib, link, m, f_before), "%.0f");
                    if (isnan(lb)) {
                        fputs(" n/a |", f);
                    } else {
                        fprintf(f, " %.0f |", lb);
                    }
                    if (sc == SC_WORKLOAD) {
                        md_stat(f, stat_of(runs, sc, gib, link, m, f_tput), "%.0f");
                    }
                    fputc('\n', f);
                }
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

char *
trace_name(Scenario sc, unsigned int gib, const char *link, Mode mode,
           unsigned int run)
{
    /* the runs before link rates had no link in the name */
    if (!link || !link[0]) {
        return g_strdup_printf("%s-%ug-%s-%u.csv", sc_names[sc], gib,
                               mode_names[mode], run);
    }
    return g_strdup_printf("%s-%ug-%s-%s-%u.csv", sc_names[sc], gib, link,
                           mode_names[mode], run);
}

/* A PNG of a plot per link (rows) and scenario (columns): the modes with
 * COLS of plot.dat, the lower bound with BOUND_COLS, the seed's points if
 * SEED */
static void
plot_per_link(FILE *f, const Options *o, int nsc, const char *png,
              const char *title, const char *ylabel, const char *cols,
              const char *bound_cols, const char *bound_title, bool seed)
{
    Scenario sc;
    guint l;

    fprintf(f, "set output '%s'\n"
            "set multiplot layout %u,%d title '%s'\n"
            "set ylabel '%s'\n", png, o->links->len, nsc, title, ylabel);
    for (l = 0; l < o->links->len; l++) {
        for (sc = 0; sc < SC_LAST; sc++) {
            if (!o->scenarios[sc]) {
                continue;
            }
            fprintf(f, "set title '%s, link %s'\n", sc_names[sc],
                    (char *)g_ptr_array_index(o->links, l));
            fprintf(f, "plot for [m=0:%d] 'plot.dat' index idx(%u, %d, m) u %s "
                    "w yerrorlines t word(modes, m+1), "
                    "'plot.dat' index idx(%u, %d, 0) u %s w lp dt 2 t '%s'",
                    MODE_LAST - 1, l, sc, cols, l, sc, bound_cols, bound_title);
            if (seed && sc == SC_IDLE_FREED) {
                fprintf(f, ", $seed_idle u 1:2 w p pt 7 ps 1.5 t 'seed idle "
                        "(KVM, 100G)'");
            } else if (seed && sc == SC_WORKLOAD) {
                fprintf(f, ", $seed_work u 1:2 w p pt 7 ps 1.5 t 'seed compile "
                        "(KVM, 100G)'");
            }
            fputc('\n', f);
        }
    }
    fprintf(f, "unset multiplot\n");
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
    const char *tl_link = g_ptr_array_index(o->links, 0);
    const char *tl_name_link = o->traces_without_link ? NULL : tl_link;
    int nsc = 0;
    int hinted_modes = 0;
    Scenario sc;
    Mode m;
    guint i, l;
    int rc;

    for (sc = 0; sc < SC_LAST; sc++) {
        nsc += o->scenarios[sc];
    }
    for (m = 0; m < MODE_LAST; m++) {
        hinted_modes += o->modes[m] && mode_hints(m);
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
    /* one block per link, scenario and mode: size, time, bytes, bounds */
    for (l = 0; l < o->links->len; l++) {
        const char *link = g_ptr_array_index(o->links, l);

        for (sc = 0; sc < SC_LAST; sc++) {
            for (m = 0; m < MODE_LAST; m++) {
                int rows = 0;

                fprintf(f, "# %s %s %s\n", link, sc_names[sc], mode_names[m]);
                for (i = 0; i < o->sizes->len; i++) {
                    unsigned int gib = g_array_index(o->sizes, unsigned int, i);
                    Stat t = stat_of(runs, sc, gib, link, m, f_qemu);
                    Stat b = stat_of(runs, sc, gib, link, m, f_sent);
                    Stat u = stat_of(runs, sc, gib, link, MODE_PLAIN, f_in_use);

                    if (t.n == 0 && b.n == 0) {
                        continue;
                    }
                    fprintf(f, "%u %f %f %f %f %f %f %f %f\n", gib, t.med,
                            t.min, t.max, b.med, b.min, b.max,
                            lower_bound_ms(runs, sc, gib, link), u.med);
                    rows++;
                }
                if (rows == 0) {
                    /* gnuplot's "index" counts only blocks with a line */
                    fprintf(f, "nan nan nan nan nan nan nan nan nan\n");
                }
                fprintf(f, "\n\n");
            }
        }
    }
    fclose(f);

    if (!(f = fopen(gp, "w"))) {
        return;
    }
    fprintf(f,
            "set terminal pngcairo size 1400,%u font ',10'\n"
            "set datafile missing 'nan'\n"
            "set key top left\n"
            "set grid\n"
            "set xlabel 'guest memory (GiB)'\n"
            "set xrange [0.5:%d]\n"
            "set logscale y\n"
            "idx(l, sc, m) = (l * %d + sc) * %d + m\n"
            "$seed_idle << EOD\n%d %d\n%d %d\nEOD\n"
            "$seed_work << EOD\n%d %d\n%d %d\nEOD\n",
            100 + 400 * o->links->len, SEED_SIZE_GIB + 1, SC_LAST, MODE_LAST,
            SEED_SIZE_GIB, SEED_IDLE_PLAIN_MS, SEED_SIZE_GIB, SEED_IDLE_HINT_MS,
            SEED_SIZE_GIB, SEED_WORK_PLAIN_MS, SEED_SIZE_GIB, SEED_WORK_HINT_MS);
    fputs("modes = '", f);
    for (m = 0; m < MODE_LAST; m++) {
        fprintf(f, "%s%s", m ? " " : "", mode_names[m]);
    }
    fputs("'\n", f);
    plot_per_link(f, o, nsc, "time.png", "migration time (QEMU total-time, "
                  "median, bars min-max)", "ms", "1:2:3:4", "1:8",
                  "lower bound (in-use / bandwidth)", true);
    plot_per_link(f, o, nsc, "bytes.png", "memory sent (median, bars "
                  "min-max)", "MiB", "1:5:6:7", "1:9",
                  "lower bound (in-use memory)", false);
    fprintf(f, "set output 'timeline.png'\n"
            "unset logscale y\n"
            "set autoscale x\n"
            "set datafile separator ','\n"
            "set key top right\n"
            "set xlabel 'ms since the migration call'\n"
            "set ylabel 'MiB'\n"
            "set multiplot layout 1,%d title 'idle-freed %u GiB, link %s, run "
            "0: memory sent, hinted and remaining while the migration runs'\n",
            MAX(hinted_modes, 1), tl_gib, tl_link);
    /* the hinted modes that ran, each beside its guest without hints */
    for (m = 0; m < MODE_LAST; m++) {
        g_autofree char *hinted = NULL;
        g_autofree char *base = NULL;

        if (!o->modes[m] || !mode_hints(m)) {
            continue;
        }
        hinted = trace_name(SC_IDLE_FREED, tl_gib, tl_name_link, m, 0);
        base = trace_name(SC_IDLE_FREED, tl_gib, tl_name_link, mode_base(m), 0);
        fprintf(f, "set title '%s'\n"
                "plot 'trace/%s' u 1:3 every ::1 w l lw 2 "
                "t 'sent', '' u 1:5 every ::1 w l lw 2 t 'hinted', "
                "'' u 1:4 every ::1 w l t 'remaining (dirty)', "
                "'trace/%s' u 1:3 every ::1 w l dt 2 "
                "t 'sent by %s'\n", mode_names[m], hinted, base,
                mode_names[mode_base(m)]);
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

