/*
 * fph-bench: the benchmark.  Brings the lab up and, for each guest size,
 * boots one guest with <memballoon freePageHint='on'> on host A, then
 * migrates it back and forth between A and B through libvirt's C API
 * (virDomainMigrateToURI3, peer to peer), in five modes, interleaved:
 *
 *   plain      no flag: the guest is not asked for free pages
 *   hint       VIR_MIGRATE_FREE_PAGE_HINT: hints, no wait (as in the seed series)
 *   hint-wait  VIR_MIGRATE_FREE_PAGE_HINT with
 *              VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT: the bulk stage waits
 *              for the guest's first run of hints
 *   reporting  a second guest of the same size, whose balloon also has
 *              freePageReporting='on' (KubeVirt, Nova and Proxmox turn it
 *              on): no flag
 *   reporting-hint-wait  that guest, as hint-wait
 *
 * The second guest runs only if a reporting mode was asked for; both stay
 * up for the size's runs, each migrating when its mode's turn comes.
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
 * plots into the output directory (report.c; fph-bench-report writes the
 * report again from a runs.csv, without the lab).
 *
 * Then saves (--saves, 2 and 4 GiB by default): a persistent guest with
 * freePageHint='on' on host A is saved with virDomainSaveParams() and
 * restored with virDomainRestore(), without and with
 * VIR_DOMAIN_SAVE_FREE_PAGE_HINT, in libvirt's raw and sparse image
 * formats, interleaved, after writing then freeing 70% of its memory each
 * time; saves.csv gets the wall times, the image's apparent and allocated
 * sizes and what the job hinted (saves.c).
 *
 * Both CSVs get each run as it is measured.  --resume DIR goes on with the
 * benchmark in DIR: what the options ask for that DIR's CSVs do not have
 * yet is measured and appended (run_key(), save_key()), and the report is
 * written from all of them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "fphlab.h"
#include "report.h"
#include "saves.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#define GUEST(...) ((const char *const[]){ "/bin/fph-guest", __VA_ARGS__, NULL })
#define WORKLOAD_FILE "/run/fph-workload"
#define POLL_US 20000

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

/* The guest's in-use memory (MemTotal - MemFree) and, if free_mib is not
 * NULL, its MemFree, in MiB */
static bool
guest_in_use_mib(FphHost *host, const char *name, double *mib,
                 double *free_mib, GError **error)
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
    if (free_mib) {
        *free_mib = free_kb / 1024.0;
    }
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

/* ---- libvirt's phases from the source libvirtd's log ---- */

#define LIBVIRTD_LOG "/var/log/libvirt/libvirtd.log"

/* The size of HOST's libvirtd.log: where a migration's messages start */
static goffset
log_size(FphHost *host)
{
    g_autofree char *path = fph_host_path(host, LIBVIRTD_LOG);
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* R's phases from what FROM's libvirtd.log got after AT (NaN if the
 * messages are not there, said once) */
static void
read_phases(FphHost *from, goffset at, gint64 call_us, gint64 return_us,
            Run *r)
{
    static bool warned;
    g_autofree char *path = fph_host_path(from, LIBVIRTD_LOG);
    g_autofree char *text = NULL;
    FILE *f = fopen(path, "r");
    struct stat st;
    size_t len = 0;

    /* what the migration added only: the log grows all benchmark long */
    if (f && fstat(fileno(f), &st) == 0 && st.st_size >= at &&
        fseeko(f, at, SEEK_SET) == 0) {
        text = g_malloc(st.st_size - at + 1);
        len = fread(text, 1, st.st_size - at, f);
        text[len] = '\0';
    }
    if (f) {
        fclose(f);
    }
    if ((!text || !phases_from_log(text, call_us, return_us, r->phase_ms)) &&
        !warned) {
        printf("[bench] libvirt's phases unknown: host %s's %s lacks the "
               "migration's debug messages\n", from->name, LIBVIRTD_LOG);
        warned = true;
    }
}

static void
write_trace(const Options *o, const Run *r, GArray *samples)
{
    g_autofree char *dir = g_build_filename(o->out, "trace", NULL);
    g_autofree char *base = trace_name(r->sc, r->gib, r->link, r->guest,
                                       r->mode, r->run);
    g_autofree char *file = g_build_filename(dir, base, NULL);
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
    gint64 call_us, return_us;
    goffset log_at;
    double t0;
    bool ok = false;
    guint i;

    if (!src) {
        return false;
    }
    if (mode_hints(r->mode)) {
        flags |= VIR_MIGRATE_FREE_PAGE_HINT;
    }
    if (virTypedParamsAddString(&params, &nparams, &maxparams,
                                VIR_MIGRATE_PARAM_URI, to->migrate_uri) < 0 ||
        (mode_waits(r->mode) &&
         virTypedParamsAddULLong(&params, &nparams, &maxparams,
                                 VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT,
                                 o->hint_wait_ms) < 0) ||
        !(dom = virDomainLookupByName(src, name))) {
        g_set_error(error, FPH_LAB_ERROR, 0, "preparing the migration of %s: %s",
                    name, virGetLastErrorMessage());
        goto cleanup;
    }

    p.samples = g_array_new(FALSE, TRUE, sizeof(Sample));
    log_at = log_size(from);
    t0 = mono_ms();
    p.t0 = t0;
    thread = g_thread_new("poller", poller_thread, &p);
    call_us = g_get_real_time();
    ok = virDomainMigrateToURI3(dom, dconnuri, params, nparams, flags) == 0;
    return_us = g_get_real_time();
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
    read_phases(from, log_at, call_us, return_us, r);

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
    if (!guest_in_use_mib(from, name, &r->in_use_mib, &r->mem_free_mib, error)) {
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
    if (mode_hints(r->mode) && r->hinted_mib == 0) {
        /* the guest did not answer: keep what its kernel says */
        const char *const argv[] = { "/bin/sh", "-c", "dmesg | tail -20",
                                     NULL };
        g_autofree char *out = NULL;

        if (fph_guest_run(to, name, argv, 0, 60, &out, NULL)) {
            printf("[bench] %s hinted nothing; guest kernel log:\n%s", name,
                   out);
        }
    }
    printf("[bench] %-10s %uG %-19s %s run %u %s->%s: qemu %.0f ms, api %.0f ms, "
           "downtime %.0f ms, sent %.0f MiB, hinted %.0f MiB, in-use %.0f MiB, "
           "MemFree %.0f MiB", sc_names[r->sc], r->gib, mode_names[r->mode],
           r->link, r->run, r->from, r->to, r->qemu_ms, r->api_ms,
           r->downtime_ms, r->sent_mib, r->hinted_mib, r->in_use_mib,
           r->mem_free_mib);
    if (!isnan(r->throughput)) {
        printf(", workload %.0f units/s", r->throughput);
    }
    printf("\n");
    return true;
}

/* A guest of bench_size(): where it runs, if it was booted */
typedef struct {
    char *name;
    FphHost *cur;
} BenchGuest;

static void
bench_guests_destroy(BenchGuest *guests, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (guests[i].cur) {
            fph_virsh(guests[i].cur, NULL, NULL, "destroy", guests[i].name, NULL);
        }
        g_free(guests[i].name);
    }
}

/* Whether DONE (the keys of a resumed benchmark's runs; NULL: nothing
 * done yet) has the run of these */
static bool
run_done(GHashTable *done, Scenario sc, unsigned int gib, const char *link,
         const char *guest, Mode mode, unsigned int run)
{
    Run r = { .sc = sc, .gib = gib, .mode = mode, .run = run };
    g_autofree char *key = NULL;

    if (!done) {
        return false;
    }
    g_strlcpy(r.link, link, sizeof(r.link));
    g_strlcpy(r.guest, guest, sizeof(r.guest));
    key = run_key(&r);
    return g_hash_table_contains(done, key);
}

/* Whether a run of this guest and size is still to be measured: with the
 * reporting guest (REPORTING) or the other one, and over LINK (NULL: any) */
static bool
runs_to_do(const Options *o, GHashTable *done, const char *guest,
           unsigned int gib, bool reporting, const char *link)
{
    Scenario sc;
    unsigned int run;
    guint l;
    int m;

    for (sc = 0; sc < SC_LAST; sc++) {
        for (l = 0; o->scenarios[sc] && l < o->links->len; l++) {
            const char *ll = g_ptr_array_index(o->links, l);

            if (link && !g_str_equal(link, ll)) {
                continue;
            }
            for (run = 0; run < o->runs; run++) {
                for (m = 0; m < MODE_LAST; m++) {
                    if (o->modes[m] && mode_reporting(m) == reporting &&
                        !run_done(done, sc, gib, ll, guest, m, run)) {
                        return true;
                    }
                }
            }
        }
    }
    return false;
}

static bool
bench_size(FphLab *lab, const Options *o, GHashTable *done, const char *guest,
           unsigned int gib, GArray *runs, FILE *csv, GError **error)
{
    /* [0] for the modes without reporting, [1] for the reporting modes */
    BenchGuest guests[2] = {
        { .name = g_strdup_printf("bench-%ug", gib) },
        { .name = g_strdup_printf("bench-%ug-reporting", gib) },
    };
    Scenario sc;
    unsigned int run;
    guint l;
    int k;

    for (k = 0; k < MODE_LAST; k++) {
        BenchGuest *g = &guests[mode_reporting(k)];
        FphBalloon balloon = FPH_BALLOON_HINT |
                             (mode_reporting(k) ? FPH_BALLOON_REPORTING : 0);

        if (!o->modes[k] || g->cur ||
            !runs_to_do(o, done, guest, gib, mode_reporting(k), NULL)) {
            continue;
        }
        printf("[bench] %u GiB: booting %s on host A (freePageHint='on'%s; "
               "kernel command line %s%s)\n", gib, g->name,
               mode_reporting(k) ? ", freePageReporting='on'" : "",
               guest[0] ? "+ " : "as shipped", guest);
        if (!fph_guest_boot_balloon(lab, fph_lab_host(lab, "A"), g->name,
                                    gib * 1024, balloon, error)) {
            bench_guests_destroy(guests, G_N_ELEMENTS(guests));
            return false;
        }
        g->cur = fph_lab_host(lab, "A");
    }
    /* idle-fresh first: the other scenarios write the free memory */
    for (sc = 0; sc < SC_LAST; sc++) {
        if (!o->scenarios[sc]) {
            continue;
        }
        for (l = 0; l < o->links->len; l++) {
            const char *link = g_ptr_array_index(o->links, l);

            if (!runs_to_do(o, done, guest, gib, false, link) &&
                !runs_to_do(o, done, guest, gib, true, link)) {
                continue;
            }
            if (!fph_lab_set_link(lab, g_str_equal(link, LINK_UNLIMITED) ?
                                  NULL : link, NULL, error)) {
                bench_guests_destroy(guests, G_N_ELEMENTS(guests));
                return false;
            }
            for (run = 0; run < o->runs; run++) {
                /* interleaved, and the order alternates from run to run */
                for (k = 0; k < MODE_LAST; k++) {
                    Mode m = run % 2 ? MODE_LAST - 1 - k : k;
                    BenchGuest *g = &guests[mode_reporting(m)];
                    Run r = { .sc = sc, .gib = gib, .mode = m, .run = run };

                    if (!o->modes[m] ||
                        run_done(done, sc, gib, link, guest, m, run)) {
                        continue;
                    }
                    g_strlcpy(r.link, link, sizeof(r.link));
                    g_strlcpy(r.guest, guest, sizeof(r.guest));
                    if (!one_run(lab, o, g->name, &g->cur, &r, error)) {
                        bench_guests_destroy(guests, G_N_ELEMENTS(guests));
                        return false;
                    }
                    g_array_append_val(runs, r);
                    csv_append(csv, &r);
                }
            }
        }
    }
    bench_guests_destroy(guests, G_N_ELEMENTS(guests));
    return true;
}

/* ---- saves ---- */

#define SAVE_IMAGE "/var/lib/libvirt/images/bench-save.img"

static bool
save_once(FphHost *host, virConnectPtr conn, virDomainPtr dom,
          const char *name, SaveRun *r, GError **error)
{
    g_autofree char *real = fph_host_path(host, SAVE_IMAGE);
    virTypedParameterPtr params = NULL;
    virTypedParameterPtr stats = NULL;
    int nparams = 0;
    int maxparams = 0;
    int nstats = 0;
    int type;
    struct stat st;
    double t0;
    bool ok = false;

    if (virTypedParamsAddString(&params, &nparams, &maxparams,
                                VIR_DOMAIN_SAVE_PARAM_FILE, SAVE_IMAGE) < 0 ||
        (r->format == SAVE_FORMAT_SPARSE &&
         virTypedParamsAddString(&params, &nparams, &maxparams,
                                 VIR_DOMAIN_SAVE_PARAM_IMAGE_FORMAT,
                                 "sparse") < 0)) {
        g_set_error(error, FPH_LAB_ERROR, 0, "%s", virGetLastErrorMessage());
        goto cleanup;
    }
    t0 = mono_ms();
    if (virDomainSaveParams(dom, params, nparams,
                            r->hint ? VIR_DOMAIN_SAVE_FREE_PAGE_HINT : 0) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "save of %s: %s", name,
                    virGetLastErrorMessage());
        goto cleanup;
    }
    r->save_ms = mono_ms() - t0;
    r->hinted_mib = NAN;
    if (virDomainGetJobStats(dom, &type, &stats, &nstats,
                             VIR_DOMAIN_JOB_STATS_COMPLETED) == 0) {
        double hinted = stat_ull(stats, nstats,
                                 VIR_DOMAIN_JOB_MEMORY_FREE_PAGE_HINT_BYTES);

        r->hinted_mib = isnan(hinted) ? 0 : hinted / (1 << 20);
    }
    if (stat(real, &st) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot stat %s of host %s: %s",
                    SAVE_IMAGE, host->name, g_strerror(errno));
        goto cleanup;
    }
    r->apparent_mib = st.st_size / 1048576.0;
    r->allocated_mib = st.st_blocks * 512 / 1048576.0;
    t0 = mono_ms();
    if (virDomainRestore(conn, SAVE_IMAGE) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "restore of %s: %s", name,
                    virGetLastErrorMessage());
        goto cleanup;
    }
    r->restore_ms = mono_ms() - t0;
    ok = fph_guest_wait_agent_on(host, name, 600, error);

 cleanup:
    unlink(real);
    virTypedParamsFree(params, nparams);
    virTypedParamsFree(stats, nstats);
    return ok;
}

/* The save of C (its place in a run's interleaved order) in RUN */
static SaveRun
save_of(unsigned int gib, unsigned int run, int c)
{
    return (SaveRun){ .gib = gib, .run = run, .hint = c % 2, .format = c / 2 };
}

/* Whether DONE (NULL: nothing done yet) has that save */
static bool
save_done(GHashTable *done, unsigned int gib, unsigned int run, int c)
{
    SaveRun r = save_of(gib, run, c);
    g_autofree char *key = done ? save_key(&r) : NULL;

    return key && g_hash_table_contains(done, key);
}

static bool
bench_saves(FphLab *lab, const Options *o, GHashTable *done, unsigned int gib,
            GArray *saves, FILE *csv, GError **error)
{
    g_autofree char *name = g_strdup_printf("bench-save-%ug", gib);
    g_autofree char *xml = NULL;
    FphHost *a = fph_lab_host(lab, "A");
    virConnectPtr conn = NULL;
    virDomainPtr dom = NULL;
    unsigned int run;
    bool ok = false;
    bool to_do = false;
    int k;

    for (run = 0; run < o->runs; run++) {
        for (k = 0; k < 2 * SAVE_FORMAT_LAST; k++) {
            to_do |= !save_done(done, gib, run, k);
        }
    }
    if (!to_do) {
        return true;
    }
    xml = fph_guest_xml(lab, name, gib * 1024, true);
    if (!(conn = fph_host_connect(a, error))) {
        return false;
    }
    printf("[bench] saves, %u GiB: booting %s on host A\n", gib, name);
    if (!(dom = virDomainDefineXML(conn, xml)) || virDomainCreate(dom) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot start %s: %s", name,
                    virGetLastErrorMessage());
        goto cleanup;
    }
    if (!fph_guest_wait_agent_on(a, name, 600, error)) {
        goto cleanup;
    }
    for (run = 0; run < o->runs; run++) {
        /* interleaved, and the order alternates from run to run */
        for (k = 0; k < 2 * SAVE_FORMAT_LAST; k++) {
            int c = run % 2 ? 2 * SAVE_FORMAT_LAST - 1 - k : k;
            SaveRun r = save_of(gib, run, c);

            if (save_done(done, gib, run, c)) {
                continue;
            }
            if (!guest_dirty_free(a, name, gib, run, error) ||
                !guest_in_use_mib(a, name, &r.in_use_mib, &r.mem_free_mib, error) ||
                !save_once(a, conn, dom, name, &r, error)) {
                goto cleanup;
            }
            printf("[bench] save %uG %-6s %-5s run %u: save %.0f ms, restore "
                   "%.0f ms, image %.0f MiB (%.0f MiB allocated), hinted %.0f "
                   "MiB, in-use %.0f MiB, MemFree %.0f MiB\n", gib,
                   save_format_names[r.format], r.hint ? "hint" : "plain", run,
                   r.save_ms, r.restore_ms, r.apparent_mib, r.allocated_mib,
                   r.hinted_mib, r.in_use_mib, r.mem_free_mib);
            g_array_append_val(saves, r);
            saves_csv_append(csv, &r);
        }
    }
    ok = true;

 cleanup:
    if (dom) {
        virDomainDestroy(dom);
        virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE);
        virDomainFree(dom);
    }
    virConnectClose(conn);
    return ok;
}

/* issue 16: 1 and 10 Gbit/s, and the link as fast as the machine goes */
#define DEFAULT_LINKS "1gbit,10gbit,unlimited"
/* Debian 13's kernel zeroes pages it allocates (init_on_alloc=1): as
 * shipped, and without */
#define DEFAULT_GUESTS "default,init_on_alloc=0"
/* --quick: a first look in minutes, each of them an option's default that
 * an option given beside it overrides */
#define QUICK_SIZES "1"
#define QUICK_SAVES "1"
#define QUICK_SCENARIOS "idle-freed"
#define QUICK_LINKS "1gbit"
#define QUICK_GUESTS "default"
#define QUICK_RUNS 1

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

/* --links: "unlimited" or rates in tc's syntax, each once */
static bool
parse_links(const char *arg, GPtrArray *links)
{
    g_auto(GStrv) items = g_strsplit(arg, ",", -1);
    int i;

    for (i = 0; items[i]; i++) {
        g_autoptr(GError) err = NULL;

        if (g_str_equal(items[i], LINK_UNLIMITED)) {
            /* no rate: allowed */
        } else if (!fph_lab_check_link_rate(items[i], &err)) {
            g_printerr("fph-bench: --links: %s, or 'unlimited'\n", err->message);
            return false;
        } else if (strlen(items[i]) >= sizeof(((Run *)NULL)->link)) {
            g_printerr("fph-bench: --links: '%s' is longer than %zu characters\n",
                       items[i], sizeof(((Run *)NULL)->link) - 1);
            return false;
        }
        if (g_ptr_array_find_with_equal_func(links, items[i], g_str_equal,
                                             NULL)) {
            g_printerr("fph-bench: --links: '%s' is given twice\n", items[i]);
            return false;
        }
        g_ptr_array_add(links, g_strdup(items[i]));
    }
    return links->len > 0;
}

/* --guests: "default" is the kernel as shipped (""), anything else what
 * the guest's kernel command line gets appended, once each */
static bool
parse_guests(const char *arg, GPtrArray *guests)
{
    g_auto(GStrv) items = g_strsplit(arg, ",", -1);
    int i;

    for (i = 0; items[i]; i++) {
        const char *g = g_str_equal(items[i], "default") ? "" : items[i];

        if (!items[i][0] || strlen(g) >= G_SIZEOF_MEMBER(Run, guest) ||
            strpbrk(g, "'\"<>&\n")) {
            g_printerr("fph-bench: --guests: '%s' is not 'default' or kernel "
                       "command line arguments (at most %zu characters, no "
                       "quotes, <, > or &)\n", items[i],
                       G_SIZEOF_MEMBER(Run, guest) - 1);
            return false;
        }
        if (g_ptr_array_find_with_equal_func(guests, g, g_str_equal, NULL)) {
            g_printerr("fph-bench: --guests: '%s' is there twice\n", items[i]);
            return false;
        }
        g_ptr_array_add(guests, g_strdup(g));
    }
    return guests->len > 0;
}

static bool
parse_sizes(const char *arg, GArray *sizes, const char *what)
{
    g_auto(GStrv) items = g_strsplit(arg, ",", -1);
    int i;

    g_array_set_size(sizes, 0);
    for (i = 0; items[i]; i++) {
        guint64 v;
        unsigned int gib;

        if (!g_ascii_string_to_unsigned(items[i], 10, 1, 16, &v, NULL)) {
            g_printerr("fph-bench: --%s: '%s' is not a size in GiB from 1 "
                       "to 16\n", what, items[i]);
            return false;
        }
        gib = v;
        g_array_append_val(sizes, gib);
    }
    return sizes->len > 0;
}

/*
 * The hint wait of hint-wait's runs, in provenance.txt of OUT ("hint wait:
 * N ms"): written by a new benchmark, and checked by a resumed one, whose
 * runs must be measured as those already in its runs.csv were.
 */
static bool
hint_wait_provenance(const char *out, gint64 wait_ms)
{
    g_autofree char *file = g_build_filename(out, "provenance.txt", NULL);
    g_autofree char *line = g_strdup_printf("hint wait: %" G_GINT64_FORMAT
                                            " ms", wait_ms);
    g_auto(GStrv) lines = provenance_read(out);
    FILE *f;
    int i;

    for (i = 0; lines && lines[i]; i++) {
        if (!g_str_has_prefix(lines[i], "hint wait:")) {
            continue;
        }
        if (g_str_equal(lines[i], line)) {
            return true;
        }
        g_printerr("fph-bench: --hint-wait %" G_GINT64_FORMAT ": the runs in "
                   "%s were measured with '%s'; give that\n", wait_ms, out,
                   lines[i]);
        return false;
    }
    if (!(f = fopen(file, "a"))) {
        g_printerr("fph-bench: cannot write %s: %s\n", file, g_strerror(errno));
        return false;
    }
    fprintf(f, "%s\n", line);
    return fclose(f) == 0;
}

/*
 * A "resumed:" line in provenance.txt of OUT, once the resumption passed
 * every check: when, and FPH_BENCH_RESUMED (what ./fph bench says of the
 * checkout then: its commit)
 */
static bool
resumed_provenance(const char *out)
{
    g_autofree char *file = g_build_filename(out, "provenance.txt", NULL);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *when = g_date_time_format(now, "%Y-%m-%d %H:%M UTC");
    const char *what = g_getenv("FPH_BENCH_RESUMED");
    FILE *f = fopen(file, "a");

    if (!f) {
        g_printerr("fph-bench: cannot write %s: %s\n", file, g_strerror(errno));
        return false;
    }
    fprintf(f, "resumed: %s%s%s\n", when, what ? ", " : "", what ? what : "");
    return fclose(f) == 0;
}

/*
 * --resume: the keys of the runs and saves that OUT's runs.csv and
 * saves.csv have (run_key(), save_key()), into DONE.  A benchmark stopped
 * before its end (an error, a signal, a machine that went away) keeps
 * every run it finished in them.
 */
static bool
resume_read(const char *out, GHashTable *done)
{
    g_autofree char *file = g_build_filename(out, "runs.csv", NULL);
    g_autoptr(GArray) runs = g_array_new(FALSE, TRUE, sizeof(Run));
    g_autoptr(GArray) saves = g_array_new(FALSE, TRUE, sizeof(SaveRun));
    Options prev = { .out = (char *)out };
    guint i;
    bool ok;

    if (!g_file_test(file, G_FILE_TEST_EXISTS)) {
        g_printerr("fph-bench: --resume: %s has no runs.csv, nothing to "
                   "resume (without --resume a benchmark starts anew)\n", out);
        return false;
    }
    prev.sizes = g_array_new(FALSE, FALSE, sizeof(unsigned int));
    ok = csv_read(&prev, runs) && saves_csv_read(out, saves);
    if (ok && prev.traces_without_guest) {
        g_printerr("fph-bench: --resume: %s is from an fph-bench before the "
                   "guest column; only its report can be written again "
                   "(./fph bench --report --out %s)\n", file, out);
        ok = false;
    }
    for (i = 0; ok && i < runs->len; i++) {
        g_hash_table_add(done, run_key(&g_array_index(runs, Run, i)));
    }
    for (i = 0; ok && i < saves->len; i++) {
        g_hash_table_add(done, save_key(&g_array_index(saves, SaveRun, i)));
    }
    if (ok) {
        printf("[bench] resuming %s: %u runs and %u saves already measured\n",
               out, runs->len, saves->len);
    }
    g_array_unref(prev.sizes);
    if (prev.links) {
        g_ptr_array_unref(prev.links);
    }
    if (prev.guests) {
        g_ptr_array_unref(prev.guests);
    }
    return ok;
}

/* The report of everything OUT's CSVs have (with a resumed benchmark,
 * also what earlier invocations measured), as fph-bench-report writes it */
static void
write_report(const Options *o, const char *started)
{
    Options rep = *o;
    guint n_runs, n_saves;

    rep.sizes = NULL;
    rep.links = NULL;
    rep.guests = NULL;
    report_from_csvs(&rep, started, &n_runs, &n_saves);
    if (rep.sizes) {
        g_array_unref(rep.sizes);
    }
    if (rep.links) {
        g_ptr_array_unref(rep.links);
    }
    if (rep.guests) {
        g_ptr_array_unref(rep.guests);
    }
}

int
main(int argc, char **argv)
{
    g_autoptr(FphLab) lab = fph_lab_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) runs = g_array_new(FALSE, TRUE, sizeof(Run));
    g_autoptr(GArray) saves = g_array_new(FALSE, TRUE, sizeof(SaveRun));
    g_autoptr(GArray) save_sizes = g_array_new(FALSE, FALSE, sizeof(unsigned int));
    g_autofree char *saves_arg = NULL;
    FILE *saves_csv = NULL;
    g_autoptr(GDateTime) dt = g_date_time_new_now_utc();
    g_autofree char *started = g_date_time_format(dt, "%Y-%m-%d %H:%M UTC");
    g_autofree char *sizes_arg = NULL;
    g_autofree char *sc_arg = NULL;
    g_autofree char *mode_arg = NULL;
    g_autofree char *links_arg = NULL;
    gint runs_arg = G_MININT;   /* not given */
    gboolean quick = FALSE;
    gint64 wait_arg = 10000;
    g_autofree char *out_arg = NULL;
    g_autofree char *guests_arg = NULL;
    gboolean keep_logs = FALSE;
    g_autofree char *resume_arg = NULL;
    bool resume;
    g_autoptr(GHashTable) done = NULL;
    FILE *csv;
    Options o = { .ws_mib = 128, .dirty_rate = 16, .churn_rate = 16 };
    GOptionEntry entries[] = {
        { "quick", 0, 0, G_OPTION_ARG_NONE, &quick,
          "a first look: the defaults become --sizes " QUICK_SIZES
          " --saves " QUICK_SAVES " --scenarios " QUICK_SCENARIOS
          " --links " QUICK_LINKS " --guests " QUICK_GUESTS
          " --runs 1 (options given override them)",
          NULL },
        { "runs", 0, 0, G_OPTION_ARG_INT, &runs_arg,
          "runs per scenario, size and mode (default 5)", "N" },
        { "sizes", 0, 0, G_OPTION_ARG_STRING, &sizes_arg,
          "guest sizes in GiB (default 1,2,4; 8 by option)", "LIST" },
        { "saves", 0, 0, G_OPTION_ARG_STRING, &saves_arg,
          "guest sizes in GiB of the saves, or none (default 2,4)", "LIST" },
        { "scenarios", 0, 0, G_OPTION_ARG_STRING, &sc_arg,
          "idle-fresh,idle-freed,workload (default all)", "LIST" },
        { "modes", 0, 0, G_OPTION_ARG_STRING, &mode_arg,
          "plain,hint,hint-wait,reporting,reporting-hint-wait (default "
          "all)", "LIST" },
        { "links", 0, 0, G_OPTION_ARG_STRING, &links_arg,
          "rates of the link between the hosts, in tc's syntax, or unlimited "
          "(default " DEFAULT_LINKS ")", "LIST" },
        { "hint-wait", 0, 0, G_OPTION_ARG_INT64, &wait_arg,
          "VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT of hint-wait, ms "
          "(default 10000)", "MS" },
        { "guests", 0, 0, G_OPTION_ARG_STRING, &guests_arg,
          "the guest kernels, each 'default' (Debian's as shipped) or what "
          "to append to its command line (default " DEFAULT_GUESTS ")",
          "LIST" },
        { "keep-logs", 0, 0, G_OPTION_ARG_NONE, &keep_logs,
          "keep the lab's logs (daemons, QEMU, guest console) also when "
          "every run succeeded", NULL },
        { "out", 0, 0, G_OPTION_ARG_FILENAME, &out_arg,
          "output directory (required, or --resume)", "DIR" },
        { "resume", 0, 0, G_OPTION_ARG_FILENAME, &resume_arg,
          "go on with the benchmark in DIR: measure only what its runs.csv "
          "and saves.csv lack, append it, report all of it (instead of "
          "--out)", "DIR" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- free page hinting benchmark in fph's lab");
    int i;
    bool ok = true;
    guint s, g;

    setvbuf(stdout, NULL, _IOLBF, 0);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("fph-bench: %s\n", err->message);
        return 64;
    }
    o.sizes = g_array_new(FALSE, FALSE, sizeof(unsigned int));
    o.links = g_ptr_array_new_with_free_func(g_free);
    o.guests = g_ptr_array_new_with_free_func(g_free);
    for (i = 0; i < SC_LAST; i++) {
        o.scenarios[i] = true;
    }
    for (i = 0; i < MODE_LAST; i++) {
        o.modes[i] = true;
    }
    if (runs_arg == G_MININT) {
        runs_arg = quick ? QUICK_RUNS : 5;
    }
    if (quick) {
        sizes_arg = sizes_arg ? sizes_arg : g_strdup(QUICK_SIZES);
        saves_arg = saves_arg ? saves_arg : g_strdup(QUICK_SAVES);
        sc_arg = sc_arg ? sc_arg : g_strdup(QUICK_SCENARIOS);
        links_arg = links_arg ? links_arg : g_strdup(QUICK_LINKS);
        guests_arg = guests_arg ? guests_arg : g_strdup(QUICK_GUESTS);
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
    if (out_arg && resume_arg) {
        g_printerr("fph-bench: --resume DIR writes to DIR; give it without "
                   "--out\n");
        return 64;
    }
    resume = resume_arg != NULL;
    if (resume) {
        out_arg = g_steal_pointer(&resume_arg);
    }
    if (!out_arg) {
        g_printerr("fph-bench: --out DIR (or --resume DIR) is required\n");
        return 64;
    }
    if (!parse_sizes(sizes_arg ? sizes_arg : "1,2,4", o.sizes, "sizes") ||
        (!g_str_equal(saves_arg ? saves_arg : "", "none") &&
         !parse_sizes(saves_arg ? saves_arg : "2,4", save_sizes, "saves")) ||
        (sc_arg && !parse_list(sc_arg, sc_names, SC_LAST, o.scenarios,
                               "scenarios")) ||
        (mode_arg && !parse_list(mode_arg, mode_names, MODE_LAST, o.modes,
                                 "modes")) ||
        !parse_links(links_arg ? links_arg : DEFAULT_LINKS, o.links) ||
        !parse_guests(guests_arg ? guests_arg : DEFAULT_GUESTS, o.guests)) {
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

    if (resume) {
        done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (!resume_read(o.out, done)) {
            return 1;
        }
    }
    if (!hint_wait_provenance(o.out, o.hint_wait_ms) ||
        (resume && !resumed_provenance(o.out))) {
        return 1;
    }

    lab->migration_debug = true;
    if (!(csv = csv_open(&o, resume)) ||
        (save_sizes->len && !(saves_csv = saves_csv_open(o.out, resume)))) {
        return 1;
    }
    fph_lab_teardown_on_exit(lab);
    printf("[bench] bringing the lab up\n");
    if (!fph_lab_up(lab, &err)) {
        g_printerr("fph-bench: %s\n", err->message);
        return 1;
    }
    for (g = 0; ok && g < o.guests->len; g++) {
        const char *guest = g_ptr_array_index(o.guests, g);

        g_free(lab->guest_append);
        lab->guest_append = guest[0] ? g_strdup(guest) : NULL;
        for (s = 0; ok && s < o.sizes->len; s++) {
            ok = bench_size(lab, &o, done, guest,
                            g_array_index(o.sizes, unsigned int, s), runs, csv,
                            &err);
        }
    }
    g_free(lab->guest_append);
    lab->guest_append = NULL;
    for (s = 0; ok && s < save_sizes->len; s++) {
        ok = bench_saves(lab, &o, done,
                         g_array_index(save_sizes, unsigned int, s),
                         saves, saves_csv, &err);
    }
    if (!ok) {
        g_printerr("fph-bench: %s\n", err->message);
    }
    fph_lab_down(lab, !ok || keep_logs, NULL);

    fclose(csv);
    if (saves_csv) {
        fclose(saves_csv);
    }
    if (resume) {
        g_autofree char *resumed = g_strdup_printf("resumed %s", started);

        write_report(&o, resumed);
    } else {
        write_report(&o, started);
    }
    printf("[bench] %u runs, %u saves measured%s; report in %s/summary.md\n",
           runs->len, saves->len, resume ? " (and those resumed)" : "", o.out);
    g_array_unref(o.sizes);
    g_ptr_array_unref(o.links);
    g_ptr_array_unref(o.guests);
    return ok ? 0 : 1;
}
