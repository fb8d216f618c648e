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
        fph_lab_teardown_done();
        CHECK(fph_lab_down(lab, false, &err), "lab: torn down");
    }
    printf("1..%d\n", tap_count());
    return tap_failures() == 0 ? 0 : 1;
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
