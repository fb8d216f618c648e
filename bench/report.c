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
#include <sys/stat.h>

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

const char *const phase_names[PHASE_LAST] = {
    "call", "connect", "begin", "prepare", "perform", "finish", "confirm",
};

/* Where each phase after the call starts: the debug messages of
 * qemuMigrationSrcPerformPeer2Peer() and ...Peer2Peer3() in libvirt's
 * src/qemu/qemu_migration.c (function name, line, " : ", message) */
static const char *const phase_marks[PHASE_LAST - 1] = {
    " : qemuMigrationSrcPerformPeer2Peer:",
    " : qemuMigrationSrcPerformPeer2Peer3:",
    " : Prepare3 ",
    " : Perform3 ",
    " : Finish3 ",
    " : Confirm3 ",
};

/* The time of a libvirt log line ("2026-12-05 08:00:00.123+0000: ..."),
 * in µs since the epoch, or -1 */
static gint64
log_line_us(const char *line)
{
    int y, mo, d, h, mi, sec, ms, n = 0;
    g_autoptr(GDateTime) dt = NULL;

    if (sscanf(line, "%4d-%2d-%2d %2d:%2d:%2d.%3d+0000:%n", &y, &mo, &d, &h,
               &mi, &sec, &ms, &n) != 7 || n == 0 ||
        !(dt = g_date_time_new_utc(y, mo, d, h, mi, sec))) {
        return -1;
    }
    return g_date_time_to_unix(dt) * G_USEC_PER_SEC + ms * 1000;
}

bool
phases_from_log(const char *log, gint64 call_us, gint64 return_us,
                double phase_ms[PHASE_LAST])
{
    g_auto(GStrv) lines = g_strsplit(log ? log : "", "\n", -1);
    gint64 at[PHASE_LAST + 1] = { call_us };
    int p = 0, i;

    for (i = 0; i < PHASE_LAST; i++) {
        phase_ms[i] = NAN;
    }
    for (i = 0; lines[i] && p < PHASE_LAST - 1; i++) {
        if (strstr(lines[i], phase_marks[p]) &&
            (at[p + 1] = log_line_us(lines[i])) >= 0) {
            p++;
        }
    }
    if (p < PHASE_LAST - 1) {
        return false;
    }
    at[PHASE_LAST] = return_us;
    for (i = 0; i < PHASE_LAST; i++) {
        /* the log has milliseconds, the call's clock microseconds */
        phase_ms[i] = MAX(at[i + 1] - at[i], 0) / 1000.0;
    }
    return true;
}

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
/* runs.csv before the phases and the guests (2026-12-05): 20 fields */
#define CSV_HEADER_NO_PHASES CSV_HEADER_NO_LINK ",link,mem_free_mib"
#define CSV_FIELDS_NO_PHASES 20
#define CSV_HEADER CSV_HEADER_NO_PHASES ",guest,call_ms,connect_ms,begin_ms," \
    "prepare_ms,perform_ms,finish_ms,confirm_ms"
#define CSV_FIELDS (CSV_FIELDS_NO_PHASES + 1 + PHASE_LAST)

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
csv_create(const char *dir, const char *name, const char *header,
           bool append)
{
    g_autofree char *file = g_build_filename(dir, name, NULL);
    struct stat st;
    bool anew = !append || stat(file, &st) < 0 || st.st_size == 0;
    FILE *f = fopen(file, anew ? "w" : "a");

    if (!f) {
        g_printerr("%s: cannot write %s: %s\n", g_get_prgname(), file, g_strerror(errno));
        return NULL;
    }
    if (anew) {
        provenance_csv(f, dir);
        fprintf(f, "%s\n", header);
        fflush(f);
    }
    return f;
}

FILE *
csv_open(const Options *o, bool append)
{
    return csv_create(o->out, "runs.csv", CSV_HEADER, append);
}

char *
run_key(const Run *r)
{
    return g_strdup_printf("%s/%ug/%s/%s/%s/%u", sc_names[r->sc], r->gib,
                           r->link, r->guest, mode_names[r->mode], r->run);
}

void
csv_append(FILE *f, const Run *r)
{
    int i;

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
    fprintf(f, ",%s", r->guest);
    for (i = 0; i < PHASE_LAST; i++) {
        csv_num(f, r->phase_ms[i], "%.1f");
    }
    fputc('\n', f);
    fflush(f);
}

static gint
cmp_uint(gconstpointer a, gconstpointer b)
{
    unsigned int x = *(const unsigned int *)a;
    unsigned int y = *(const unsigned int *)b;

    return x < y ? -1 : x > y;
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
    o->traces_without_guest = true;
    if (lines[0] && g_str_equal(lines[0], CSV_HEADER_NO_LINK)) {
        fields = CSV_FIELDS_NO_PHASES - 2;
        o->traces_without_link = true;
    } else if (lines[0] && g_str_equal(lines[0], CSV_HEADER_NO_PHASES)) {
        fields = CSV_FIELDS_NO_PHASES;
    } else if (lines[0] && g_str_equal(lines[0], CSV_HEADER)) {
        o->traces_without_guest = false;
    } else {
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
    if (o->guests) {
        g_ptr_array_set_size(o->guests, 0);
    } else {
        o->guests = g_ptr_array_new_with_free_func(g_free);
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
        g_strlcpy(r.link, fields >= CSV_FIELDS_NO_PHASES ? f[18] : LINK_UNLIMITED,
                  sizeof(r.link));
        r.mem_free_mib = fields >= CSV_FIELDS_NO_PHASES ? csv_field(f, 19) : NAN;
        /* older runs: the guest of --guest-append, as fph-bench-report
         * is told (o->guest_append) */
        g_strlcpy(r.guest, fields == CSV_FIELDS ? f[20] :
                  o->guest_append ? o->guest_append : "", sizeof(r.guest));
        for (k = 0; k < PHASE_LAST; k++) {
            r.phase_ms[k] = fields == CSV_FIELDS ? csv_field(f, 21 + k) : NAN;
        }
        if (!r.link[0]) {
            g_printerr("%s: %s:%d: a run without its link\n", g_get_prgname(),
                       file, (int)(lines - all) + i + 1);
            return false;
        }
        if (!g_ptr_array_find_with_equal_func(o->links, r.link, g_str_equal,
                                              NULL)) {
            g_ptr_array_add(o->links, g_strdup(r.link));
        }
        if (!g_ptr_array_find_with_equal_func(o->guests, r.guest, g_str_equal,
                                              NULL)) {
            g_ptr_array_add(o->guests, g_strdup(r.guest));
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
    /* a resumed benchmark may have measured a smaller size last */
    g_array_sort(o->sizes, cmp_uint);
    return true;
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
write_targets(FILE *f, const Options *o, GArray *runs, const char *h)
{
    Mode m;

    fprintf(f, "%s Targets\n\n"
            "Medians of the %u GiB guest over the link at `%s`; \"time\" is "
            "QEMU's total time, \"API time\" the wall time of the migration "
            "call.  The targets compare a hinted mode with `plain` of the same "
            "scenario.  \"Not hinted\" is the guest's MemFree before the "
            "migration less what QEMU counted hinted.\n\n"
            "| target | measured | result |\n|---|---|---|\n",
            h, TARGET_GIB, TARGET_LINK);
    /* the issue's targets are against plain: the reporting guest's
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

/* The line below a table's header of N columns */
static void
md_rule(FILE *f, guint n)
{
    guint i;

    fputc('|', f);
    for (i = 0; i < n; i++) {
        fputs("---|", f);
    }
    fputc('\n', f);
}

/* A table cell: the median of ST, or n/a */
static void
md_median(FILE *f, Stat st)
{
    if (st.n) {
        fprintf(f, " %.0f |", st.med);
    } else {
        fputs(" n/a |", f);
    }
}

/* The medians of FIELD of N MODES, a table cell each */
static void
md_medians(FILE *f, GArray *runs, Scenario sc, unsigned int gib,
           const char *link, const Mode *modes, guint n, Field field)
{
    guint i;

    for (i = 0; i < n; i++) {
        md_median(f, stat_of(runs, sc, gib, link, modes[i], field));
    }
}

/*
 * Whether hinting still pays when the guest reports its free pages: the
 * reporting guest without and with hints, beside the other guest's plain
 * and hint-wait, per scenario, size and link (medians)
 */
static void
write_reporting(FILE *f, const Options *o, GArray *runs, const char *h)
{
    static const Mode cols[] = {
        MODE_PLAIN, MODE_HINT_WAIT, MODE_REPORTING, MODE_REPORTING_HINT_WAIT,
    };
    Scenario sc;
    guint i, l, c;

    if (!o->modes[MODE_REPORTING] || !o->modes[MODE_REPORTING_HINT_WAIT]) {
        return;
    }
    fprintf(f, "%s Hinting with free page reporting\n\n"
            "The `reporting` modes migrate a guest of the same size whose "
            "balloon also has `freePageReporting='on'`; QEMU discards the "
            "memory that guest reports, and a migration still reads every "
            "page (discarded ones as zero pages).  Medians; \"lower\": "
            "`reporting-hint-wait` against `reporting`.\n\n"
            "| scenario | GiB | link |", h);
    for (c = 0; c < G_N_ELEMENTS(cols); c++) {
        fprintf(f, " `%s` ms |", mode_names[cols[c]]);
    }
    fputs(" time lower |", f);
    for (c = 0; c < G_N_ELEMENTS(cols); c++) {
        fprintf(f, " `%s` MiB sent |", mode_names[cols[c]]);
    }
    fputs(" bytes lower |\n", f);
    md_rule(f, 3 + 2 * G_N_ELEMENTS(cols) + 2);
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

#define PHASE_FIELD(fn, phase) \
    static double fn(const Run *r) { return r->phase_ms[phase]; }
PHASE_FIELD(f_call, PHASE_CALL)
PHASE_FIELD(f_connect, PHASE_CONNECT)
PHASE_FIELD(f_begin, PHASE_BEGIN)
PHASE_FIELD(f_prepare, PHASE_PREPARE)
PHASE_FIELD(f_perform, PHASE_PERFORM)
PHASE_FIELD(f_finish, PHASE_FINISH)
PHASE_FIELD(f_confirm, PHASE_CONFIRM)
static const Field phase_fields[PHASE_LAST] = {
    f_call, f_connect, f_begin, f_prepare, f_perform, f_finish, f_confirm,
};
/* what libvirt spends in Perform besides QEMU's migration */
static double f_perform_libvirt(const Run *r)
{
    return r->phase_ms[PHASE_PERFORM] - r->qemu_ms;
}

/*
 * libvirt's part of the migrations, phase by phase (medians): where the
 * API call's time goes besides QEMU's total time
 */
static void
write_phases(FILE *f, const Options *o, GArray *runs, const char *h)
{
    Scenario sc;
    Mode m;
    guint i, l;
    int p;

    for (i = 0; i < runs->len; i++) {
        if (!isnan(g_array_index(runs, Run, i).phase_ms[PHASE_PERFORM])) {
            break;
        }
    }
    if (i == runs->len) {
        return;     /* runs from before the phases, or the log lacked them */
    }
    fprintf(f, "%s libvirt's phases\n\n"
            "Medians in ms, from the timestamps of the source libvirtd's "
            "migration debug messages (see docs/benchmark.md).  \"Perform "
            "less QEMU\": what libvirt spends in Perform besides QEMU's "
            "total time.\n\n| scenario | GiB | link | mode |", h);
    for (p = 0; p < PHASE_LAST; p++) {
        fprintf(f, " %s |", phase_names[p]);
    }
    fputs(" perform less QEMU | API wall |\n", f);
    md_rule(f, 4 + PHASE_LAST + 2);
    for (sc = 0; sc < SC_LAST; sc++) {
        for (i = 0; i < o->sizes->len; i++) {
            unsigned int gib = g_array_index(o->sizes, unsigned int, i);

            for (l = 0; l < o->links->len; l++) {
                const char *link = g_ptr_array_index(o->links, l);

                for (m = 0; m < MODE_LAST; m++) {
                    if (stat_of(runs, sc, gib, link, m, f_perform).n == 0) {
                        continue;
                    }
                    fprintf(f, "| %s | %u | %s | %s |", sc_names[sc], gib, link,
                            mode_names[m]);
                    for (p = 0; p < PHASE_LAST; p++) {
                        md_median(f, stat_of(runs, sc, gib, link, m,
                                             phase_fields[p]));
                    }
                    md_median(f, stat_of(runs, sc, gib, link, m,
                                         f_perform_libvirt));
                    md_median(f, stat_of(runs, sc, gib, link, m, f_api));
                    fputc('\n', f);
                }
            }
        }
    }
    fputc('\n', f);
}

/* The tables per scenario: a row per size, link and mode */
static void
write_tables(FILE *f, const Options *o, GArray *runs, const char *h)
{
    Scenario sc;
    Mode m;
    guint i, l;

    for (sc = 0; sc < SC_LAST; sc++) {
        if (!o->scenarios[sc]) {
            continue;
        }
        fprintf(f, "%s %s\n\n", h, sc_names[sc]);
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
}

/* The runs of GUEST (its kernel command line extra) among RUNS */
static GArray *
runs_of_guest(GArray *runs, const char *guest)
{
    GArray *out = g_array_new(FALSE, TRUE, sizeof(Run));
    guint i;

    for (i = 0; i < runs->len; i++) {
        Run *r = &g_array_index(runs, Run, i);

        if (g_str_equal(r->guest, guest)) {
            g_array_append_val(out, *r);
        }
    }
    return out;
}

/* What the file names of GUEST's plots add: "" for the kernel as
 * shipped, else "-" and its command line extra in letters, digits and _ */
static char *
guest_tag(const char *guest)
{
    char *tag;
    char *p;

    if (!guest[0]) {
        return g_strdup("");
    }
    tag = g_strdup_printf("-%s", guest);
    for (p = tag + 1; *p; p++) {
        if (!g_ascii_isalnum(*p)) {
            *p = '_';
        }
    }
    return tag;
}

void
write_summary(const Options *o, GArray *runs, const char *started)
{
    g_autofree char *file = g_build_filename(o->out, "summary.md", NULL);
    FILE *f = fopen(file, "w");
    const char *h = o->guests->len > 1 ? "###" : "##";
    guint g;

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
            "freed, computing with the rest.  Guest kernels:",
            o->runs, o->hint_wait_ms, o->ws_mib, o->dirty_rate, o->churn_rate);
    for (g = 0; g < o->guests->len; g++) {
        const char *guest = g_ptr_array_index(o->guests, g);

        fprintf(f, "%s %s%s%s", g ? "," : "",
                guest[0] ? "command line + `" : "Debian's as shipped",
                guest, guest[0] ? "`" : "");
    }
    fprintf(f, ".  Each cell: median (min–max).  Raw data: `runs.csv`; "
            "timelines: `trace/`.\n\n");
    provenance_md(f, o->out);
    for (g = 0; g < o->guests->len; g++) {
        const char *guest = g_ptr_array_index(o->guests, g);
        g_autoptr(GArray) mine = runs_of_guest(runs, guest);
        g_autofree char *tag = guest_tag(guest);

        if (o->guests->len > 1) {
            fprintf(f, "## Guest kernel: %s%s%s\n\n",
                    guest[0] ? "command line + `" : "Debian's as shipped",
                    guest, guest[0] ? "`" : "");
        }
        write_targets(f, o, mine, h);
        write_reporting(f, o, mine, h);
        write_phases(f, o, mine, h);
        write_tables(f, o, mine, h);
        fprintf(f, "![time](time%s.png)\n\n![bytes](bytes%s.png)\n\n"
                "![timeline](timeline%s.png)\n\n", tag, tag, tag);
    }
    fprintf(f, "The seed (8 GiB, 4 vCPUs, KVM, 100G, 10 runs): idle %d -> %d "
            "ms, kernel compile %d -> %d ms.\n",
            SEED_IDLE_PLAIN_MS, SEED_IDLE_HINT_MS, SEED_WORK_PLAIN_MS,
            SEED_WORK_HINT_MS);
    fclose(f);
}

char *
trace_name(Scenario sc, unsigned int gib, const char *link, const char *guest,
           Mode mode, unsigned int run)
{
    g_autofree char *tag = guest_tag(guest ? guest : "");

    /* the runs before link rates had no link in the name */
    if (!link || !link[0]) {
        return g_strdup_printf("%s-%ug-%s-%u.csv", sc_names[sc], gib,
                               mode_names[mode], run);
    }
    return g_strdup_printf("%s-%ug-%s%s-%s-%u.csv", sc_names[sc], gib, link,
                           tag, mode_names[mode], run);
}

/* A PNG of a plot per link (rows) and scenario (columns): the modes with
 * COLS of plot.dat, the lower bound with BOUND_COLS, the seed's points if
 * SEED */
static void
plot_per_link(FILE *f, const Options *o, int nsc, const char *dat,
              const char *png, const char *title, const char *ylabel,
              const char *cols, const char *bound_cols,
              const char *bound_title, bool seed)
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
            fprintf(f, "plot for [m=0:%d] '%s' index idx(%u, %d, m) u %s "
                    "w yerrorlines t word(modes, m+1), "
                    "'%s' index idx(%u, %d, 0) u %s w lp dt 2 t '%s'",
                    MODE_LAST - 1, dat, l, sc, cols, dat, l, sc, bound_cols,
                    bound_title);
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

/* The data file and gnuplot script of the runs of GUEST, and its plots:
 * time and bytes against guest size, and a timeline */
static void
write_plots_guest(const Options *o, GArray *runs, const char *guest)
{
    g_autofree char *tag = guest_tag(guest);
    g_autofree char *dat_name = g_strdup_printf("plot%s.dat", tag);
    g_autofree char *gp_name = g_strdup_printf("plot%s.gp", tag);
    g_autofree char *time_png = g_strdup_printf("time%s.png", tag);
    g_autofree char *bytes_png = g_strdup_printf("bytes%s.png", tag);
    g_autofree char *dat = g_build_filename(o->out, dat_name, NULL);
    g_autofree char *gp = g_build_filename(o->out, gp_name, NULL);
    g_autofree char *cmd = NULL;
    FILE *f = fopen(dat, "w");
    unsigned int tl_gib = g_array_index(o->sizes, unsigned int, 0);
    const char *tl_link = g_ptr_array_index(o->links, 0);
    const char *tl_name_link = o->traces_without_link ? NULL : tl_link;
    const char *tl_name_guest = o->traces_without_guest ? NULL : guest;
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
    plot_per_link(f, o, nsc, dat_name, time_png, "migration time (QEMU "
                  "total-time, median, bars min-max)", "ms", "1:2:3:4", "1:8",
                  "lower bound (in-use / bandwidth)", true);
    plot_per_link(f, o, nsc, dat_name, bytes_png, "memory sent (median, bars "
                  "min-max)", "MiB", "1:5:6:7", "1:9",
                  "lower bound (in-use memory)", false);
    fprintf(f, "set output 'timeline%s.png'\n"
            "unset logscale y\n"
            "set autoscale x\n"
            "set datafile separator ','\n"
            "set key top right\n"
            "set xlabel 'ms since the migration call'\n"
            "set ylabel 'MiB'\n"
            "set multiplot layout 1,%d title 'idle-freed %u GiB, link %s, run "
            "0: memory sent, hinted and remaining while the migration runs'\n",
            tag, MAX(hinted_modes, 1), tl_gib, tl_link);
    /* the hinted modes that ran, each beside its guest without hints */
    for (m = 0; m < MODE_LAST; m++) {
        g_autofree char *hinted = NULL;
        g_autofree char *base = NULL;

        if (!o->modes[m] || !mode_hints(m)) {
            continue;
        }
        hinted = trace_name(SC_IDLE_FREED, tl_gib, tl_name_link, tl_name_guest,
                            m, 0);
        base = trace_name(SC_IDLE_FREED, tl_gib, tl_name_link, tl_name_guest,
                          mode_base(m), 0);
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

    cmd = g_strdup_printf("cd '%s' && gnuplot '%s' 2> plot%s.log", o->out,
                          gp_name, tag);
    rc = system(cmd);
    if (rc != 0) {
        g_printerr("%s: gnuplot failed (see %s/plot%s.log)\n", g_get_prgname(),
                   o->out, tag);
    }
}

void
write_plots(const Options *o, GArray *runs)
{
    guint g;

    for (g = 0; g < o->guests->len; g++) {
        const char *guest = g_ptr_array_index(o->guests, g);
        g_autoptr(GArray) mine = runs_of_guest(runs, guest);

        write_plots_guest(o, mine, guest);
    }
}

/* ---- the runs ---- */

