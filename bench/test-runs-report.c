/*
 * test-runs-report: runs.csv written and read back with the link of each
 * run and the guest's MemFree, a runs.csv from before link rates read as
 * unlimited, and summary.md written from the runs: a row per size, link
 * and mode, issue 16's targets (4 GiB over 1 Gbit/s) met or missed
 * from the medians of that link only, and the reporting guest compared
 * with itself without hints.  Needs no lab.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "report.h"
#include "tap.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* A run of 4 GiB: in-use 300 MiB, MemFree 3500 MiB */
static Run
run(Scenario sc, const char *link, Mode mode, unsigned int n, double qemu_ms,
    double api_ms, double sent_mib, double hinted_mib, double tput)
{
    Run r = {
        .sc = sc, .gib = 4, .mode = mode, .run = n, .from = "A", .to = "B",
        .in_use_mib = 300, .qemu_ms = qemu_ms, .setup_ms = 5,
        .api_ms = api_ms, .elapsed_ms = api_ms, .downtime_ms = 40,
        .sent_mib = sent_mib, .hinted_mib = hinted_mib, .bw_mib_s = 100,
        .throughput = tput, .sent_before_hint_mib = NAN, .mem_free_mib = 3500,
        .phase_ms = { 5, 40, 10, 300, qemu_ms + 100, 200, 50 },
    };

    g_strlcpy(r.link, link, sizeof(r.link));
    return r;
}

/* The same run of the guest with init_on_alloc=0 */
static Run
run0(Scenario sc, const char *link, Mode mode, unsigned int n, double qemu_ms,
     double api_ms, double sent_mib, double hinted_mib, double tput)
{
    Run r = run(sc, link, mode, n, qemu_ms, api_ms, sent_mib, hinted_mib, tput);

    g_strlcpy(r.guest, "init_on_alloc=0", sizeof(r.guest));
    return r;
}

/* A line of the source libvirtd's log at 08:00:S.MS */
#define LOGLINE(sec, ms, what) \
    "2026-12-05 08:00:" #sec "." #ms "+0000: 4242: debug : " what " : x\n"
/* The header of runs.csv before the phases and the guest column */
#define HEADER_20 "scenario,size_gib,mode,run,from,to,in_use_mib," \
    "qemu_total_ms,setup_ms,api_wall_ms,libvirt_elapsed_ms," \
    "libvirt_cost_ms,downtime_ms,sent_mib,hinted_mib,bandwidth_mib_s," \
    "sent_before_first_hint_mib,workload_units_s,link,mem_free_mib\n"
#define LOG_P2P LOGLINE(01, 005, "qemuMigrationSrcPerformPeer2Peer:5000")
#define LOG_P2P3 LOGLINE(01, 045, "qemuMigrationSrcPerformPeer2Peer3:5800")
#define LOG_CONFIRM3 \
    LOGLINE(03, 255, "qemuMigrationSrcPerformPeer2Peer3:6080 : Confirm3 0x1")

static bool
has(const char *md, const char *line)
{
    bool ok = md && strstr(md, line);

    if (!ok) {
        printf("# missing: %s\n", line);
    }
    return ok;
}

static bool
lacks(const char *md, const char *line)
{
    bool ok = md && !strstr(md, line);

    if (!ok) {
        printf("# unexpected: %s\n", line);
    }
    return ok;
}

int
main(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("fph-runs-XXXXXX", &err);
    g_autofree char *csv_file = NULL;
    g_autofree char *md_file = NULL;
    g_autofree char *md = NULL;
    g_autofree char *old_trace = NULL;
    g_autofree char *new_trace = NULL;
    g_autofree char *guest_trace = NULL;
    double phases[PHASE_LAST];
    g_autoptr(GArray) in = g_array_new(FALSE, TRUE, sizeof(Run));
    g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(Run));
    Options o = { .out = dir, .hint_wait_ms = 10000, .ws_mib = 128,
                  .dirty_rate = 16, .churn_rate = 16 };
    Options back = { .out = dir };
    FILE *f = NULL;
    guint i;

    g_set_prgname("test-runs-report");
    if (!dir) {
        g_printerr("%s\n", err->message);
        return 1;
    }
    for (i = 0; i < 3; i++) {
        Run r[] = {
            /* 1gbit: hint 91.7% lower API time (met), 96.0% lower QEMU
             * time (met), 350 MiB sent for 300 in-use + 50 not hinted
             * (1.00x, met); hint-wait 94.0% lower QEMU time (missed) */
            run(SC_IDLE_FREED, "1gbit", MODE_PLAIN, i, 40000, 42000, 4000, 0, NAN),
            run(SC_IDLE_FREED, "1gbit", MODE_HINT, i, 1600, 3500, 350, 3450, NAN),
            run(SC_IDLE_FREED, "1gbit", MODE_HINT_WAIT, i, 2400, 4000, 350, 3450, NAN),
            /* unlimited: other numbers, which the targets must not see */
            run(SC_IDLE_FREED, "unlimited", MODE_PLAIN, i, 8000, 10000, 4000, 0, NAN),
            run(SC_IDLE_FREED, "unlimited", MODE_HINT, i, 7000, 9000, 3000, 100, NAN),
            /* workload over 1gbit: 77.5% lower (missed), throughput -1% (met) */
            run(SC_WORKLOAD, "1gbit", MODE_PLAIN, i, 40000, 42000, 4000, 0, 100),
            run(SC_WORKLOAD, "1gbit", MODE_HINT, i, 9000, 11000, 900, 3000, 99),
            /* the reporting guest over 1gbit: hints make it 75% faster and
             * send 80% less; not among the targets against plain */
            run(SC_IDLE_FREED, "1gbit", MODE_REPORTING, i, 8000, 9000, 500, 0, NAN),
            run(SC_IDLE_FREED, "1gbit", MODE_REPORTING_HINT_WAIT, i, 2000, 3000,
                100, 3400, NAN),
            /* the other guest: hints 50% faster only; its medians must not
             * mix with the first one's */
            run0(SC_IDLE_FREED, "1gbit", MODE_PLAIN, i, 40000, 42000, 4000, 0, NAN),
            run0(SC_IDLE_FREED, "1gbit", MODE_HINT, i, 20000, 21000, 2000, 2000, NAN),
        };

        g_array_append_vals(in, r, G_N_ELEMENTS(r));
    }
    /* half of the runs, then the rest as a resumed benchmark appends them */
    for (i = 0; i < in->len; i++) {
        if (i == 0 || i == in->len / 2) {
            if (i) {
                fclose(f);
            }
            f = csv_open(&o, i > 0);
            check(f != NULL, i ? "runs.csv opened to append" : "runs.csv opened");
            if (!f) {
                return 1;
            }
        }
        csv_append(f, &g_array_index(in, Run, i));
    }
    fclose(f);

    back.sizes = g_array_new(FALSE, FALSE, sizeof(unsigned int));
    check(csv_read(&back, out) && out->len == in->len,
          "runs.csv read back: as many runs as written, the appended ones "
          "after the first header (no second one)");
    check(back.links && back.links->len == 2 &&
          g_str_equal(g_ptr_array_index(back.links, 0), "1gbit") &&
          g_str_equal(g_ptr_array_index(back.links, 1), "unlimited") &&
          !back.traces_without_link,
          "the links of the runs, in the order they were measured");
    check(back.guests && back.guests->len == 2 &&
          g_str_equal(g_ptr_array_index(back.guests, 0), "") &&
          g_str_equal(g_ptr_array_index(back.guests, 1), "init_on_alloc=0"),
          "the guests of the runs: as shipped, then init_on_alloc=0");
    for (i = 0; i < MIN(in->len, out->len); i++) {
        Run *a = &g_array_index(in, Run, i);
        Run *b = &g_array_index(out, Run, i);

        g_autofree char *key_a = run_key(a);
        g_autofree char *key_b = run_key(b);

        if (!g_str_equal(key_a, key_b) ||
            !g_str_equal(a->link, b->link) || a->mode != b->mode ||
            !g_str_equal(a->guest, b->guest) ||
            fabs(a->mem_free_mib - b->mem_free_mib) > 0.05 ||
            fabs(a->qemu_ms - b->qemu_ms) > 0.5 ||
            fabs(a->phase_ms[PHASE_PERFORM] - b->phase_ms[PHASE_PERFORM]) > 0.05) {
            check(false, "a run read back equals the one written");
            break;
        }
    }

    write_summary(&back, out, "test");
    md_file = g_build_filename(dir, "summary.md", NULL);
    check(g_file_get_contents(md_file, &md, NULL, NULL), "summary.md written");
    check(has(md, "| 4 | 1gbit | hint | 1600 (1600–1600) | 3500 (3500–3500) |") &&
          has(md, "| 4 | unlimited | hint | 7000 (7000–7000) |"),
          "a row per size, link and mode");
    check(has(md, "| 350 (350–350) | 3450 (3450–3450) | 300 (300–300) | "
              "50 (50–50) |"),
          "not hinted: MemFree less the hinted");
    check(has(md, "| idle-freed, `hint`: API time at least 85% lower than "
              "`plain` | 91.7 % lower | **met** |"),
          "API time target at 1gbit: met at 91.7%");
    check(has(md, "| idle-freed, `hint`: time at least 95% lower than `plain` "
              "| 96.0 % lower | **met** |") &&
          has(md, "| idle-freed, `hint-wait`: time at least 95% lower than "
              "`plain` | 94.0 % lower | **missed** |"),
          "QEMU time target at 1gbit: met at 96.0%, missed at 94.0%");
    check(has(md, "| idle-freed, `hint`: bytes sent at most 1.3x (in-use + "
              "not hinted) | 1.00 x | **met** |"),
          "bytes target: 350 MiB of 300 in-use + 50 not hinted");
    check(has(md, "| workload, `hint`: time at least 80% lower | 77.5 % lower "
              "| **missed** |") &&
          has(md, "| workload, `hint`: throughput within 3% of `plain` | -1.0 "
              "% change | **met** |"),
          "workload targets: time missed at 77.5%, throughput met at -1%");
    check(has(md, "| workload, `hint-wait`: time at least 80% lower | n/a | "
              "not measured |"),
          "a target of a mode without runs is not measured");
    check(lacks(md, "| idle-freed, `reporting-hint-wait`: time") &&
          has(md, "| idle-freed | 4 | 1gbit | 40000 | 2400 | 8000 | 2000 | "
              "75% | 4000 | 350 | 500 | 100 | 80% |"),
          "the reporting guest: compared with itself without hints, beside "
          "plain and hint-wait, not with the targets");
    check(lacks(md, "| workload | 4 | 1gbit | 40000 |"),
          "no reporting row where the reporting guest did not run");
    check(mode_base(MODE_REPORTING_HINT_WAIT) == MODE_REPORTING &&
          mode_base(MODE_HINT_WAIT) == MODE_PLAIN &&
          mode_hints(MODE_REPORTING_HINT_WAIT) && !mode_hints(MODE_REPORTING) &&
          mode_waits(MODE_REPORTING_HINT_WAIT) && !mode_waits(MODE_HINT),
          "what each mode asks of the migration, and its base");
    check(has(md, "## Guest kernel: Debian's as shipped") &&
          has(md, "## Guest kernel: command line + `init_on_alloc=0`") &&
          has(md, "| idle-freed, `hint`: time at least 95% lower than `plain` "
              "| 50.0 % lower | **missed** |") &&
          has(md, "![time](time-init_on_alloc_0.png)"),
          "a section per guest kernel, each with the medians of its runs only");
    check(has(md, "| idle-freed | 4 | 1gbit | hint | 5 | 40 | 10 | 300 | 1700 "
              "| 200 | 50 | 100 | 3500 |"),
          "libvirt's phases: medians, and what Perform spends besides QEMU");
    g_clear_pointer(&md, g_free);

    /* a runs.csv from before link rates: 18 fields, no link, no MemFree */
    csv_file = g_build_filename(dir, "runs.csv", NULL);
    g_file_set_contents(csv_file, "scenario,size_gib,mode,run,from,to,"
                        "in_use_mib,qemu_total_ms,setup_ms,api_wall_ms,"
                        "libvirt_elapsed_ms,libvirt_cost_ms,downtime_ms,"
                        "sent_mib,hinted_mib,bandwidth_mib_s,"
                        "sent_before_first_hint_mib,workload_units_s\n"
                        "idle-freed,4,hint,0,A,B,300,1600,5,3500,3500,1900,"
                        "40,350,3450,100,,\n", -1, NULL);
    g_array_set_size(out, 0);
    check(csv_read(&back, out) && out->len == 1 && back.links->len == 1 &&
          g_str_equal(g_array_index(out, Run, 0).link, "unlimited") &&
          isnan(g_array_index(out, Run, 0).mem_free_mib) &&
          back.traces_without_link,
          "a runs.csv from before link rates reads: unlimited, MemFree unknown");
    write_summary(&back, out, "test");
    check(g_file_get_contents(md_file, &md, NULL, NULL) &&
          has(md, "| 4 | unlimited | hint |") &&
          has(md, "| 3450 (3450–3450) | 300 (300–300) | n/a |"),
          "its rows: link unlimited, not hinted unknown");
    g_file_set_contents(csv_file, HEADER_20
                        "idle-freed,4,hint,0,A,B,300,1600,5,3500,3500,1900,"
                        "40,350,3450,100,,,,3500\n", -1, NULL);
    g_array_set_size(out, 0);
    check(!csv_read(&back, out), "a run with an empty link is refused");
    /* a runs.csv from before the phases and the guest column: 20 fields */
    g_file_set_contents(csv_file, HEADER_20
                        "idle-freed,4,hint,0,A,B,300,1600,5,3500,3500,1900,"
                        "40,350,3450,100,,,1gbit,3500\n", -1, NULL);
    g_array_set_size(out, 0);
    back.guest_append = "init_on_alloc=0";
    check(csv_read(&back, out) && out->len == 1 &&
          g_str_equal(g_array_index(out, Run, 0).guest, "init_on_alloc=0") &&
          isnan(g_array_index(out, Run, 0).phase_ms[PHASE_CALL]) &&
          back.traces_without_guest && !back.traces_without_link,
          "a runs.csv from before the phases reads: the guest as told, "
          "phases unknown, trace names without the guest");
    back.guest_append = NULL;

    old_trace = trace_name(SC_IDLE_FREED, 2, NULL, "", MODE_HINT, 0);
    new_trace = trace_name(SC_IDLE_FREED, 2, "1gbit", "", MODE_HINT, 0);
    guest_trace = trace_name(SC_IDLE_FREED, 2, "1gbit", "init_on_alloc=0",
                             MODE_HINT, 0);
    check(g_str_equal(old_trace, "idle-freed-2g-hint-0.csv") &&
          g_str_equal(new_trace, "idle-freed-2g-1gbit-hint-0.csv") &&
          g_str_equal(guest_trace, "idle-freed-2g-1gbit-init_on_alloc_0-hint-0.csv"),
          "trace names: with the link and the guest, without them for older runs");

    check(phases_from_log(LOGLINE(01, 000, "virDomainMigrateToURI3:1")
                          LOG_P2P LOG_P2P3
                          LOGLINE(01, 046, "qemuMigrationSrcBeginPhase:2500")
                          LOGLINE(01, 055, "qemuMigrationSrcPerformPeer2Peer3:5900 : Prepare3 0x1")
                          LOGLINE(01, 355, "qemuMigrationSrcPerformPeer2Peer3:5950 : Perform3 0x1")
                          LOGLINE(03, 055, "qemuMigrationSrcPerformPeer2Peer3:6000 : Finish3 0x1")
                          LOG_CONFIRM3,
                          1796457601000000LL - 2000,
                          1796457603305500LL, phases) &&
          phases[PHASE_CALL] == 7 && phases[PHASE_CONNECT] == 40 &&
          phases[PHASE_BEGIN] == 10 && phases[PHASE_PREPARE] == 300 &&
          phases[PHASE_PERFORM] == 1700 && phases[PHASE_FINISH] == 200 &&
          phases[PHASE_CONFIRM] == 50.5,
          "libvirt's phases from the source libvirtd's log and the call's clock");
    check(!phases_from_log(LOG_P2P LOG_P2P3 LOG_CONFIRM3,
                           1796457601000000LL, 1796457604000000LL, phases) &&
          isnan(phases[PHASE_CALL]) && isnan(phases[PHASE_CONFIRM]),
          "a log without every phase's message gives no phases");

    /* a benchmark stopped before its first run, then resumed */
    o.out = dir;
    f = csv_open(&o, false);
    fclose(f);
    g_array_set_size(out, 0);
    check(csv_read(&back, out) && out->len == 0,
          "a runs.csv with its header only reads: no run, no error");
    f = csv_open(&o, true);
    {
        Run r4 = run(SC_IDLE_FREED, "1gbit", MODE_PLAIN, 0, 40000, 42000, 4000, 0, NAN);
        Run r2 = r4;
        g_autofree char *key4 = run_key(&r4);
        g_autofree char *key2 = NULL;

        r2.gib = 2;
        key2 = run_key(&r2);
        csv_append(f, &r4);
        csv_append(f, &r2);
        fclose(f);
        check(csv_read(&back, out) && out->len == 2 && back.sizes->len == 2 &&
              g_array_index(back.sizes, unsigned int, 0) == 2 &&
              g_array_index(back.sizes, unsigned int, 1) == 4,
              "runs appended to that header read; the sizes ascending, "
              "whatever order they were measured in");
        check(!g_str_equal(key4, key2), "runs that differ in size only have "
              "different keys");
    }

    g_remove(csv_file);
    g_remove(md_file);
    g_rmdir(dir);
    g_array_unref(back.sizes);
    g_ptr_array_unref(back.links);
    return tap_done();
}
