/*
 * fph-bench: the benchmark.  Brings the lab up and, for each guest size,
 * boots one guest with <memballoon freePageHint='on'> on host A, then
 * migrates it back and forth between A and B through libvirt's C API
 * (virDomainMigrateToURI3, peer to peer), in three modes, interleaved:
 *
 *   plain      no flag: the guest is not asked for free pages
 *   hint       VIR_MIGRATE_FREE_PAGE_HINT: hints, no wait (as in the seed series)
 *   hint-wait  VIR_MIGRATE_FREE_PAGE_HINT with
 *              VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT: the bulk stage waits
 *              for the guest's first run of hints
 *
 * and three scenarios: idle-fresh (free memory never written), idle-freed
 * (the seed's idle guest: 70% of the memory written, then freed), workload
 * (idle-freed, then a workload that dirties and allocates memory at fixed
 * rates and computes with the rest of its CPU runs during the migration).
 *
 * Per run it records QEMU's own total time (query-migrate on the source,
 * sampled through virDomainQemuMonitorCommand while the migration runs,
 * which also gives a timeline of bytes sent and pages hinted), the API
 * call's wall time, libvirt's job statistics of the completed migration on
 * the destination (downtime, setup time, memory sent, bandwidth, pages
 * hinted), the guest's in-use memory at the start (MemTotal - MemFree) and
 * the workload's throughput.  It writes runs.csv, summary.md and gnuplot
 * plots into the output directory.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "fphlab.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#define GUEST(...) ((const char *const[]){ "/bin/fph-guest", __VA_ARGS__, NULL })
#define WORKLOAD_FILE "/run/fph-workload"
#define POLL_US 20000

/* The seed's figures: 8 GiB guest, 4 vCPUs, 100G, averages of 10 runs */
#define SEED_SIZE_GIB 8
#define SEED_IDLE_PLAIN_MS 1769
#define SEED_IDLE_HINT_MS 271
#define SEED_WORK_PLAIN_MS 2634
#define SEED_WORK_HINT_MS 1265

typedef enum {
    MODE_PLAIN,
    MODE_HINT,
    MODE_HINT_WAIT,
    MODE_LAST
} Mode;

static const char *const mode_names[MODE_LAST] = {
    "plain", "hint", "hint-wait",
};

typedef enum {
    SC_IDLE_FRESH,
    SC_IDLE_FREED,
    SC_WORKLOAD,
    SC_LAST
} Scenario;

static const char *const sc_names[SC_LAST] = {
    "idle-fresh", "idle-freed", "workload",
};

typedef struct {
    Scenario sc;
    unsigned int gib;
    Mode mode;
    unsigned int run;
    char from[2];
    char to[2];
    double in_use_mib;
    double qemu_ms;          /* NAN when the completed state was missed */
    double setup_ms;
    double api_ms;
    double elapsed_ms;       /* libvirt's time_elapsed */
    double downtime_ms;
    double sent_mib;         /* memory_processed */
    double hinted_mib;
    double bw_mib_s;         /* memory_bps */
    double throughput;       /* workload units/s, NAN otherwise */
    double sent_before_hint_mib; /* sent when the first hint arrived */
} Run;

typedef struct {
    unsigned int runs;
    GArray *sizes;           /* unsigned int GiB */
    bool scenarios[SC_LAST];
    bool modes[MODE_LAST];
    guint64 hint_wait_ms;
    char *out;
    unsigned int ws_mib;
    unsigned int dirty_rate;
    unsigned int churn_rate;
    const char *guest_append;
} Options;

/* ---- sampling query-migrate on the source while the migration runs ---- */

typedef struct {
    double t_ms;
    char status[24];
    double transferred;
    double remaining;
    double hinted;
    double total_ms;
    double setup_ms;
} Sample;

typedef struct {
    FphHost *host;
    const char *name;
    gint stop;
    GArray *samples;
    double t0;
    bool seen_running;
    double total_ms;
    double setup_ms;
} Poller;

static double
mono_ms(void)
{
    return g_get_monotonic_time() / 1000.0;
}

static double
json_num(JsonObject *o, const char *member)
{
    JsonNode *n = o ? json_object_get_member(o, member) : NULL;

    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_double(n) : NAN;
}

static bool
poll_once(virDomainPtr dom, Poller *p)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    char *reply = NULL;
    JsonObject *ret;
    JsonObject *ram;
    Sample s = { .t_ms = mono_ms() - p->t0 };
    const char *status;

    if (virDomainQemuMonitorCommand(dom, "{\"execute\":\"query-migrate\"}",
                                    &reply, 0) < 0) {
        return false;
    }
    if (!json_parser_load_from_data(parser, reply, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)) ||
        !(ret = json_object_get_object_member(
              json_node_get_object(json_parser_get_root(parser)), "return"))) {
        free(reply);
        return true;
    }
    free(reply);
    status = json_object_has_member(ret, "status") ?
             json_object_get_string_member(ret, "status") : "none";
    g_strlcpy(s.status, status, sizeof(s.status));
    ram = json_object_has_member(ret, "ram") ?
          json_object_get_object_member(ret, "ram") : NULL;
    s.transferred = json_num(ram, "transferred");
    s.remaining = json_num(ram, "remaining");
    s.hinted = json_num(ram, "free-page-hint-bytes");
    s.total_ms = json_num(ret, "total-time");
    s.setup_ms = json_num(ret, "setup-time");
    g_array_append_val(p->samples, s);
    /* before the migration starts, query-migrate reports the last one */
    if (g_str_equal(status, "setup") || g_str_equal(status, "active") ||
        g_str_equal(status, "device")) {
        p->seen_running = true;
    } else if (p->seen_running && g_str_equal(status, "completed") &&
               s.total_ms > 0) {
        p->total_ms = s.total_ms;
        p->setup_ms = s.setup_ms;
    }
    return true;
}

static gpointer
poller_thread(gpointer data)
{
    Poller *p = data;
    virConnectPtr conn = fph_host_connect(p->host, NULL);
    virDomainPtr dom = conn ? virDomainLookupByName(conn, p->name) : NULL;

    while (dom && !g_atomic_int_get(&p->stop)) {
        if (!poll_once(dom, p)) {
            break;      /* the source QEMU is gone */
        }
        if (!isnan(p->total_ms)) {
            break;
        }
        g_usleep(POLL_US);
    }
    if (dom) {
        virDomainFree(dom);
    }
    if (conn) {
        virConnectClose(conn);
    }
    return NULL;
}

/* ---- the guest ---- */

static bool
guest_in_use_mib(FphHost *host, const char *name, double *mib, GError **error)
{
    g_autofree char *out = NULL;
    guint64 total, free_kb;

    if (!fph_guest_run(host, name, GUEST("meminfo"), 0, 60, &out, error)) {
        return false;
    }
    if (!fph_kv_u64(out, "MemTotal", &total) ||
        !fph_kv_u64(out, "MemFree", &free_kb)) {
        g_set_error(error, FPH_LAB_ERROR, 0, "fph-guest meminfo: %s", out);
        return false;
    }
    *mib = (total - free_kb) / 1024.0;
    return true;
}

/* "t=SECONDS work=UNITS" of the running workload */
static bool
workload_read(FphHost *host, const char *name, double *t, double *work,
              GError **error)
{
    const char *const argv[] = { "/bin/cat", WORKLOAD_FILE, NULL };
    g_autofree char *out = NULL;

    if (!fph_guest_run(host, name, argv, 0, 60, &out, error)) {
        return false;
    }
    if (sscanf(out, "t=%lf work=%lf", t, work) != 2) {
        g_set_error(error, FPH_LAB_ERROR, 0, "unexpected workload state: %s",
                    out);
        return false;
    }
    return true;
}

static bool
workload_start(FphHost *host, const char *name, const Options *o,
               GError **error)
{
    g_autofree char *cmd = g_strdup_printf(
        "rm -f " WORKLOAD_FILE "; /bin/fph-guest workload " WORKLOAD_FILE
        " %u %u %u </dev/null >/dev/null 2>&1 &", o->ws_mib, o->dirty_rate,
        o->churn_rate);
    const char *const argv[] = { "/bin/sh", "-c", cmd, NULL };
    double t, work;
    int i;

    if (!fph_guest_run(host, name, argv, 0, 60, NULL, error)) {
        return false;
    }
    /* let it reach its rates */
    for (i = 0; i < 100; i++) {
        g_usleep(100000);
        if (workload_read(host, name, &t, &work, NULL) && work > 0) {
            g_usleep(2 * G_USEC_PER_SEC);
            return true;
        }
    }
    g_set_error(error, FPH_LAB_ERROR, 0, "the workload did not start in %s",
                name);
    return false;
}

static bool
workload_stop(FphHost *host, const char *name, GError **error)
{
    const char *const argv[] = {
        "/bin/sh", "-c",
        "p=$(cat " WORKLOAD_FILE ".pid) && kill $p && "
        "while kill -0 $p 2>/dev/null; do sleep 0.1; done", NULL
    };

    return fph_guest_run(host, name, argv, 0, 60, NULL, error);
}

/* Write then free 70% of the guest's memory: free pages that hold data */
static bool
guest_dirty_free(FphHost *host, const char *name, unsigned int gib,
                 unsigned int run, GError **error)
{
    g_autofree char *mib = g_strdup_printf("%u", gib * 1024 * 7 / 10);
    g_autofree char *seed = g_strdup_printf("%u", run + 1);

    return fph_guest_run(host, name, GUEST("dirty-free", mib, seed), 0, 1800,
                         NULL, error);
}

/* ---- one migration ---- */

static double
stat_ull(virTypedParameterPtr stats, int nstats, const char *field)
{
    unsigned long long v;

    return virTypedParamsGetULLong(stats, nstats, field, &v) == 1 ?
           (double)v : NAN;
}

static void
write_trace(const Options *o, const Run *r, GArray *samples)
{
    g_autofree char *dir = g_build_filename(o->out, "trace", NULL);
    g_autofree char *file = g_strdup_printf("%s/%s-%ug-%s-%u.csv", dir,
                                            sc_names[r->sc], r->gib,
                                            mode_names[r->mode], r->run);
    FILE *f;
    guint i;

    g_mkdir_with_parents(dir, 0755);
    if (!(f = fopen(file, "w"))) {
        return;
    }
    fprintf(f, "t_ms,status,transferred_mib,remaining_mib,hinted_mib\n");
    for (i = 0; i < samples->len; i++) {
        Sample *s = &g_array_index(samples, Sample, i);

        fprintf(f, "%.1f,%s,%.2f,%.2f,%.2f\n", s->t_ms, s->status,
                s->transferred / (1 << 20), s->remaining / (1 << 20),
                s->hinted / (1 << 20));
    }
    fclose(f);
}

static bool
migrate_once(FphHost *from, FphHost *to, const char *name, const Options *o,
             Run *r, GError **error)
{
    g_autofree char *dconnuri = fph_host_dconnuri(to);
    virTypedParameterPtr params = NULL;
    virTypedParameterPtr stats = NULL;
    int nparams = 0, maxparams = 0, nstats = 0, type = 0;
    unsigned int flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER;
    virConnectPtr src = fph_host_connect(from, error);
    virConnectPtr dst = NULL;
    virDomainPtr dom = NULL;
    Poller p = { .host = from, .name = name, .total_ms = NAN, .setup_ms = NAN };
    GThread *thread;
    double t0;
    bool ok = false;
    guint i;

    if (!src) {
        return false;
    }
    if (r->mode != MODE_PLAIN) {
        flags |= VIR_MIGRATE_FREE_PAGE_HINT;
    }
    if (virTypedParamsAddString(&params, &nparams, &maxparams,
                                VIR_MIGRATE_PARAM_URI, to->migrate_uri) < 0 ||
        (r->mode == MODE_HINT_WAIT &&
         virTypedParamsAddULLong(&params, &nparams, &maxparams,
                                 VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT,
                                 o->hint_wait_ms) < 0) ||
        !(dom = virDomainLookupByName(src, name))) {
        g_set_error(error, FPH_LAB_ERROR, 0, "preparing the migration of %s: %s",
                    name, virGetLastErrorMessage());
        goto cleanup;
    }

    p.samples = g_array_new(FALSE, TRUE, sizeof(Sample));
    t0 = mono_ms();
    p.t0 = t0;
    thread = g_thread_new("poller", poller_thread, &p);
    ok = virDomainMigrateToURI3(dom, dconnuri, params, nparams, flags) == 0;
    r->api_ms = mono_ms() - t0;
    g_atomic_int_set(&p.stop, 1);
    g_thread_join(thread);
    if (!ok) {
        g_set_error(error, FPH_LAB_ERROR, 0, "migrating %s %s -> %s: %s", name,
                    from->name, to->name, virGetLastErrorMessage());
        goto cleanup;
    }
    r->qemu_ms = p.total_ms;
    r->setup_ms = p.setup_ms;
    r->sent_before_hint_mib = NAN;
    for (i = 0; i < p.samples->len; i++) {
        Sample *s = &g_array_index(p.samples, Sample, i);

        if (s->hinted > 0) {
            r->sent_before_hint_mib = s->transferred / (1 << 20);
            break;
        }
    }
    write_trace(o, r, p.samples);

    ok = false;
    if (!(dst = fph_host_connect(to, error))) {
        goto cleanup;
    }
    virDomainFree(dom);
    if (!(dom = virDomainLookupByName(dst, name)) ||
        virDomainGetJobStats(dom, &type, &stats, &nstats,
                             VIR_DOMAIN_JOB_STATS_COMPLETED) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "completed job statistics of %s on %s: %s", name, to->name,
                    virGetLastErrorMessage());
        goto cleanup;
    }
    r->elapsed_ms = stat_ull(stats, nstats, VIR_DOMAIN_JOB_TIME_ELAPSED);
    r->downtime_ms = stat_ull(stats, nstats, VIR_DOMAIN_JOB_DOWNTIME);
    r->sent_mib = stat_ull(stats, nstats, VIR_DOMAIN_JOB_MEMORY_PROCESSED) /
                  (1 << 20);
    r->bw_mib_s = stat_ull(stats, nstats, VIR_DOMAIN_JOB_MEMORY_BPS) /
                  (1 << 20);
    r->hinted_mib = stat_ull(stats, nstats,
                             VIR_DOMAIN_JOB_MEMORY_FREE_PAGE_HINT_BYTES) /
                    (1 << 20);
    if (isnan(r->hinted_mib)) {
        r->hinted_mib = 0;      /* not asked: the field is absent */
    }
    if (isnan(r->setup_ms)) {
        r->setup_ms = stat_ull(stats, nstats, VIR_DOMAIN_JOB_SETUP_TIME);
    }
    ok = true;

 cleanup:
    if (p.samples) {
        g_array_unref(p.samples);
    }
    virTypedParamsFree(stats, nstats);
    virTypedParamsFree(params, nparams);
    if (dom) {
        virDomainFree(dom);
    }
    if (dst) {
        virConnectClose(dst);
    }
    virConnectClose(src);
    return ok;
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

#define CSV_HEADER "scenario,size_gib,mode,run,from,to,in_use_mib," \
    "qemu_total_ms,setup_ms,api_wall_ms,libvirt_elapsed_ms," \
    "libvirt_cost_ms,downtime_ms,sent_mib,hinted_mib,bandwidth_mib_s," \
    "sent_before_first_hint_mib,workload_units_s"

/* runs.csv is written run by run, so that an interrupted benchmark keeps
 * what it measured (and --report can summarize it) */
static FILE *
csv_open(const Options *o)
{
    g_autofree char *file = g_build_filename(o->out, "runs.csv", NULL);
    FILE *f = fopen(file, "w");

    if (!f) {
        g_printerr("fph-bench: cannot write %s: %s\n", file, g_strerror(errno));
        return NULL;
    }
    fprintf(f, CSV_HEADER "\n");
    fflush(f);
    return f;
}

static void
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

static double
csv_field(char **fields, int i)
{
    return fields[i][0] ? g_ascii_strtod(fields[i], NULL) : NAN;
}

/* Read runs.csv of o->out back, and the sizes, scenarios and modes in it */
static bool
csv_read(Options *o, GArray *runs)
{
    g_autofree char *file = g_build_filename(o->out, "runs.csv", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) err = NULL;
    int i, j;

    if (!g_file_get_contents(file, &text, NULL, &err)) {
        g_printerr("fph-bench: %s\n", err->message);
        return false;
    }
    lines = g_strsplit(text, "\n", -1);
    if (!lines[0] || !g_str_equal(lines[0], CSV_HEADER)) {
        g_printerr("fph-bench: %s is not a runs.csv of this benchmark\n", file);
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
            g_printerr("fph-bench: %s:%d: unexpected line\n", file, i + 1);
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

typedef struct {
    unsigned int n;
    double med, min, max;
} Stat;

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

typedef double (*Field)(const Run *r);

static Stat
stat_of(GArray *runs, Scenario sc, unsigned int gib, Mode mode, Field field)
{
    g_autoptr(GArray) v = g_array_new(FALSE, FALSE, sizeof(double));
    Stat st = { 0, NAN, NAN, NAN };
    guint i;

    for (i = 0; i < runs->len; i++) {
        Run *r = &g_array_index(runs, Run, i);
        double x;

        if (r->sc != sc || r->gib != gib || r->mode != mode) {
            continue;
        }
        x = field(r);
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

static void
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

static void
write_summary(const Options *o, GArray *runs, const char *started)
{
    g_autofree char *file = g_build_filename(o->out, "summary.md", NULL);
    FILE *f = fopen(file, "w");
    Scenario sc;
    Mode m;
    guint i;

    if (!f) {
        g_printerr("fph-bench: cannot write %s: %s\n", file, g_strerror(errno));
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
static void
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
        g_printerr("fph-bench: gnuplot failed (see %s/plot.log)\n", o->out);
    }
}

/* ---- the runs ---- */

static bool
one_run(FphLab *lab, const Options *o, const char *name, FphHost **cur,
        Run *r, GError **error)
{
    FphHost *from = *cur;
    FphHost *to = fph_lab_host(lab, g_str_equal(from->name, "A") ? "B" : "A");
    double t1 = 0, w1 = 0, t2 = 0, w2 = 0;

    g_strlcpy(r->from, from->name, sizeof(r->from));
    g_strlcpy(r->to, to->name, sizeof(r->to));
    r->throughput = NAN;
    if (r->sc != SC_IDLE_FRESH &&
        !guest_dirty_free(from, name, r->gib, r->run, error)) {
        return false;
    }
    if (r->sc == SC_WORKLOAD && !workload_start(from, name, o, error)) {
        return false;
    }
    if (!guest_in_use_mib(from, name, &r->in_use_mib, error)) {
        return false;
    }
    if (r->sc == SC_WORKLOAD && !workload_read(from, name, &t1, &w1, error)) {
        return false;
    }
    if (!migrate_once(from, to, name, o, r, error)) {
        return false;
    }
    *cur = to;
    if (r->sc == SC_WORKLOAD) {
        if (!workload_read(to, name, &t2, &w2, error) ||
            !workload_stop(to, name, error)) {
            return false;
        }
        r->throughput = t2 > t1 ? (w2 - w1) / (t2 - t1) : NAN;
    }
    if (r->mode != MODE_PLAIN && r->hinted_mib == 0) {
        /* the guest did not answer: keep what its kernel says */
        const char *const argv[] = { "/bin/sh", "-c", "dmesg | tail -20",
                                     NULL };
        g_autofree char *out = NULL;

        if (fph_guest_run(to, name, argv, 0, 60, &out, NULL)) {
            printf("[bench] %s hinted nothing; guest kernel log:\n%s", name,
                   out);
        }
    }
    printf("[bench] %-10s %uG %-9s run %u %s->%s: qemu %.0f ms, api %.0f ms, "
           "downtime %.0f ms, sent %.0f MiB, hinted %.0f MiB, in-use %.0f MiB",
           sc_names[r->sc], r->gib, mode_names[r->mode], r->run, r->from,
           r->to, r->qemu_ms, r->api_ms, r->downtime_ms, r->sent_mib,
           r->hinted_mib, r->in_use_mib);
    if (!isnan(r->throughput)) {
        printf(", workload %.0f units/s", r->throughput);
    }
    printf("\n");
    return true;
}

static bool
bench_size(FphLab *lab, const Options *o, unsigned int gib, GArray *runs,
           FILE *csv, GError **error)
{
    g_autofree char *name = g_strdup_printf("bench-%ug", gib);
    FphHost *cur = fph_lab_host(lab, "A");
    Scenario sc;
    unsigned int run;
    int k;

    printf("[bench] %u GiB: booting %s on host A\n", gib, name);
    if (!fph_guest_boot(lab, cur, name, gib * 1024, true, error)) {
        return false;
    }
    /* idle-fresh first: the other scenarios write the free memory */
    for (sc = 0; sc < SC_LAST; sc++) {
        if (!o->scenarios[sc]) {
            continue;
        }
        for (run = 0; run < o->runs; run++) {
            /* interleaved, and the order alternates from run to run */
            for (k = 0; k < MODE_LAST; k++) {
                Mode m = run % 2 ? MODE_LAST - 1 - k : k;
                Run r = { .sc = sc, .gib = gib, .mode = m, .run = run };

                if (!o->modes[m]) {
                    continue;
                }
                if (!one_run(lab, o, name, &cur, &r, error)) {
                    fph_virsh(cur, NULL, NULL, "destroy", name, NULL);
                    return false;
                }
                g_array_append_val(runs, r);
                csv_append(csv, &r);
            }
        }
    }
    fph_virsh(cur, NULL, NULL, "destroy", name, NULL);
    return true;
}

static bool
parse_list(const char *arg, const char *const *names, int n, bool *set,
           const char *what)
{
    g_auto(GStrv) items = g_strsplit(arg, ",", -1);
    int i, j;

    for (j = 0; j < n; j++) {
        set[j] = false;
    }
    for (i = 0; items[i]; i++) {
        for (j = 0; j < n && !g_str_equal(items[i], names[j]); j++) {
            ;
        }
        if (j == n) {
            g_autofree char *allowed = g_strjoinv(", ", (char **)names);

            g_printerr("fph-bench: --%s: unknown '%s'; allowed: %s\n", what,
                       items[i], allowed);
            return false;
        }
        set[j] = true;
    }
    return true;
}

static bool
parse_sizes(const char *arg, GArray *sizes)
{
    g_auto(GStrv) items = g_strsplit(arg, ",", -1);
    int i;

    g_array_set_size(sizes, 0);
    for (i = 0; items[i]; i++) {
        guint64 v;
        unsigned int gib;

        if (!g_ascii_string_to_unsigned(items[i], 10, 1, 16, &v, NULL)) {
            g_printerr("fph-bench: --sizes: '%s' is not a size in GiB from 1 "
                       "to 16\n", items[i]);
            return false;
        }
        gib = v;
        g_array_append_val(sizes, gib);
    }
    return sizes->len > 0;
}

int
main(int argc, char **argv)
{
    g_autoptr(FphLab) lab = fph_lab_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) runs = g_array_new(FALSE, TRUE, sizeof(Run));
    g_autoptr(GDateTime) dt = g_date_time_new_now_utc();
    g_autofree char *started = g_date_time_format(dt, "%Y-%m-%d %H:%M UTC");
    g_autofree char *sizes_arg = NULL;
    g_autofree char *sc_arg = NULL;
    g_autofree char *mode_arg = NULL;
    gint runs_arg = 5;
    gint64 wait_arg = 10000;
    g_autofree char *out_arg = NULL;
    g_autofree char *append_arg = NULL;
    gboolean keep_logs = FALSE;
    gboolean report_only = FALSE;
    FILE *csv;
    Options o = { .ws_mib = 128, .dirty_rate = 16, .churn_rate = 16 };
    GOptionEntry entries[] = {
        { "runs", 0, 0, G_OPTION_ARG_INT, &runs_arg,
          "runs per scenario, size and mode (default 5)", "N" },
        { "sizes", 0, 0, G_OPTION_ARG_STRING, &sizes_arg,
          "guest sizes in GiB (default 1,2,4; 8 by option)", "LIST" },
        { "scenarios", 0, 0, G_OPTION_ARG_STRING, &sc_arg,
          "idle-fresh,idle-freed,workload (default all)", "LIST" },
        { "modes", 0, 0, G_OPTION_ARG_STRING, &mode_arg,
          "plain,hint,hint-wait (default all)", "LIST" },
        { "hint-wait", 0, 0, G_OPTION_ARG_INT64, &wait_arg,
          "VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT of hint-wait, ms "
          "(default 10000)", "MS" },
        { "guest-append", 0, 0, G_OPTION_ARG_STRING, &append_arg,
          "append ARGS to the guest kernel's command line, e.g. "
          "init_on_alloc=0", "ARGS" },
        { "keep-logs", 0, 0, G_OPTION_ARG_NONE, &keep_logs,
          "keep the lab's logs (daemons, QEMU, guest console) also when "
          "every run succeeded", NULL },
        { "report", 0, 0, G_OPTION_ARG_NONE, &report_only,
          "do not measure: write summary.md and the plots again from "
          "runs.csv of --out (of an interrupted benchmark, say)", NULL },
        { "out", 0, 0, G_OPTION_ARG_FILENAME, &out_arg,
          "output directory (required)", "DIR" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- free page hinting benchmark in fph's lab");
    int i;
    bool ok = true;
    guint s;

    setvbuf(stdout, NULL, _IOLBF, 0);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("fph-bench: %s\n", err->message);
        return 64;
    }
    o.sizes = g_array_new(FALSE, FALSE, sizeof(unsigned int));
    for (i = 0; i < SC_LAST; i++) {
        o.scenarios[i] = true;
    }
    for (i = 0; i < MODE_LAST; i++) {
        o.modes[i] = true;
    }
    if (runs_arg < 1 || runs_arg > 100) {
        g_printerr("fph-bench: --runs must be from 1 to 100, not %d\n",
                   runs_arg);
        return 64;
    }
    if (wait_arg < 1 || wait_arg > 60000) {
        g_printerr("fph-bench: --hint-wait must be from 1 to 60000 ms, not %"
                   G_GINT64_FORMAT "\n", wait_arg);
        return 64;
    }
    if (!out_arg) {
        g_printerr("fph-bench: --out DIR is required\n");
        return 64;
    }
    if (!parse_sizes(sizes_arg ? sizes_arg : "1,2,4", o.sizes) ||
        (sc_arg && !parse_list(sc_arg, sc_names, SC_LAST, o.scenarios,
                               "scenarios")) ||
        (mode_arg && !parse_list(mode_arg, mode_names, MODE_LAST, o.modes,
                                 "modes"))) {
        return 64;
    }
    o.runs = runs_arg;
    o.hint_wait_ms = wait_arg;
    o.out = out_arg;
    if (g_mkdir_with_parents(o.out, 0755) < 0) {
        g_printerr("fph-bench: cannot create %s: %s\n", o.out,
                   g_strerror(errno));
        return 1;
    }

    lab->guest_append = g_steal_pointer(&append_arg);
    o.guest_append = lab->guest_append;
    if (report_only) {
        g_autofree char *base = g_path_get_basename(o.out);
        g_autofree char *measured = NULL;

        if (!csv_read(&o, runs)) {
            return 1;
        }
        measured = g_strdup_printf("measured as %s, summarized %s",
                                   base, started);
        write_summary(&o, runs, measured);
        write_plots(&o, runs);
        printf("[bench] %u runs read; report in %s/summary.md\n", runs->len,
               o.out);
        return 0;
    }
    if (!(csv = csv_open(&o))) {
        return 1;
    }
    fph_lab_teardown_on_exit(lab);
    printf("[bench] bringing the lab up\n");
    if (!fph_lab_up(lab, &err)) {
        g_printerr("fph-bench: %s\n", err->message);
        return 1;
    }
    for (s = 0; ok && s < o.sizes->len; s++) {
        ok = bench_size(lab, &o, g_array_index(o.sizes, unsigned int, s), runs,
                        csv, &err);
    }
    if (!ok) {
        g_printerr("fph-bench: %s\n", err->message);
    }
    fph_lab_down(lab, !ok || keep_logs, NULL);
    fph_lab_teardown_done();

    fclose(csv);
    write_summary(&o, runs, started);
    write_plots(&o, runs);
    printf("[bench] %u runs; report in %s/summary.md\n", runs->len, o.out);
    g_array_unref(o.sizes);
    return ok ? 0 : 1;
}
