/*
 * e2e-faults: faults during the hint phase of a live migration, in the lab
 * with a real guest.  Each case ends with the guest's pattern verified and
 * its free memory allocated and verified, wherever the guest ends up.
 *
 * The guest (1 GiB, TCG) fills 256 MiB with a pattern and writes then
 * frees 512 MiB.  Its migrations are started with --free-page-hint,
 * --free-page-hint-wait and --bandwidth 4 (MiB/s), so that the hint phase
 * (from the guest's report to the end of the migration, while the guest
 * holds the pages it reported) lasts long enough for the fault to hit it.
 * The test sees that phase from inside the guest: MemFree falls, because
 * the driver keeps every page it reported until the device says DONE.
 *
 * The cases (numbers of issue 7):
 *  1. the migration is cancelled (virsh domjobabort) in the hint phase;
 *  2. the destination QEMU is killed in the hint phase;
 *  3. the guest has no balloon driver loaded;
 *  4. the guest is paused (virsh suspend) while it hints (libvirt resumes
 *     it on the destination, as after any live migration without
 *     --suspend);
 *  6. the guest allocates most of its free memory in the hint phase;
 *  7. the source libvirtd is restarted in the hint phase;
 * 12. the link between the hosts goes down in the hint phase of a
 *     peer-to-peer migration: A's libvirtd loses B (keepalive) and fails
 *     the migration (numbered after the bad-input cases of
 *     docs/reliability.md).
 * 15. the guest reuses pages it reported before QEMU applies the hints
 *     (the balloon's IOThread stopped meanwhile), under TCG and, where KVM
 *     runs the guest, under KVM.
 * 16. the migration is cancelled in the bulk stage, and in the iterations
 *     after it (case 1 cancels it in the hint wait);
 * 17. the destination's libvirtd is restarted in the hint phase;
 * 18. the guest is reset, and 19. reboots itself, in the hint phase;
 * 20. what reaches the destination's incoming port is not a migration
 *     stream, or a real one cut short;
 * 21. case 6 twenty times in a row.
 * Case 5, twenty migrations back and forth, is in e2e-migrate.
 *
 * Output is TAP.  The lab is torn down at the end, also on failure (the
 * logs of both hosts are kept then).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "e2e-common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#define FAULT_GUEST_MIB 1024
#define FAULT_FREED_MIB "512"
/*
 * What a 1 GiB guest with the 256 MiB pattern has to allocate at least
 * (alloc-verify keeps 128 MiB of MemAvailable in reserve).  Measured:
 * 419 to 460 MiB with Debian 12's kernel, 388 to 460 MiB with Debian 13's,
 * whose kernel and modules take more; a guest that did not get the pages
 * it reported back (about 500 MiB) could allocate less than 100 MiB.
 */
#define FAULT_ALLOC_MIN_MIB 300
#define HINT_WAIT_MS "30000"
#define SLOW_MIB_S "4"
#define FAST_MIB_S "100000"

/* virsh migrate --live [--p2p] --free-page-hint ... NAME TO on FROM:
 * started */
static VirshJob *
migrate_start_mode(FphHost *from, FphHost *to, const char *name,
                   const char *wait_ms, const char *mib_s, bool p2p)
{
    const char *argv[] = {
        "migrate", "--live", "--free-page-hint", "--free-page-hint-wait",
        wait_ms, "--bandwidth", mib_s, name, to->remote_uri, to->migrate_uri,
        p2p ? "--p2p" : NULL, NULL
    };

    return virsh_job_start(from, argv);
}

static VirshJob *
migrate_start(FphHost *from, FphHost *to, const char *name, const char *wait_ms)
{
    return migrate_start_mode(from, to, name, wait_ms, SLOW_MIB_S, false);
}


/* Boot NAME on HOST with freePageHint='on', fill the pattern, write then
 * free memory; *memfree is the guest's MemFree (KiB) after that. */
static bool
prepare(FphLab *lab, FphHost *host, const char *name, const char *seed,
        guint64 *memfree)
{
    g_autoptr(GError) err = NULL;

    return CHECK(fph_guest_boot(lab, host, name, FAULT_GUEST_MIB, true, &err) &&
                 fill_and_free(host, name, seed, FAULT_FREED_MIB, &err) &&
                 (*memfree = guest_memfree(host, name, &err)) > 0,
                 "%s boots on host %s (1 GiB, freePageHint='on'), fills 256 MiB "
                 "with a pattern, writes then frees 512 MiB: MemFree %"
                 G_GUINT64_FORMAT " MiB", name, host->name, *memfree >> 10);
}

/* The hint phase runs: the guest holds the pages it reported (MemFree
 * below 60% of before), and for a migration in its active stage QEMU
 * counts them. */
static bool
check_hint_phase(FphHost *host, const char *name, guint64 before)
{
    g_autoptr(GError) err = NULL;
    guint64 low = 0;

    return CHECK(wait_memfree_below(host, name, before * 6 / 10, 300, &low, &err),
                 "%s: the hint phase runs: the guest holds the pages it "
                 "reported (MemFree %" G_GUINT64_FORMAT " MiB, before %"
                 G_GUINT64_FORMAT " MiB)", name, low >> 10, before >> 10);
}

/* NAME is defined or runs on HOST */
static bool
listed(FphHost *host, const char *name)
{
    bool running = false;

    return fph_domain_listed(host, name, &running, NULL);
}

/* NAME runs on HOST and is not on OTHER */
static bool
runs_only_on(FphHost *host, FphHost *other, const char *name)
{
    bool running = false;

    return fph_domain_listed(host, name, &running, NULL) && running &&
           !listed(other, name);
}

/* JOB, the migration of NAME from FROM to TO, completes and NAME runs
 * on TO only; if not, NAME is destroyed on both */
static bool
completes_on(VirshJob *job, FphHost *from, FphHost *to, const char *name)
{
    int rc = virsh_job_join(job, name, 600);

    if (tap(rc == 0 && runs_only_on(to, from, name), NULL,
            "%s: the migration completes, the guest runs on %s only: %s", name,
            to->name, job->err && *job->err ? g_strstrip(job->err) : "no error")) {
        return true;
    }
    destroy_on(from, to, name);
    return false;
}

/* A hinted migration of NAME that succeeds after the fault, and in which
 * the guest hints again (the destination's completed job counts the
 * pages) */
static bool
migrate_again(FphHost *from, FphHost *to, const char *name, const char *seed)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) info = NULL;
    const char *const extra[] = { "--free-page-hint", "--free-page-hint-wait",
                                  "10000", NULL };
    guint64 pages = 0;

    if (!CHECK(fph_migrate(from, to, name, extra, &err),
               "%s: the next migration %s -> %s (--free-page-hint) succeeds",
               name, from->name, to->name)) {
        return false;
    }
    info = fph_jobinfo_completed(to, name, &err);
    CHECK(info && fph_jobinfo_u64(info, "memory_free_page_hint_pages", &pages) &&
          pages > 0,
          "%s: the guest hints again in it: %" G_GUINT64_FORMAT " pages hinted",
          name, pages);
    return verify_on(to, name, seed, FAULT_ALLOC_MIN_MIB);
}

/* The fault of case 1: the job is cancelled */
static bool
fault_abort(FphLab *lab G_GNUC_UNUSED, FphHost *from,
            FphHost *to G_GNUC_UNUSED, const char *name)
{
    return tap(fph_virsh(from, NULL, NULL, "domjobabort", name, NULL) == 0, NULL,
               "%s: virsh domjobabort in the hint phase", name);
}

/* The fault of case 2: the destination QEMU is killed */
static bool
fault_kill_destination(FphLab *lab G_GNUC_UNUSED, FphHost *from G_GNUC_UNUSED,
                       FphHost *to, const char *name)
{
    pid_t pid = fph_host_qemu_pid(to, name);

    return tap(pid > 0 && kill(pid, SIGKILL) == 0, NULL,
               "%s: the destination QEMU (pid %d on %s) is killed in the hint "
               "phase", name, (int)pid, to->name);
}

/* The fault of case 17: the destination's libvirtd is restarted */
static bool
fault_restart_destination(FphLab *lab, FphHost *from G_GNUC_UNUSED,
                          FphHost *to, const char *name)
{
    g_autoptr(GError) err = NULL;
    bool killed = false;

    return tap(fph_lab_restart_daemon(lab, to, &killed, &err), err,
               "%s: libvirtd of host %s (the destination) restarted in the "
               "hint phase%s", name, to->name,
               killed ? " (it ignored SIGTERM for 60 s: killed)" : "");
}

/*
 * How a failed migration of NAME from A to B ends: JOB fails with an
 * error that contains WANT; the guest keeps running on A, gets the pages
 * it reported back (MemFree BEFORE), is intact, and migrates the next
 * time.  NAME is destroyed on both hosts afterwards.
 */
static void
after_failure(FphHost *a, FphHost *b, const char *name, const char *seed,
              guint64 before, VirshJob *job, const char *want)
{
    int rc = virsh_job_join(job, name, 300);

    tap(rc > 0 && job->err && strstr(job->err, want), NULL,
        "%s: virsh migrate fails: %s", name,
        job->err ? g_strstrip(job->err) : "(no error)");
    if (tap(runs_only_on(a, b, name), NULL,
            "%s keeps running on A, nothing is left on B", name)) {
        check_memfree_back(a, name, before);
        if (verify_on(a, name, seed, FAULT_ALLOC_MIN_MIB)) {
            migrate_again(a, b, name, seed);
        }
    }
    destroy_on(b, a, name);
}

/*
 * Cases 1 and 2: FAULT in the hint phase makes the migration fail with
 * an error that contains WANT; the guest keeps running on A, gets its
 * pages back, is intact, and migrates the next time.
 */
static void
case_failed_migration(FphLab *lab, const char *name, const char *seed,
                      bool (*fault)(FphLab *lab, FphHost *from, FphHost *to,
                                    const char *name),
                      const char *want)
{
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(VirshJob) job = NULL;
    guint64 before = 0;

    if (!prepare(lab, a, name, seed, &before)) {
        return;
    }
    job = migrate_start(a, b, name, HINT_WAIT_MS);
    if (check_hint_phase(a, name, before)) {
        fault(lab, a, b, name);
    }
    after_failure(a, b, name, seed, before, job, want);
}

static void
case_cancel(FphLab *lab, const char *seed)
{
    case_failed_migration(lab, "fault-cancel", seed, fault_abort, "canceled");
}

static void
case_kill_destination(FphLab *lab, const char *seed)
{
    case_failed_migration(lab, "fault-kill", seed, fault_kill_destination,
                          "error:");
}

/* Case 17: the destination's libvirtd restarted in the hint phase: the
 * client (virsh) loses its connection to B and the migration fails; B's
 * libvirtd, started again, finds the incoming migration unfinished and
 * kills its QEMU */
static void
case_restart_destination(FphLab *lab, const char *seed)
{
    case_failed_migration(lab, "fault-restart-dst", seed,
                          fault_restart_destination, "error:");
}

/* Wait up to timeout_s until FIELD of the active job of NAME on HOST
 * (virsh domjobinfo --rawstats) is at least MIN; *seen is its last value */
static bool
wait_job_field(FphHost *host, const char *name, const char *field,
               guint64 min, int timeout_s, guint64 *seen)
{
    gint64 end = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;

    *seen = 0;
    while (g_get_monotonic_time() < end) {
        g_autoptr(GHashTable) info = fph_jobinfo(host, name, false, NULL);

        if (info && fph_jobinfo_u64(info, field, seen) && *seen >= min) {
            return true;
        }
        g_usleep(G_USEC_PER_SEC / 5);
    }
    return false;
}

#define DIRTY_PID "/run/fph-dirty.pid"
/*
 * Case 16: virsh domjobabort in the states after the hint wait (case 1
 * aborts in the wait): in the bulk stage, once 32 MiB went out at 4
 * MiB/s after the guest's report; and in the iterations after it, once
 * QEMU synced the dirty bitmap three times, while the guest rewrites 64
 * MiB at 32 MiB/s and the migration may send 16 MiB/s (it cannot
 * converge).  Each ends as case 1.
 */
static void
abort_in(FphLab *lab, const char *name, const char *seed, bool iterations)
{
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(VirshJob) job = NULL;
    g_autoptr(GError) err = NULL;
    const char *const dirty[] = {
        "/bin/sh", "-c", "/bin/fph-guest dirty 64 32 900 </dev/null >/dev/null "
        "2>&1 & echo $! >" DIRTY_PID, NULL
    };
    const char *const undirty[] = {
        "/bin/sh", "-c", "kill $(cat " DIRTY_PID ")", NULL
    };
    guint64 before = 0;
    guint64 seen = 0;

    if (!prepare(lab, a, name, seed, &before)) {
        return;
    }
    if (iterations &&
        !CHECK(fph_guest_run(a, name, dirty, 0, 60, NULL, &err),
               "%s: the guest rewrites 64 MiB at 32 MiB/s", name)) {
        fph_virsh(a, NULL, NULL, "destroy", name, NULL);
        return;
    }
    job = migrate_start_mode(a, b, name, "10000", iterations ? "16" : SLOW_MIB_S,
                             false);
    if (check_hint_phase(a, name, before)) {
        bool reached = iterations ?
            wait_job_field(a, name, "memory_iteration", 3, 600, &seen) :
            wait_job_field(a, name, "memory_processed", 32ULL << 20, 300, &seen);

        if (tap(reached, NULL, iterations ?
                "%s: the migration iterates (dirty bitmap synced %" G_GUINT64_FORMAT
                " times)" : "%s: the bulk stage runs (%" G_GUINT64_FORMAT
                " bytes sent)", name, seen)) {
            tap(fph_virsh(a, NULL, NULL, "domjobabort", name, NULL) == 0, NULL,
                "%s: virsh domjobabort in the %s", name,
                iterations ? "iterations" : "bulk stage");
        }
    }
    if (iterations) {
        virsh_job_join(job, name, 300);
        CHECK(fph_guest_run(a, name, undirty, 0, 60, NULL, &err),
              "%s: the guest stops rewriting memory", name);
    }
    after_failure(a, b, name, seed, before, job, "canceled");
}

static void
case_abort_bulk(FphLab *lab, const char *seed)
{
    abort_in(lab, "fault-abort-bulk", seed, false);
}

static void
case_abort_iterations(FphLab *lab, const char *seed)
{
    abort_in(lab, "fault-abort-iter", seed, true);
}

/* Wait up to timeout_s until NAME is gone from HOST */
static bool
wait_gone(FphHost *host, const char *name, int timeout_s)
{
    gint64 end = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;
    bool running = false;

    while (fph_domain_listed(host, name, &running, NULL)) {
        if (g_get_monotonic_time() >= end) {
            return false;
        }
        g_usleep(G_USEC_PER_SEC / 2);
    }
    return true;
}

/*
 * Case 12: A's end of the link goes down in the hint phase of a
 * peer-to-peer migration.  libvirt's keepalive on A's connection to B
 * (5 s interval, 5 missed answers) tells A's libvirtd that B is lost; it
 * cancels the migration.  B's libvirtd, which loses A the same way,
 * removes the incoming guest.  The link comes back, the guest is intact
 * on A and migrates.
 */
static void
case_link_down(FphLab *lab, const char *seed)
{
    const char *name = "fault-link";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(VirshJob) job = NULL;
    g_autoptr(GError) err = NULL;
    guint64 before = 0;
    int rc;

    if (!prepare(lab, a, name, seed, &before)) {
        return;
    }
    job = migrate_start_mode(a, b, name, HINT_WAIT_MS, SLOW_MIB_S, true);
    if (check_hint_phase(a, name, before)) {
        CHECK(fph_host_link(a, false, &err),
              "%s: A's end of the link goes down in the hint phase", name);
    }
    rc = virsh_job_join(job, name, 300);
    tap(rc > 0 && job->err && strstr(job->err, "error:"), NULL,
        "%s: virsh migrate --p2p fails: %s", name,
        job->err ? g_strstrip(job->err) : "(no error)");
    CHECK(fph_host_link(a, true, &err), "%s: the link is up again", name);
    tap(wait_gone(b, name, 120), NULL,
        "%s: B's libvirtd removed the incoming guest", name);
    if (tap(runs_only_on(a, b, name), NULL, "%s keeps running on A", name)) {
        check_memfree_back(a, name, before);
        if (verify_on(a, name, seed, FAULT_ALLOC_MIN_MIB)) {
            migrate_again(a, b, name, seed);
        }
    }
    destroy_on(b, a, name);
}

/* Case 3: no balloon driver in the guest, the flag given */
static void
case_no_driver(FphLab *lab, const char *seed)
{
    const char *name = "fault-nodriver";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    const char *const extra[] = { "--free-page-hint", "--free-page-hint-wait",
                                  "20000", NULL };
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) info = NULL;
    guint64 pages = 0;
    guint64 setup_ms = 0;
    guint64 before = 0;
    bool ok;

    if (!prepare(lab, a, name, seed, &before) ||
        !CHECK(fph_guest_run(a, name, BUSYBOX("rmmod", "virtio_balloon"), 0, 60,
                             NULL, &err) &&
               fph_guest_run(a, name, BUSYBOX("test", "!", "-e", BALLOON_DRIVER),
                             0, 60, NULL, &err),
               "%s: rmmod virtio_balloon in the guest: no balloon driver", name)) {
        return;
    }
    if (!CHECK(fph_migrate(a, b, name, extra, &err),
               "%s migrates A -> B with --free-page-hint "
               "--free-page-hint-wait 20000", name)) {
        return;
    }
    info = fph_jobinfo_completed(b, name, &err);
    ok = info && fph_jobinfo_u64(info, "setup_time", &setup_ms) &&
         setup_ms < 20000;
    if (ok) {
        /* absent or 0: nothing was hinted */
        fph_jobinfo_u64(info, "memory_free_page_hint_pages", &pages);
        ok = pages == 0;
    }
    tap(ok, err, "%s: 0 pages hinted, and the migration did not wait for a "
        "driver that is not there (setup %" G_GUINT64_FORMAT " ms < 20000 ms)",
        name, setup_ms);
    if (!verify_on(b, name, seed, FAULT_ALLOC_MIN_MIB)) {
        fph_virsh(b, NULL, NULL, "destroy", name, NULL);
        return;
    }

    /* the driver loaded again hints on the next migration */
    g_clear_pointer(&info, g_hash_table_unref);
    pages = 0;
    ok = fph_guest_run(b, name, BUSYBOX("insmod",
                                        "/lib/modules/fph/virtio_balloon.ko"),
                       0, 60, NULL, &err) &&
         fph_guest_run(b, name, GUEST("dirty-free", FAULT_FREED_MIB, seed), 0, 600,
                       NULL, &err) &&
         fph_migrate(b, a, name, extra, &err) &&
         (info = fph_jobinfo_completed(a, name, &err)) != NULL &&
         fph_jobinfo_u64(info, "memory_free_page_hint_pages", &pages) && pages > 0;
    tap(ok, err, "%s: with the driver loaded again, B -> A hints %" G_GUINT64_FORMAT
        " pages", name, pages);
    verify_on(a, name, seed, FAULT_ALLOC_MIN_MIB);
    destroy_on(a, b, name);
}

/*
 * A migration FROM -> TO during which the guest is suspended: early, as
 * soon as the job exists (the guest cannot finish its report; the wait
 * ends at its bound), or once the guest has started to report.
 */
static bool
pause_migration(FphHost *from, FphHost *to, const char *name,
                const char *seed, guint64 before, bool early)
{
    g_autoptr(VirshJob) job = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *state = NULL;
    guint64 low = 0;
    bool ok;
    int rc;

    job = migrate_start(from, to, name, "10000");
    if (early) {
        ok = CHECK(wait_job(from, name, &err),
                   "%s: the migration %s -> %s has started", name, from->name,
                   to->name);
    } else {
        ok = CHECK(wait_memfree_below(from, name, before * 9 / 10, 300, &low,
                                      &err),
                   "%s: the guest reports free pages (MemFree %" G_GUINT64_FORMAT
                   " MiB, before %" G_GUINT64_FORMAT " MiB)", name, low >> 10,
                   before >> 10);
    }
    if (ok) {
        tap(fph_virsh(from, NULL, NULL, "suspend", name, NULL) == 0 &&
            fph_virsh(from, NULL, NULL, "migrate-setspeed", name, FAST_MIB_S,
                      NULL) == 0, NULL,
            "%s: virsh suspend %s, then migrate-setspeed %s", name,
            early ? "before the guest can finish its report" : "while it hints",
            FAST_MIB_S);
    }
    rc = virsh_job_join(job, name, 300);
    if (!tap(rc == 0 && listed(to, name) && !listed(from, name), NULL,
             "%s: the migration completes, the guest is on %s only: %s", name,
             to->name, job->err && *job->err ? g_strstrip(job->err) : "no error")) {
        return false;
    }
    /* a live migration without --suspend resumes the guest on arrival,
     * also when it was paused on the way */
    fph_virsh(to, &state, NULL, "domstate", name, NULL);
    tap(state && g_str_has_prefix(g_strstrip(state), "running"), NULL,
        "%s runs on %s: libvirt resumed it on arrival (%s)", name, to->name,
        state ? state : "?");
    check_memfree_back(to, name, before);
    return verify_on(to, name, seed, FAULT_ALLOC_MIN_MIB);
}

/* Case 4: the guest is paused while it hints */
static void
case_pause(FphLab *lab, const char *seed)
{
    const char *name = "fault-pause";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(GError) err = NULL;
    guint64 before = 0;

    if (prepare(lab, a, name, seed, &before) &&
        pause_migration(a, b, name, seed, before, true)) {
        CHECK(fph_guest_run(b, name, GUEST("dirty-free", FAULT_FREED_MIB, seed),
                            0, 600, NULL, &err) &&
              (before = guest_memfree(b, name, &err)) > 0,
              "%s writes then frees 512 MiB again on B", name);
        pause_migration(b, a, name, seed, before, false);
    }
    destroy_on(a, b, name);
}

/* Case 6: the guest allocates most of its free memory in the hint phase */
static void
case_pressure(FphLab *lab, const char *seed)
{
    const char *name = "fault-pressure";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(VirshJob) job = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *mib = NULL;
    g_autofree char *out = NULL;
    g_autofree char *dmesg = NULL;
    guint64 before = 0;
    guint64 done = 0;

    if (!prepare(lab, a, name, seed, &before)) {
        return;
    }
    job = migrate_start(a, b, name, HINT_WAIT_MS);
    if (check_hint_phase(a, name, before)) {
        /* 85% of what was free, while the driver holds most of it */
        mib = g_strdup_printf("%" G_GUINT64_FORMAT, (before >> 10) * 85 / 100);
        CHECK(fph_guest_run(a, name, GUEST("alloc", mib), 0, 600, &out, &err) &&
              fph_kv_u64(out, "alloc_verified", &done),
              "%s: the guest allocates, writes and verifies %s MiB in the hint "
              "phase", name, mib);
        fph_virsh(a, NULL, NULL, "migrate-setspeed", name, FAST_MIB_S, NULL);
    }
    if (!completes_on(job, a, b, name)) {
        return;
    }
    CHECK(fph_guest_run(b, name, BUSYBOX("dmesg"), 0, 60, &dmesg, &err) &&
          !strstr(dmesg, "Out of memory") && !strstr(dmesg, "oom-kill") &&
          !strstr(dmesg, "invoked oom-killer"),
          "%s: no OOM kill in the guest's kernel log", name);
    verify_on(b, name, seed, FAULT_ALLOC_MIN_MIB);
    fph_virsh(b, NULL, NULL, "destroy", name, NULL);
}

/* Case 7: the source libvirtd is restarted in the hint phase */
static void
case_restart_source(FphLab *lab, const char *seed)
{
    const char *name = "fault-restart";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(VirshJob) job = NULL;
    g_autoptr(GError) err = NULL;
    bool on_a;
    guint64 before = 0;
    bool killed = false;
    gint64 end;

    if (!prepare(lab, a, name, seed, &before)) {
        return;
    }
    job = migrate_start(a, b, name, HINT_WAIT_MS);
    if (!check_hint_phase(a, name, before) ||
        !CHECK(fph_lab_restart_daemon(lab, a, &killed, &err),
               "%s: libvirtd of host A restarted in the hint phase%s", name,
               killed ? " (it ignored SIGTERM for 60 s: killed)" : "")) {
        virsh_job_join(job, name, 300);
        destroy_on(a, b, name);
        return;
    }
    virsh_job_join(job, name, 300);
    /* The migration was in the hint phase, long before the switchover: the
     * client's connection to A is gone, so virsh fails and cancels on B;
     * A's restarted libvirtd finds the outgoing job in progress and cancels
     * it, resuming the guest there. */
    CHECK(job->rc != 0, "%s: virsh migrate fails (exit %d: %s)", name, job->rc,
          job->err && *job->err ? g_strstrip(job->err) : "no error");

    end = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    while (!(on_a = runs_only_on(a, b, name)) &&
           g_get_monotonic_time() < end) {
        g_usleep(G_USEC_PER_SEC / 2);
    }
    if (!tap(on_a, NULL,
             "%s runs on host A only after the restart (listed on B: %s)",
             name, listed(b, name) ? "yes" : "no")) {
        destroy_on(a, b, name);
        return;
    }
    CHECK(fph_guest_wait_agent_on(a, name, 120, &err),
          "%s: its guest agent answers on host A", name);
    check_memfree_back(a, name, before);
    if (verify_on(a, name, seed, FAULT_ALLOC_MIN_MIB)) {
        migrate_again(a, b, name, seed);
    }
    destroy_on(a, b, name);
}

/* "IO iothreadN", the name of the thread of the IOThread that libvirt
 * gave the balloon of NAME on HOST (<driver iothread='N'/>), or NULL */
static char *
balloon_iothread_comm(FphHost *host, const char *name)
{
    g_autofree char *out = NULL;
    const char *at;
    guint64 id;

    /* virsh prints the attribute node: ' iothread="1"' */
    if (fph_virsh(host, &out, NULL, "dumpxml", "--xpath",
                  "/domain/devices/memballoon/driver/@iothread", name, NULL) != 0 ||
        !(at = strstr(out, "iothread=\"")) ||
        (id = g_ascii_strtoull(at + strlen("iothread=\""), NULL, 10)) == 0) {
        return NULL;
    }
    return g_strdup_printf("IO iothread%" G_GUINT64_FORMAT, id);
}

/*
 * Case 15: the guest reuses pages it reported before QEMU applies its
 * hints.  The balloon's IOThread, which applies them, is stopped (ptrace)
 * before the migration starts: the guest's report waits in the free page
 * virtqueue while the guest holds the pages.  The guest then fills 80% of
 * what was free with a second pattern on /tmp (tmpfs), which its kernel
 * can only serve with reported pages (the driver's shrinker gives them
 * back).  The IOThread runs again and applies the hints to pages the
 * guest has written since.  On B the second pattern verifies byte for
 * byte: QEMU sent every page written after its hint.  Under TCG every
 * write is logged.  Under KVM, which clears its dirty log when migration
 * asks (manual dirty log protection), this is the reuse race of
 * docs/reliability.md.
 */
#define REUSE_FILE "/tmp/fph-reuse"
static void
reuse(FphLab *lab, const char *name, const char *seed)
{
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(VirshJob) job = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *comm = NULL;
    g_autofree char *mib = NULL;
    g_autofree char *seed2 = g_strdup_printf("%s5", seed);
    g_autoptr(GHashTable) info = NULL;
    guint64 before = 0;
    guint64 pages = 0;
    pid_t tid = 0;

    if (!prepare(lab, a, name, seed, &before)) {
        return;
    }
    comm = balloon_iothread_comm(a, name);
    if (!CHECK(comm && (tid = fph_host_qemu_thread(a, name, comm)) > 0 &&
               fph_thread_stop(tid, &err),
               "%s: the balloon's IOThread (thread \"%s\" of QEMU on host A) "
               "stopped", name, comm ? comm : "none")) {
        fph_virsh(a, NULL, NULL, "destroy", name, NULL);
        return;
    }
    job = migrate_start(a, b, name, HINT_WAIT_MS);
    if (check_hint_phase(a, name, before)) {
        mib = g_strdup_printf("%" G_GUINT64_FORMAT, (before >> 10) * 80 / 100);
        CHECK(fph_guest_run(a, name, GUEST("fill", REUSE_FILE, mib, seed2), 0,
                            600, NULL, &err),
              "%s: while its report waits in the virtqueue, the guest fills %s "
              "MiB of " REUSE_FILE " with pattern seed %s", name, mib, seed2);
    }
    CHECK(fph_thread_cont(tid, &err),
          "%s: the IOThread runs again and applies the hints", name);
    fph_virsh(a, NULL, NULL, "migrate-setspeed", name, FAST_MIB_S, NULL);
    if (!completes_on(job, a, b, name)) {
        return;
    }
    CHECK((info = fph_jobinfo_completed(b, name, &err)) &&
          fph_jobinfo_u64(info, "memory_free_page_hint_pages", &pages) &&
          pages > 0,
          "%s: QEMU applied the hints (%" G_GUINT64_FORMAT " pages hinted)",
          name, pages);
    if (mib) {
        CHECK(fph_guest_run(b, name, GUEST("verify", REUSE_FILE, seed2), 0,
                            600, NULL, &err) &&
              fph_guest_run(b, name, BUSYBOX("rm", REUSE_FILE), 0, 60, NULL,
                            &err),
              "%s: on B all %s MiB of " REUSE_FILE " verify: every page the "
              "guest wrote after its hint was sent", name, mib);
    }
    verify_on(b, name, seed, FAULT_ALLOC_MIN_MIB);
    fph_virsh(b, NULL, NULL, "destroy", name, NULL);
}

static void
case_reuse(FphLab *lab, const char *seed)
{
    reuse(lab, "fault-reuse", seed);
}

/*
 * Case 15 under KVM, where the reuse race can happen.  It needs a KVM
 * that boots the guest: where /dev/kvm is missing or libvirt finds no
 * KVM, or the guest's kernel prints nothing on its console within 60 s
 * under KVM (nested KVM on fph's CI machines never boots it), the case
 * reports itself skipped with the reason.  A kernel that prints but does
 * not come up fails the case.
 */
#define KVM_PROBE_S 60

static void
case_reuse_kvm(FphLab *lab, const char *seed)
{
    const char *name = "fault-reuse-kvm";
    const char *what = "fault-reuse-kvm: the reuse case under KVM";
    FphHost *a = fph_lab_host(lab, "A");
    g_autofree char *console = fph_host_path(a, "/var/log/libvirt/qemu/"
                                             "fault-reuse-kvm.console");
    g_autofree char *xml = NULL;
    g_autoptr(GError) err = NULL;
    virConnectPtr conn = NULL;
    virDomainPtr dom = NULL;
    bool booted = false;
    gint64 end;

    if (access("/dev/kvm", R_OK | W_OK) < 0) {
        tap_skip("no usable /dev/kvm on this machine", "%s", what);
        return;
    }
    lab->kvm = true;
    xml = fph_guest_xml(lab, name, FAULT_GUEST_MIB, true);
    lab->kvm = false;
    unlink(console);
    if (!(conn = fph_host_connect(a, &err))) {
        tap(false, err, "%s: connect to host A", name);
        return;
    }
    if (!(dom = virDomainCreateXML(conn, xml, 0))) {
        const char *msg = virGetLastErrorMessage();

        if (virGetLastErrorCode() == VIR_ERR_CONFIG_UNSUPPORTED) {
            tap_skip(msg, "%s", what);
        } else {
            tap(false, NULL, "%s: cannot start it under KVM: %s", name, msg);
        }
        virConnectClose(conn);
        return;
    }
    /* QEMU opened /dev/kvm in the /dev libvirt made for it */
    tap(true, NULL, "%s: QEMU runs the guest under KVM", name);
    end = g_get_monotonic_time() + KVM_PROBE_S * G_USEC_PER_SEC;
    while (!(booted = fph_guest_console_has(a, name, "Linux version")) &&
           g_get_monotonic_time() < end) {
        g_usleep(G_USEC_PER_SEC / 2);
    }
    virDomainDestroy(dom);
    virDomainFree(dom);
    virConnectClose(conn);
    if (!booted) {
        tap_skip("KVM is there, but the guest's kernel printed nothing on "
                 "its console in " G_STRINGIFY(KVM_PROBE_S) " s under it "
                 "(nested KVM that does not run guests)", "%s", what);
        return;
    }
    lab->kvm = true;
    reuse(lab, name, seed);
    lab->kvm = false;
}

#define BOOT_ID "/proc/sys/kernel/random/boot_id"

/* The guest kernel's boot id (a new one at every boot) of NAME on HOST */
static char *
guest_boot_id(FphHost *host, const char *name, int timeout_s, GError **error)
{
    g_autofree char *out = NULL;

    if (!fph_guest_run(host, name, BUSYBOX("cat", BOOT_ID), 0, timeout_s, &out,
                       error)) {
        return NULL;
    }
    return g_strdup(g_strstrip(out));
}

/* Wait up to timeout_s until the agent of NAME on HOST answers from a
 * boot other than OLD */
static bool
wait_booted_again(FphHost *host, const char *name, const char *old, int timeout_s)
{
    gint64 end = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < end) {
        g_autofree char *id = guest_boot_id(host, name, 10, NULL);

        if (id && *id && !g_str_equal(id, old)) {
            return true;
        }
        g_usleep(G_USEC_PER_SEC);
    }
    return false;
}

/*
 * Cases 18 (RESET true) and 19: the guest is reset, or reboots itself,
 * while it holds the pages it reported.  `virsh reset` is refused while
 * the migration runs: the migration job admits no other job that changes
 * the domain, and libvirt gives up waiting for it after 30 s (libvirt's
 * behaviour for every such API during a migration); the reset itself is
 * then asked of QEMU with QMP system_reset, which is what virsh reset
 * sends.  Case 19's guest calls reboot(2) (busybox reboot -f).  The
 * guest boots again in the same QEMU (<on_reboot>restart</on_reboot>),
 * writes its pattern again while the migration runs, and the migration
 * is let go at full speed: it completes (the guest runs on B only) or
 * fails cleanly (the guest runs on A only); wherever the guest is, its
 * pattern and free memory verify, and it hints again in the next
 * migration.
 */
static void
reboot_in_hint_phase(FphLab *lab, const char *name, const char *seed, bool reset)
{
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(VirshJob) job = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *old = NULL;
    const char *const reboot[] = {
        "/bin/sh", "-c", "(sleep 1; /bin/busybox reboot -f) </dev/null "
        ">/dev/null 2>&1 &", NULL
    };
    FphHost *on = NULL;
    guint64 before = 0;
    bool booted = false;
    int rc;

    if (!prepare(lab, a, name, seed, &before)) {
        return;
    }
    old = guest_boot_id(a, name, 60, &err);
    if (!CHECK(old && *old, "%s: its boot id is %s", name, old ? old : "?")) {
        fph_virsh(a, NULL, NULL, "destroy", name, NULL);
        return;
    }
    job = migrate_start(a, b, name, HINT_WAIT_MS);
    if (check_hint_phase(a, name, before)) {
        bool done;

        if (reset) {
            g_autofree char *refusal = NULL;
            g_autoptr(JsonNode) ret = NULL;

            rc = fph_virsh(a, NULL, &refusal, "reset", name, NULL);
            tap(rc > 0 && refusal && strstr(refusal, "state change lock"), NULL,
                "%s: virsh reset in the hint phase is refused while the "
                "migration runs: %s", name,
                refusal ? g_strstrip(refusal) : "(no error)");
            ret = fph_qmp(a, name, "{\"execute\":\"system_reset\"}", &err);
            done = CHECK(ret != NULL, "%s: the guest is reset in the hint phase "
                         "(QMP system_reset)", name);
        } else {
            done = CHECK(fph_guest_run(a, name, reboot, 0, 60, NULL, &err),
                         "%s: the guest reboots itself in the hint phase "
                         "(reboot -f)", name);
        }
        booted = done &&
            tap(wait_booted_again(a, name, old, 300), NULL,
                "%s boots again on host A while the migration runs, and its "
                "agent answers", name) &&
            CHECK(fill_and_free(a, name, seed, FAULT_FREED_MIB, &err) &&
                  (before = guest_memfree(a, name, &err)) > 0,
                  "%s: the guest fills 256 MiB with its pattern again, writes "
                  "then frees 512 MiB: MemFree %" G_GUINT64_FORMAT " MiB", name,
                  before >> 10);
        fph_virsh(a, NULL, NULL, "migrate-setspeed", name, FAST_MIB_S, NULL);
    }
    rc = virsh_job_join(job, name, 600);
    if (rc == 0 && runs_only_on(b, a, name)) {
        on = b;
    } else if (rc > 0 && runs_only_on(a, b, name)) {
        on = a;
    }
    if (!tap(on != NULL, NULL, "%s: the migration %s: %s", name,
             on == b ? "completes and the guest runs on B only" :
             on == a ? "fails and the guest runs on A only" :
             "neither completes nor fails cleanly",
             job->err && *job->err ? g_strstrip(job->err) : "no error") ||
        !booted) {
        destroy_on(a, b, name);
        return;
    }
    if (on == a) {
        check_memfree_back(a, name, before);
    }
    if (verify_on(on, name, seed, FAULT_ALLOC_MIN_MIB)) {
        migrate_again(on, fph_host_peer(lab, on), name, seed);
    }
    destroy_on(a, b, name);
}

static void
case_reset(FphLab *lab, const char *seed)
{
    reboot_in_hint_phase(lab, "fault-reset", seed, true);
}

static void
case_reboot(FphLab *lab, const char *seed)
{
    reboot_in_hint_phase(lab, "fault-reboot", seed, false);
}

/*
 * Case 20: what reaches the destination's incoming migration port is not
 * the source's migration.  The destination QEMU listens on B's loopback
 * (virsh migrate --listen-address 127.0.0.1); the source connects to the
 * same port on B's link address, where the relay below listens instead.
 * GARBAGE: the relay sends bytes that are not a migration stream to the
 * destination, waits until the destination closes that connection, then
 * closes the source's.  Otherwise the relay passes the first FORWARD
 * bytes of the source's stream on (both ways), ends the stream there,
 * waits until the destination closes its end, then closes the source's: a
 * real stream, truncated.  In both the source fails only after the
 * destination did, so that the source's libvirtd always gets the
 * destination's error from Finish (closing both ends at once let the
 * source's Finish reach B while the destination QEMU still read, and
 * virsh reported the source's error alone).
 */
#define GARBAGE_PORT 49300
#define RELAY_TIMEOUT_S 300

typedef struct {
    int listen_fd;      /* on B's link address */
    int dst_fd;         /* to the destination QEMU, on B's loopback */
    guint64 forward;    /* 0: garbage */
    guint64 passed;     /* bytes the destination got */
    bool dst_closed;    /* the destination closed the connection first */
    char *error;        /* what went wrong in the relay */
} Relay;

/* Wait up to RELAY_TIMEOUT_S for EVENTS on FD */
static bool
relay_poll(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };

    return poll(&p, 1, RELAY_TIMEOUT_S * 1000) == 1;
}

static bool
relay_send(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n <= 0) {
            return false;
        }
        buf += n;
        len -= n;
    }
    return true;
}

/* The destination closes its end once it gave up: EOF or reset.  What
 * it sends until then is dropped. */
static void
relay_wait_dst_closed(Relay *r)
{
    char buf[4096];

    while (relay_poll(r->dst_fd, POLLIN)) {
        if (recv(r->dst_fd, buf, sizeof(buf), 0) <= 0) {
            r->dst_closed = true;
            break;
        }
    }
}

static gpointer
relay_thread(gpointer data)
{
    Relay *r = data;
    struct sockaddr_in dst = {
        .sin_family = AF_INET,
        .sin_port = htons(GARBAGE_PORT),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    char buf[65536];
    int src = -1;

    if (!relay_poll(r->listen_fd, POLLIN) ||
        (src = accept(r->listen_fd, NULL, NULL)) < 0) {
        r->error = g_strdup_printf("the source did not connect in %d s",
                                   RELAY_TIMEOUT_S);
        return NULL;
    }
    if (connect(r->dst_fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
        r->error = g_strdup_printf("cannot connect to the destination QEMU: %s",
                                   g_strerror(errno));
        close(src);
        return NULL;
    }
    if (r->forward == 0) {
        size_t i;

        for (i = 0; i < sizeof(buf); i++) {
            buf[i] = "fph: this is not a migration stream\n"[i % 37];
        }
        /* The destination may close before it took all of it */
        while (r->passed < (1 << 20) && relay_send(r->dst_fd, buf, sizeof(buf))) {
            r->passed += sizeof(buf);
        }
        relay_wait_dst_closed(r);
    } else {
        struct pollfd p[2] = {
            { .fd = src, .events = POLLIN }, { .fd = r->dst_fd, .events = POLLIN },
        };

        while (r->passed < r->forward && poll(p, 2, RELAY_TIMEOUT_S * 1000) > 0) {
            if (p[0].revents) {
                ssize_t n = recv(src, buf, MIN(sizeof(buf), r->forward - r->passed), 0);

                if (n <= 0 || !relay_send(r->dst_fd, buf, n)) {
                    break;
                }
                r->passed += n;
                if (r->passed == r->forward) {
                    /*
                     * The end of the stream for the destination; the
                     * source learns of it only once the destination gave
                     * up: libvirt's Finish on B then finds the incoming
                     * migration failed, not still running.
                     */
                    shutdown(r->dst_fd, SHUT_WR);
                    relay_wait_dst_closed(r);
                    break;
                }
            }
            if (p[1].revents) {
                ssize_t n = recv(r->dst_fd, buf, sizeof(buf), 0);

                if (n <= 0) {
                    r->dst_closed = true;
                    break;
                }
                if (!relay_send(src, buf, n)) {
                    break;
                }
            }
        }
    }
    close(r->dst_fd);
    r->dst_fd = -1;
    close(src);
    return NULL;
}

/* The relay's sockets in B; its thread, started */
static GThread *
relay_start(FphHost *b, Relay *r, GError **error)
{
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons(GARBAGE_PORT),
    };
    int one = 1;

    if (inet_pton(AF_INET, b->addr, &addr.sin_addr) != 1) {
        g_set_error(error, FPH_LAB_ERROR, 0, "bad address of host %s: %s",
                    b->name, b->addr);
        return NULL;
    }
    r->listen_fd = fph_host_socket(b, AF_INET, SOCK_STREAM, error);
    if (r->listen_fd < 0) {
        return NULL;
    }
    r->dst_fd = fph_host_socket(b, AF_INET, SOCK_STREAM, error);
    if (r->dst_fd < 0) {
        return NULL;
    }
    if (setsockopt(r->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(r->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(r->listen_fd, 1) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot listen on %s:%d in host %s: %s",
                    b->addr, GARBAGE_PORT, b->name, g_strerror(errno));
        return NULL;
    }
    return g_thread_new("fph-relay", relay_thread, r);
}

/* The log of NAME's QEMU on HOST (/var/log/libvirt/qemu), or "" */
static char *
qemu_log(FphHost *host, const char *name)
{
    g_autofree char *rel = g_strdup_printf("/var/log/libvirt/qemu/%s.log", name);
    g_autofree char *path = fph_host_path(host, rel);
    g_autofree char *log = NULL;

    if (!g_file_get_contents(path, &log, NULL, NULL)) {
        return g_strdup("");
    }
    return g_steal_pointer(&log);
}

/* WANT: what libvirt reports from the destination QEMU (exit-on-error
 * false keeps that QEMU running to answer query-migrate); IN_LOG: what
 * QEMU writes to its log besides, or NULL */
static void
garbage(FphLab *lab, const char *name, const char *seed, guint64 forward,
        const char *want, const char *in_log)
{
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(VirshJob) job = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *uri = g_strdup_printf("tcp://%s:%d", b->addr, GARBAGE_PORT);
    g_autofree char *log = NULL;
    const char *argv[] = {
        "migrate", "--live", "--free-page-hint", "--free-page-hint-wait",
        "10000", "--listen-address", "127.0.0.1", name, b->remote_uri, uri, NULL
    };
    Relay r = { .listen_fd = -1, .dst_fd = -1, .forward = forward };
    GThread *relay;
    guint64 before = 0;
    const char *line;

    if (!prepare(lab, a, name, seed, &before)) {
        return;
    }
    relay = relay_start(b, &r, &err);
    if (CHECK(relay != NULL, "%s: a relay listens on B's %s", name, uri + 6)) {
        job = virsh_job_start(a, argv);
        g_thread_join(relay);
        if (forward == 0) {
            tap(r.error == NULL && r.dst_closed, NULL,
                "%s: the destination QEMU closed the connection after %"
                G_GUINT64_FORMAT " bytes that are not a migration stream%s%s",
                name, r.passed, r.error ? ": " : "", r.error ? r.error : "");
        } else {
            tap(r.error == NULL && r.passed == forward && r.dst_closed, NULL,
                "%s: the first %" G_GUINT64_FORMAT " bytes of the source's stream "
                "reached the destination QEMU, which closed the connection at "
                "their end; then the relay closed the source's%s%s",
                name, r.passed, r.error ? ": " : "", r.error ? r.error : "");
        }
        after_failure(a, b, name, seed, before, job, want);
        if (in_log) {
            log = qemu_log(b, name);
            line = strstr(log, in_log);
            tap(line != NULL, NULL, "%s: the destination QEMU's log says: %.*s",
                name, line ? (int)strcspn(line, "\n") : 0,
                line ? line : "(nothing)");
        }
    } else {
        fph_virsh(a, NULL, NULL, "destroy", name, NULL);
    }
    if (r.listen_fd >= 0) {
        close(r.listen_fd);
    }
    if (r.dst_fd >= 0) {
        close(r.dst_fd);
    }
    g_free(r.error);
}

static void
case_garbage(FphLab *lab, const char *seed)
{
    garbage(lab, "fault-garbage", seed, 0,
            "Message from the destination host: operation failed: job "
            "'migration in' failed: load of migration failed: Invalid argument",
            "Not a migration stream");
}

static void
case_truncated(FphLab *lab, const char *seed)
{
    garbage(lab, "fault-truncated", seed, 16 << 20,
            "Message from the destination host: operation failed: job "
            "'migration in' failed: load of migration failed: Input/output error",
            NULL);
}

/*
 * Case 21 (case 6, twenty times in a row): one guest migrates back and
 * forth twenty times, and in every hint phase it allocates, writes and
 * verifies 85% of the memory it had free before, while its driver holds
 * the pages it reported (MemFree below 60% of before): at least 25% of
 * that memory can only come from the reported pages that the balloon's
 * shrinker hands back.  Every migration completes; the pattern and free
 * memory verify at the end; no OOM kill.
 */
#define PRESSURE_ROUNDS 20

static void
case_pressure_repeated(FphLab *lab, const char *seed)
{
    const char *name = "fault-pressure20";
    FphHost *from = fph_lab_host(lab, "A");
    g_autoptr(GError) err = NULL;
    g_autofree char *dmesg = NULL;
    guint64 before = 0;
    int i;

    if (!prepare(lab, from, name, seed, &before)) {
        return;
    }
    for (i = 1; i <= PRESSURE_ROUNDS; i++) {
        FphHost *to = fph_host_peer(lab, from);
        g_autoptr(VirshJob) job = NULL;
        g_autofree char *mib = g_strdup_printf("%" G_GUINT64_FORMAT,
                                               (before >> 10) * 85 / 100);
        g_autofree char *out = NULL;
        guint64 done = 0;
        guint64 low = 0;

        job = migrate_start(from, to, name, HINT_WAIT_MS);
        if (!wait_memfree_below(from, name, before * 6 / 10, 300, &low, &err) ||
            !fph_guest_run(from, name, GUEST("alloc", mib), 0, 600, &out, &err) ||
            !fph_kv_u64(out, "alloc_verified", &done) ||
            done != ((before >> 10) * 85 / 100) << 20) {
            tap(false, err, "%s: round %d: the guest holds its reported pages "
                "(MemFree %" G_GUINT64_FORMAT " MiB) and allocates %s MiB", name, i,
                low >> 10, mib);
            virsh_job_join(job, name, 600);
            break;
        }
        fph_virsh(from, NULL, NULL, "migrate-setspeed", name, FAST_MIB_S, NULL);
        if (!completes_on(job, from, to, name)) {
            return;
        }
        tap(true, NULL, "%s: round %d, %s -> %s: the guest held its reported "
            "pages (MemFree %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
            " MiB), allocated, wrote and verified %s MiB meanwhile", name, i,
            from->name, to->name, low >> 10, before >> 10, mib);
        from = to;
        before = guest_memfree(from, name, &err);
        if (before == 0) {
            tap(false, err, "%s: MemFree on host %s", name, from->name);
            break;
        }
    }
    CHECK(fph_guest_run(from, name, BUSYBOX("dmesg"), 0, 60, &dmesg, &err) &&
          !strstr(dmesg, "Out of memory") && !strstr(dmesg, "oom-kill") &&
          !strstr(dmesg, "invoked oom-killer"),
          "%s: no OOM kill in the guest's kernel log", name);
    verify_on(from, name, seed, FAULT_ALLOC_MIN_MIB);
    destroy_on(from, fph_host_peer(lab, from), name);
}

static const struct {
    const char *name;
    void (*run)(FphLab *lab, const char *seed);
    const char *seed;
} cases[] = {
    { "cancel", case_cancel, "101" },
    { "kill", case_kill_destination, "102" },
    { "nodriver", case_no_driver, "103" },
    { "pause", case_pause, "104" },
    { "pressure", case_pressure, "106" },
    { "restart", case_restart_source, "107" },
    { "link", case_link_down, "108" },
    { "restart-destination", case_restart_destination, "113" },
    { "abort-bulk", case_abort_bulk, "111" },
    { "abort-iterations", case_abort_iterations, "112" },
    { "reset", case_reset, "114" },
    { "reboot", case_reboot, "115" },
    { "garbage", case_garbage, "116" },
    { "truncated", case_truncated, "117" },
    { "pressure-x20", case_pressure_repeated, "118" },
    { "reuse", case_reuse, "109" },
    { "reuse-kvm", case_reuse_kvm, "110" },
};

/* e2e-faults [CASE...]: all cases, or those named */
int
main(int argc, char **argv)
{
    /* Not freed at the end of main: the exit handler may still need it. */
    FphLab *lab = fph_lab_new();
    size_t i;
    int j;

    for (j = 1; j < argc; j++) {
        for (i = 0; i < G_N_ELEMENTS(cases); i++) {
            if (g_str_equal(argv[j], cases[i].name)) {
                break;
            }
        }
        if (i == G_N_ELEMENTS(cases)) {
            fprintf(stderr, "e2e-faults: unknown case '%s' (cases:", argv[j]);
            for (i = 0; i < G_N_ELEMENTS(cases); i++) {
                fprintf(stderr, " %s", cases[i].name);
            }
            fprintf(stderr, ")\n");
            return 64;
        }
    }

    e2e_begin();
    if (!e2e_lab_up(lab)) {
        return 1;
    }

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        bool wanted = argc == 1;

        for (j = 1; j < argc; j++) {
            wanted = wanted || g_str_equal(argv[j], cases[i].name);
        }
        if (wanted) {
            cases[i].run(lab, cases[i].seed);
        }
    }

    return e2e_end(lab);
}
