/*
 * e2e-common: what the e2e tests share.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "e2e-common.h"

static int tap_n;
static int tap_failed;

int
tap_count(void)
{
    return tap_n;
}

int
tap_failures(void)
{
    return tap_failed;
}

bool
tap(bool ok, GError *err, const char *fmt, ...)
{
    g_autofree char *what = NULL;
    va_list ap;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* a TAP line is one line: quoted messages may span several */
    g_strdelimit(g_strstrip(what), "\r\n", ' ');
    printf("%s %d - %s\n", ok ? "ok" : "not ok", ++tap_n, what);
    if (!ok) {
        g_auto(GStrv) lines = g_strsplit(err ? err->message : "(no detail)", "\n", 0);
        size_t i;

        for (i = 0; lines[i]; i++) {
            printf("# %s\n", lines[i]);
        }
        tap_failed++;
    }
    fflush(stdout);
    return ok;
}

void
tap_skip(const char *why, const char *fmt, ...)
{
    g_autofree char *what = NULL;
    g_autofree char *reason = g_strdup(why);
    va_list ap;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_strdelimit(g_strstrip(what), "\r\n#", ' ');
    g_strdelimit(g_strstrip(reason), "\r\n#", ' ');
    printf("ok %d - %s # SKIP %s\n", ++tap_n, what, reason);
    fflush(stdout);
}

void
e2e_begin(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("TAP version 13\n");
}

bool
e2e_lab_up(FphLab *lab)
{
    g_autoptr(GError) err = NULL;

    fph_lab_teardown_on_exit(lab);
    if (!CHECK(fph_lab_up(lab, &err), "lab: hosts A and B are up")) {
        printf("1..%d\n", tap_count());
        return false;
    }
    return true;
}

int
e2e_end(FphLab *lab)
{
    g_autoptr(GError) err = NULL;

    if (tap_failures() == 0) {
        CHECK(fph_lab_down(lab, false, &err), "lab: torn down");
    }
    printf("1..%d\n", tap_count());
    return tap_failures() == 0 ? 0 : 1;
}

bool
tap_refused(FphHost *host, const char *const *argv, const char *want,
            const char *also, const char *fmt, ...)
{
    g_autofree char *errout = NULL;
    g_autofree char *what = NULL;
    va_list ap;
    bool ok;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ok = fph_virshv(host, argv, NULL, &errout) != 0 &&
         errout && strstr(errout, want) && (!also || strstr(errout, also));
    return tap(ok, NULL, "%s is refused: %s", what,
               errout ? g_strstrip(errout) : "(no error)");
}

bool
fill_and_free(FphHost *host, const char *name, const char *seed,
              const char *mib_freed, GError **error)
{
    return fph_guest_run(host, name, GUEST("fill", PATTERN_FILE, PATTERN_MIB, seed),
                         0, 600, NULL, error) &&
           fph_guest_run(host, name, GUEST("dirty-free", mib_freed, seed), 0, 900,
                         NULL, error);
}

bool
verify_pattern(FphHost *host, const char *name, const char *seed, GError **error)
{
    g_autofree char *out = NULL;
    guint64 n = 0;

    if (!fph_guest_run(host, name, GUEST("verify", PATTERN_FILE, seed), 0, 600,
                       &out, error)) {
        return false;
    }
    if (!fph_kv_u64(out, "verified", &n) || n != 256ULL << 20) {
        g_set_error(error, FPH_LAB_ERROR, 0, "unexpected verify output: %s", out);
        return false;
    }
    return true;
}

bool
verify_on(FphHost *host, const char *name, const char *seed, guint64 min_mib)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    guint64 n = 0;
    bool ok;

    ok = verify_pattern(host, name, seed, &err);
    if (!tap(ok, err, "%s on host %s: all 256 MiB of the pattern verify", name,
             host->name)) {
        return false;
    }

    ok = fph_guest_run(host, name, GUEST("alloc-verify", ALLOC_RESERVE_MIB), 0,
                       900, &out, &err) &&
         fph_kv_u64(out, "alloc_verified", &n) && n >= min_mib << 20;
    if (!ok && !err) {
        g_set_error(&err, FPH_LAB_ERROR, 0,
                    "allocated and verified only %" G_GUINT64_FORMAT " bytes "
                    "(expected at least %" G_GUINT64_FORMAT " MiB): %s", n,
                    min_mib, out);
    }
    return tap(ok, err, "%s on host %s: allocates and verifies %" G_GUINT64_FORMAT
               " MiB of free memory", name, host->name, n >> 20);
}

guint64
guest_memfree(FphHost *host, const char *name, GError **error)
{
    g_autofree char *out = NULL;
    guint64 kib = 0;

    if (!fph_guest_run(host, name, GUEST("meminfo"), 0, 120, &out, error)) {
        return 0;
    }
    if (!fph_kv_u64(out, "MemFree", &kib) || kib == 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "unexpected meminfo output: %s", out);
        return 0;
    }
    return kib;
}

/*
 * Wait until the guest's MemFree falls below limit (KiB): the driver holds
 * the pages it reported.  *low gets the MemFree seen.
 */
bool
wait_memfree_below(FphHost *host, const char *name, guint64 limit,
                   int timeout_s, guint64 *low, GError **error)
{
    gint64 end = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < end) {
        *low = guest_memfree(host, name, error);
        if (*low == 0) {
            return false;
        }
        if (*low < limit) {
            return true;
        }
        g_usleep(G_USEC_PER_SEC / 10);
    }
    g_set_error(error, FPH_LAB_ERROR, 0,
                "MemFree of %s stayed at or above %" G_GUINT64_FORMAT " KiB for "
                "%d s (last %" G_GUINT64_FORMAT " KiB)", name, limit, timeout_s,
                *low);
    return false;
}

/* Within 10 s MemFree is back to at least 95% of before: the guest got
 * DONE and gave the pages it held back to its allocator.  It may end
 * above: while the driver takes every free page for its report, the
 * guest's kernel reclaims caches (Debian 13's kernel: 627 MiB after, 561
 * MiB before). */
void
check_memfree_back(FphHost *host, const char *name, guint64 before)
{
    g_autoptr(GError) err = NULL;
    gint64 start = g_get_monotonic_time();
    gint64 end = start + 10 * G_USEC_PER_SEC;
    guint64 now = 0;
    bool ok = false;

    do {
        now = guest_memfree(host, name, &err);
        ok = now > 0 && now >= before - before / 20;
        if (ok || now == 0) {
            break;
        }
        g_usleep(G_USEC_PER_SEC / 5);
    } while (g_get_monotonic_time() < end);
    tap(ok, err, "%s on host %s: MemFree back to %" G_GUINT64_FORMAT " MiB "
        "(before the migration %" G_GUINT64_FORMAT " MiB, at least 95%%) after %.1f s",
        name, host->name, now >> 10, before >> 10,
        (g_get_monotonic_time() - start) / (double)G_USEC_PER_SEC);
}

static gpointer
virsh_job_thread(gpointer opaque)
{
    VirshJob *job = opaque;

    job->rc = fph_virshv(job->host, (const char *const *)job->argv, &job->out,
                         &job->err);
    g_atomic_int_set(&job->done, 1);
    return NULL;
}

VirshJob *
virsh_job_start(FphHost *host, const char *const *argv)
{
    VirshJob *job = g_new0(VirshJob, 1);

    job->host = host;
    job->argv = g_strdupv((char **)argv);
    job->thread = g_thread_new("virsh", virsh_job_thread, job);
    return job;
}

int
virsh_job_join(VirshJob *job, const char *name, int timeout_s)
{
    gint64 end = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;

    if (job->joined) {
        return job->joined_rc;
    }
    while (!g_atomic_int_get(&job->done) && g_get_monotonic_time() < end) {
        g_usleep(G_USEC_PER_SEC / 5);
    }
    if (!g_atomic_int_get(&job->done)) {
        fph_virsh(job->host, NULL, NULL, "domjobabort", name, NULL);
    }
    g_thread_join(job->thread);
    job->thread = NULL;
    job->joined = true;
    job->joined_rc = g_get_monotonic_time() < end ? job->rc : -1;
    return job->joined_rc;
}

void
virsh_job_free(VirshJob *job)
{
    if (job->thread) {
        g_thread_join(job->thread);
    }
    g_strfreev(job->argv);
    g_free(job->out);
    g_free(job->err);
    g_free(job);
}

bool
wait_job(FphHost *from, const char *name, GError **error)
{
    gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < end) {
        g_autofree char *out = NULL;

        if (fph_virsh(from, &out, NULL, "domjobinfo", name, NULL) == 0 &&
            out && strstr(out, "Unbounded")) {
            return true;
        }
        g_usleep(G_USEC_PER_SEC / 20);
    }
    g_set_error(error, FPH_LAB_ERROR, 0, "no job for %s on host %s "
                "within 60 s", name, from->name);
    return false;
}

void
destroy_on(FphHost *one, FphHost *other, const char *name)
{
    fph_virsh(one, NULL, NULL, "destroy", name, NULL);
    fph_virsh(other, NULL, NULL, "destroy", name, NULL);
}
