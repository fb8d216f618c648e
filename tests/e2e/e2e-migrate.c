/*
 * e2e-migrate: live migration in the lab with a real guest, with and
 * without free page hinting, and proof that no guest memory is lost.
 *
 * For each variant the guest boots on host A (TCG, 2 GiB), fills 256 MiB
 * of in-use memory with a seeded pattern, writes then frees 1 GiB (free
 * pages that hold data), migrates live A -> B, verifies the pattern and
 * allocates and verifies all the memory it can on B, migrates back and
 * verifies again.  The hinted migration must send less memory.
 *
 * A persistent domain checks the libvirt side: defined with
 * freePageHint='on' and no IOThread, it gets one assigned, visible in
 * `virsh dumpxml`; `virsh edit` (driven by a scripted editor) refuses a
 * wrong value and accepts freePageReporting next to freePageHint; the
 * guest sees both feature bits; it migrates with its pattern intact.
 *
 * The hinted guest then runs two migrations that QEMU makes by itself, to
 * a file, driven over QMP with `virsh qemu-monitor-command`: one with the
 * migration parameter free-page-hint=on, one with it off.  query-migrate
 * must report hinted pages with it on, none with it off, and with it off
 * the freed memory must be sent.  The guest stays on A and is resumed.
 *
 * Between the hosts' daemons: a peer-to-peer migration with hinting over
 * TLS, the migration stream in TLS too (--p2p --tls), and a client whose
 * certificate another CA signed, which B's libvirtd must refuse; a
 * migration over the link limited to 200 Mbit/s stays below the limit.
 *
 * Output is TAP.  The lab is torn down at the end, also on failure (the
 * logs of both hosts are kept then).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "e2e-common.h"

#include <libvirt/virterror.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GUEST_MIB 2048

typedef struct {
    guint64 runs;
    guint64 pages;
    guint64 normal_bytes;
    guint64 transferred;
} HintStats;

/* A QMP command whose reply must be an empty "return" */
static bool
qmp_ok(FphHost *host, const char *name, const char *cmd, GError **error)
{
    JsonNode *ret = fph_qmp(host, name, cmd, error);

    if (!ret) {
        return false;
    }
    json_node_unref(ret);
    return true;
}

/* Wait for the migration of NAME that QMP started; its RAM statistics */
static bool
qmp_wait_migration(FphHost *host, const char *name, HintStats *st,
                   GError **error)
{
    gint64 end = g_get_monotonic_time() + 900 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < end) {
        JsonNode *ret = fph_qmp(host, name, "{\"execute\":\"query-migrate\"}",
                                error);
        JsonObject *info;
        JsonObject *ram;
        const char *status;

        if (!ret) {
            return false;
        }
        info = json_node_get_object(ret);
        status = json_object_get_string_member_with_default(info, "status", "");
        if (g_str_equal(status, "completed")) {
            ram = json_object_get_object_member(info, "ram");
            st->runs = json_object_get_int_member(ram, "free-page-hint-runs");
            st->pages = json_object_get_int_member(ram, "free-page-hint-pages");
            st->normal_bytes = json_object_get_int_member(ram, "normal-bytes");
            st->transferred = json_object_get_int_member(ram, "transferred");
            json_node_unref(ret);
            return true;
        }
        if (g_str_equal(status, "failed") || g_str_equal(status, "cancelled")) {
            g_set_error(error, FPH_LAB_ERROR, 0, "the migration of %s ended %s: %s",
                        name, status,
                        json_object_get_string_member_with_default(info, "error-desc",
                                                                   ""));
            json_node_unref(ret);
            return false;
        }
        json_node_unref(ret);
        g_usleep(G_USEC_PER_SEC / 2);
    }
    g_set_error(error, FPH_LAB_ERROR, 0, "the migration of %s did not complete "
                "within 900 s", name);
    return false;
}

/*
 * With free-page-hint=MODE, a migration of NAME (on HOST) to a file that
 * QEMU runs by itself, after the guest wrote then freed 1 GiB again.
 * QEMU's file: transport into a directory of QEMU's user, not exec: (a
 * pipe to cat, which Debian's libvirt forbids: QEMU runs in its seccomp
 * sandbox, which refuses it to fork) nor /dev/null (in the private /dev
 * libvirt gives QEMU, QEMU cannot open it for a migration: "Permission
 * denied").  The file is removed afterwards.  The
 * guest is paused at the end, as after any completed migration, and then
 * resumed.
 */
#define QMP_MIGRATION_FILE "/var/lib/libvirt/qemu/fph-qmp-migration"

static bool
qmp_migration_file_removed(FphHost *host, GError **error)
{
    g_autofree char *path = fph_host_path(host, QMP_MIGRATION_FILE);

    if (unlink(path) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot remove %s: %s", path,
                    g_strerror(errno));
        return false;
    }
    return true;
}

static bool
qmp_migration(FphHost *host, const char *name, const char *mode,
              const char *seed, HintStats *st)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *set = NULL;
    g_autofree char *out = NULL;

    set = g_strdup_printf("{\"execute\":\"migrate-set-parameters\","
                          "\"arguments\":{\"free-page-hint\":\"%s\","
                          "\"max-bandwidth\":17179869184}}", mode);
    if (!CHECK(fph_guest_run(host, name, GUEST("dirty-free", FREED_MIB, seed), 0,
                           900, NULL, &err),
               "%s writes then frees 1 GiB again", name) ||
        !CHECK(qmp_ok(host, name, set, &err),
               "%s: QMP migrate-set-parameters free-page-hint=%s", name, mode) ||
        !CHECK(qmp_ok(host, name,
                      "{\"execute\":\"migrate\","
                      "\"arguments\":{\"uri\":\"file:" QMP_MIGRATION_FILE "\"}}", &err) &&
               qmp_wait_migration(host, name, st, &err) &&
               qmp_migration_file_removed(host, &err),
               "%s: a QMP migration with free-page-hint=%s completes: %"
               G_GUINT64_FORMAT " hint runs, %" G_GUINT64_FORMAT " pages hinted, %"
               G_GUINT64_FORMAT " MiB sent", name, mode, st->runs, st->pages,
               st->transferred >> 20) ||
        !CHECK(fph_virsh(host, NULL, NULL, "resume", name, NULL) == 0 &&
               fph_guest_run(host, name, GUEST("meminfo"), 0, 120, &out, &err),
               "%s resumes on host %s after it", name, host->name)) {
        return false;
    }
    return true;
}

static void
check_hint_switch(FphHost *host, const char *name, const char *seed)
{
    HintStats on = { 0 };
    HintStats off = { 0 };

    if (!qmp_migration(host, name, "on", seed, &on) ||
        !qmp_migration(host, name, "off", seed, &off)) {
        return;
    }
    tap(on.runs > 0 && on.pages > 0, NULL,
        "free-page-hint=on: query-migrate reports %" G_GUINT64_FORMAT
        " hinted pages in %" G_GUINT64_FORMAT " runs", on.pages, on.runs);
    tap(off.runs == 0 && off.pages == 0, NULL,
        "free-page-hint=off: query-migrate reports no hint run and no hinted page");
    tap(off.normal_bytes >= 1024ULL << 20, NULL,
        "free-page-hint=off: the freed 1 GiB is sent (%" G_GUINT64_FORMAT
        " MiB of pages with data)", off.normal_bytes >> 20);
    /*
     * Not asserted: to a file at full speed the bulk stage outruns the
     * guest's first hint run, so how much hinting saves here depends on
     * timing (see docs/lab.md).  The libvirt migrations above assert it.
     */
    printf("# QMP migrations to a file: %" G_GUINT64_FORMAT " MiB sent with "
           "free-page-hint=on, %" G_GUINT64_FORMAT " MiB with off\n",
           on.transferred >> 20, off.transferred >> 20);
    verify_on(host, name, seed, 1024);
}

static void check_hint_stats(GHashTable *info, const char *name,
                             const char *where, bool hinted);

/* virsh edit [--skip-validate] NAME on HOST with EDITOR set to a command
 * that changes the XML in place; virsh's exit status */
static int
virsh_edit(FphHost *host, const char *name, bool validate, const char *editor,
           char **err)
{
    int rc;

    g_setenv("EDITOR", editor, TRUE);
    g_unsetenv("VISUAL");
    rc = fph_virsh(host, NULL, err, "edit", validate ? name : "--skip-validate",
                   validate ? NULL : name, NULL);
    g_unsetenv("EDITOR");
    return rc;
}

static bool
has_all(const char *text, const char *const *needles)
{
    size_t i;

    for (i = 0; needles[i]; i++) {
        if (!text || !strstr(text, needles[i])) {
            return false;
        }
    }
    return true;
}

/* The virtio feature bits of the guest's balloon, as the guest sees them:
 * a string of '0'/'1' with bit 0 first */
#define BALLOON_FEATURES \
    "for d in /sys/bus/virtio/devices/*; do " \
    "[ \"$(cat $d/device)\" = 0x0005 ] && cat $d/features; done"
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_REPORTING 5

static void
check_defined_domain(FphLab *lab, const char *seed)
{
    const char *name = "e2e-defined";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = fph_guest_xml(lab, name, GUEST_MIB, true);
    g_autofree char *path = NULL;
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    const char *const assigned[] = {
        "<iothreads>1</iothreads>", "freePageHint='on'", "<driver iothread='1'/>",
        NULL
    };
    const char *const both[] = {
        "freePageHint='on'", "freePageReporting='on'", "<driver iothread='1'/>",
        NULL
    };
    const char *const migrate_extra[] = { "--persistent", "--free-page-hint", NULL };
    g_autoptr(GHashTable) info_a = NULL;
    g_autoptr(GHashTable) info_b = NULL;
    guint64 pages_a = 0;
    guint64 pages_b = 0;
    bool ok;

    path = fph_host_write_tmp(a, "e2e-defined-XXXXXX.xml", xml, &err);
    if (!CHECK(path != NULL,
               "%s: domain XML with freePageHint='on' and no IOThread written "
               "in host A", name)) {
        return;
    }
    ok = fph_virsh(a, NULL, &errout, "define", "--validate", path, NULL) == 0;
    tap(ok, NULL, "%s: virsh define --validate on host A accepts "
        "freePageHint='on' %s", name, errout ? errout : "");
    g_clear_pointer(&errout, g_free);

    fph_virsh(a, &out, NULL, "dumpxml", "--inactive", name, NULL);
    tap(has_all(out, assigned), NULL,
        "%s: virsh dumpxml shows freePageHint='on' and the IOThread libvirt "
        "assigned (<iothreads>1</iothreads>, <driver iothread='1'/>)", name);
    if (!has_all(out, assigned)) {
        printf("# %s\n", out ? out : "(no output)");
    }

    /* Refused with the schema (virsh edit's default), with libvirt's
     * message for any value the schema refuses, and without it, with the
     * parser's message, which names the attribute and the element; the
     * whole table of bad values is e2e-xml's. */
    ok = virsh_edit(a, name, true,
                    "sed -i -e \"s/freePageHint='on'/freePageHint='yes'/\"",
                    &errout) != 0 && errout &&
         strstr(errout, "XML document failed to validate against schema");
    tap(ok, NULL, "%s: virsh edit refuses freePageHint='yes' (the schema): %s",
        name, errout ? g_strstrip(errout) : "(no error)");
    g_clear_pointer(&errout, g_free);
    ok = virsh_edit(a, name, false,
                    "sed -i -e \"s/freePageHint='on'/freePageHint='yes'/\"",
                    &errout) != 0 && errout &&
         strstr(errout, "'freePageHint'") && strstr(errout, "'memballoon'");
    tap(ok, NULL, "%s: virsh edit --skip-validate refuses freePageHint='yes' "
        "and names the attribute and the element: %s",
        name, errout ? g_strstrip(errout) : "(no error)");
    g_clear_pointer(&errout, g_free);
    g_clear_pointer(&out, g_free);
    fph_virsh(a, &out, NULL, "dumpxml", "--inactive", name, NULL);
    tap(has_all(out, assigned), NULL, "%s: the refused edit changed nothing", name);

    ok = virsh_edit(a, name, true,
                    "sed -i -e \"s/freePageHint='on'/freePageHint='on' "
                    "freePageReporting='on'/\"", &errout) == 0;
    tap(ok, NULL, "%s: virsh edit adds freePageReporting='on' next to "
        "freePageHint %s", name, errout ? errout : "");
    g_clear_pointer(&out, g_free);
    fph_virsh(a, &out, NULL, "dumpxml", "--inactive", name, NULL);
    tap(has_all(out, both), NULL,
        "%s: virsh dumpxml shows freePageHint, freePageReporting and the IOThread",
        name);

    g_clear_pointer(&out, g_free);
    if (!CHECK(fph_guest_start(a, name, &err), "%s starts on host A", name) ||
        !CHECK(fph_guest_run(a, name,
                             ((const char *const[]){ "/bin/busybox", "sh", "-c",
                                                     BALLOON_FEATURES, NULL }),
                             0, 60, &out, &err) &&
               out && strlen(g_strstrip(out)) > VIRTIO_BALLOON_F_REPORTING &&
               out[VIRTIO_BALLOON_F_FREE_PAGE_HINT] == '1' &&
               out[VIRTIO_BALLOON_F_REPORTING] == '1',
               "%s: the guest's balloon has FREE_PAGE_HINT (bit 3) and REPORTING "
               "(bit 5): features %s", name, out ? out : "?") ||
        !CHECK(fill_and_free(a, name, seed, FREED_MIB, &err),
               "%s fills 256 MiB with a pattern, writes then frees 1 GiB", name) ||
        !CHECK(fph_migrate(a, b, name, migrate_extra, &err),
               "%s migrates live A -> B (--persistent --free-page-hint); it stays "
               "defined on A, shut off", name)) {
        fph_virsh(a, NULL, NULL, "destroy", name, NULL);
        fph_virsh(a, NULL, NULL, "undefine", name, NULL);
        return;
    }
    /* the statistics of the completed job, on the source and (through the
     * migration cookie) on the destination */
    info_a = fph_jobinfo_completed(a, name, &err);
    if (CHECK(info_a != NULL, "%s: domjobinfo --completed on A", name)) {
        check_hint_stats(info_a, name, "A", true);
    }
    info_b = fph_jobinfo_completed(b, name, &err);
    if (CHECK(info_b != NULL, "%s: domjobinfo --completed on B", name)) {
        check_hint_stats(info_b, name, "B", true);
    }
    ok = info_a && info_b &&
         fph_jobinfo_u64(info_a, "memory_free_page_hint_pages", &pages_a) &&
         fph_jobinfo_u64(info_b, "memory_free_page_hint_pages", &pages_b) &&
         pages_a == pages_b;
    tap(ok, NULL,
        "%s: A and B report the same hinted pages (%" G_GUINT64_FORMAT ", %"
        G_GUINT64_FORMAT ")", name, pages_a, pages_b);
    fph_virsh(a, NULL, NULL, "undefine", name, NULL);
    verify_on(b, name, seed, 1024);
    g_clear_pointer(&out, g_free);
    fph_virsh(b, &out, NULL, "dumpxml", "--inactive", name, NULL);
    tap(has_all(out, both), NULL,
        "%s: defined on host B with the same freePageHint, freePageReporting "
        "and IOThread", name);
    fph_virsh(b, NULL, NULL, "destroy", name, NULL);
    fph_virsh(b, NULL, NULL, "undefine", name, NULL);
}

/*
 * The completed job statistics of a migration: with --free-page-hint,
 * hint runs and hinted pages above 0; without, none reported.
 */
static void
check_hint_stats(GHashTable *info, const char *name, const char *where,
                 bool hinted)
{
    guint64 runs = 0;
    guint64 pages = 0;
    guint64 bytes = 0;
    bool have;

    have = fph_jobinfo_u64(info, "memory_free_page_hint_runs", &runs) &&
           fph_jobinfo_u64(info, "memory_free_page_hint_pages", &pages) &&
           fph_jobinfo_u64(info, "memory_free_page_hint_bytes", &bytes);
    if (hinted) {
        tap(have && runs > 0 && pages > 0 && bytes == pages * 4096, NULL,
            "%s: domjobinfo --completed on %s: %" G_GUINT64_FORMAT " hint runs, %"
            G_GUINT64_FORMAT " pages (%" G_GUINT64_FORMAT " MiB) hinted",
            name, where, runs, pages, bytes >> 20);
    } else {
        tap(!g_hash_table_contains(info, "memory_free_page_hint_runs") &&
            !g_hash_table_contains(info, "memory_free_page_hint_pages"), NULL,
            "%s: domjobinfo --completed on %s reports no hinting", name, where);
    }
}

/*
 * VIR_MIGRATE_FREE_PAGE_HINT is refused, before anything starts, for a
 * domain without freePageHint='on' and with post-copy; the domain keeps
 * running on A with its memory intact.
 */
/* A peer-to-peer migration with VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT and
 * without VIR_MIGRATE_FREE_PAGE_HINT fails; *msg gets libvirt's error. */
static bool
refused_wait_without_flag(FphHost *from, FphHost *to, const char *name,
                          char **msg)
{
    g_autofree char *dconnuri = fph_host_dconnuri(to);
    virConnectPtr src = fph_host_connect(from, NULL);
    virDomainPtr dom = src ? virDomainLookupByName(src, name) : NULL;
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    int maxparams = 0;
    bool refused = false;

    if (dom &&
        virTypedParamsAddString(&params, &nparams, &maxparams,
                                VIR_MIGRATE_PARAM_URI, to->migrate_uri) == 0 &&
        virTypedParamsAddULLong(&params, &nparams, &maxparams,
                                VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT,
                                1000) == 0) {
        refused = virDomainMigrateToURI3(dom, dconnuri, params, nparams,
                                         VIR_MIGRATE_LIVE |
                                         VIR_MIGRATE_PEER2PEER) < 0;
        *msg = g_strdup(virGetLastErrorMessage());
    }
    virTypedParamsFree(params, nparams);
    if (dom) {
        virDomainFree(dom);
    }
    if (src) {
        virConnectClose(src);
    }
    return refused && *msg && strstr(*msg, "free_page_hint.wait") &&
           strstr(*msg, "VIR_MIGRATE_FREE_PAGE_HINT");
}

static void
check_flag_refused(FphLab *lab, const char *name, const char *seed)
{
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(GError) err = NULL;
    virConnectPtr src = NULL;
    virConnectPtr dst = NULL;
    virDomainPtr dom = NULL;
    virDomainPtr moved = NULL;
    char *msg = NULL;
    bool running = false;
    bool ok;

    tap_refused(a, VIRSH("migrate", "--live", "--free-page-hint", name,
                         b->remote_uri, b->migrate_uri),
                "VIR_MIGRATE_FREE_PAGE_HINT", "freePageHint",
                "%s: virsh migrate --free-page-hint without freePageHint", name);
    /* a save asks the guest for hints only through the balloon too */
    tap_refused(a, VIRSH("save", name, "/var/lib/libvirt/images/e2e-refused.img",
                         "--free-page-hint"),
                "VIR_DOMAIN_SAVE_FREE_PAGE_HINT", "freePageHint",
                "%s: virsh save --free-page-hint without freePageHint", name);
    tap_refused(a, VIRSH("migrate", "--live", "--free-page-hint", "--postcopy",
                         name, b->remote_uri, b->migrate_uri),
                "--free-page-hint", "--postcopy",
                "%s: virsh migrate --free-page-hint --postcopy", name);

    /* the driver refuses it too, for callers of the API */
    src = fph_host_connect(a, &err);
    dst = src ? fph_host_connect(b, &err) : NULL;
    dom = dst ? virDomainLookupByName(src, name) : NULL;
    if (dom) {
        moved = virDomainMigrate3(dom, dst, NULL, 0,
                                  VIR_MIGRATE_LIVE | VIR_MIGRATE_POSTCOPY |
                                  VIR_MIGRATE_FREE_PAGE_HINT);
        msg = g_strdup(virGetLastErrorMessage());
    }
    tap(dom && !moved && msg && strstr(msg, "VIR_MIGRATE_FREE_PAGE_HINT") &&
        strstr(msg, "VIR_MIGRATE_POSTCOPY"), err,
        "%s: virDomainMigrate3(LIVE | POSTCOPY | FREE_PAGE_HINT) is refused: %s",
        name, msg ? msg : "(no error)");
    g_clear_pointer(&msg, g_free);
    if (moved) {
        virDomainFree(moved);
    }
    if (dom) {
        virDomainFree(dom);
    }
    if (dst) {
        virConnectClose(dst);
    }
    if (src) {
        virConnectClose(src);
    }

    /* the wait needs the flag */
    tap_refused(a, VIRSH("migrate", "--live", "--free-page-hint-wait", "1000",
                         name, b->remote_uri, b->migrate_uri),
                "--free-page-hint-wait", "--free-page-hint ",
                "%s: virsh migrate --free-page-hint-wait without "
                "--free-page-hint", name);
    ok = refused_wait_without_flag(a, b, name, &msg);
    tap(ok, NULL, "%s: virDomainMigrateToURI3 with %s but without "
        "VIR_MIGRATE_FREE_PAGE_HINT is refused: %s", name,
        VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT, msg ? msg : "(no error)");
    g_clear_pointer(&msg, g_free);

    ok = fph_domain_listed(a, name, &running, NULL) && running;
    tap(ok, NULL, "%s still runs on host A after the refused migrations and "
        "save", name);
    if (ok) {
        ok = verify_pattern(a, name, seed, &err);
        tap(ok, err, "%s on host A: all 256 MiB of the pattern verify after the "
            "refused migrations and save", name);
    }
}

/*
 * The C API path: a peer-to-peer migration with virDomainMigrateToURI3()
 * and VIR_MIGRATE_FREE_PAGE_HINT, and the completed job's statistics from
 * virDomainGetJobStats() on the destination.
 */
static void
check_api_migration(FphLab *lab, const char *seed)
{
    const char *name = "e2e-api";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(GError) err = NULL;
    virConnectPtr src = NULL;
    virConnectPtr dst = NULL;
    virDomainPtr dom = NULL;
    virTypedParameterPtr params = NULL;
    virTypedParameterPtr stats = NULL;
    int nparams = 0;
    int maxparams = 0;
    int nstats = 0;
    int type = 0;
    unsigned long long pages = 0;
    bool running = false;
    bool ok;
    g_autofree char *dconnuri = fph_host_dconnuri(b);

    if (!CHECK(fph_guest_boot(lab, a, name, GUEST_MIB, true, &err),
               "%s boots on host A (<memballoon freePageHint='on'>)", name) ||
        !CHECK(fill_and_free(a, name, seed, FREED_MIB, &err),
               "%s fills 256 MiB with a pattern, writes then frees 1 GiB", name)) {
        return;
    }

    src = fph_host_connect(a, &err);
    dom = src ? virDomainLookupByName(src, name) : NULL;
    ok = dom &&
         virTypedParamsAddString(&params, &nparams, &maxparams,
                                 VIR_MIGRATE_PARAM_URI, b->migrate_uri) == 0 &&
         virTypedParamsAddULLong(&params, &nparams, &maxparams,
                                 VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT,
                                 10000) == 0 &&
         virDomainMigrateToURI3(dom, dconnuri, params, nparams,
                                VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER |
                                VIR_MIGRATE_FREE_PAGE_HINT) == 0;
    tap(ok, err, "%s: virDomainMigrateToURI3(LIVE | PEER2PEER | FREE_PAGE_HINT, "
        "%s=10000) A -> B succeeds%s%s", name,
        VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT, ok ? "" : ": ",
        ok ? "" : virGetLastErrorMessage());
    virTypedParamsFree(params, nparams);
    if (dom) {
        virDomainFree(dom);
        dom = NULL;
    }
    if (src) {
        virConnectClose(src);
    }
    if (!ok) {
        fph_virsh(a, NULL, NULL, "destroy", name, NULL);
        return;
    }

    ok = fph_domain_listed(b, name, &running, NULL) && running &&
         !fph_domain_listed(a, name, &running, NULL);
    tap(ok, NULL, "%s runs on B and is gone from A", name);

    dst = fph_host_connect(b, &err);
    dom = dst ? virDomainLookupByName(dst, name) : NULL;
    ok = dom &&
         virDomainGetJobStats(dom, &type, &stats, &nstats,
                              VIR_DOMAIN_JOB_STATS_COMPLETED) == 0 &&
         virTypedParamsGetULLong(stats, nstats,
                                 VIR_DOMAIN_JOB_MEMORY_FREE_PAGE_HINT_PAGES,
                                 &pages) == 1 &&
         pages > 0;
    tap(ok, err, "%s: virDomainGetJobStats(COMPLETED) on B: %s = %llu", name,
        VIR_DOMAIN_JOB_MEMORY_FREE_PAGE_HINT_PAGES, pages);
    virTypedParamsFree(stats, nstats);
    if (dom) {
        virDomainFree(dom);
    }
    if (dst) {
        virConnectClose(dst);
    }
    verify_on(b, name, seed, 1024);
    fph_virsh(b, NULL, NULL, "destroy", name, NULL);
}

/* Remove the free-page-hint migration parameter from a host's cached
 * capabilities of our QEMU: for that host's libvirt, QEMU lacks it. */
static bool
drop_switch_from_caps(FphHost *host, void *data, GError **error)
{
    const char *flag = "  <flag name='migration-param.free-page-hint'/>\n";
    g_autofree char *dir = fph_host_path(host, "/var/cache/libvirt/qemu/capabilities");
    g_autoptr(GDir) d = g_dir_open(dir, 0, error);
    unsigned int *edited = data;
    const char *f;

    if (!d) {
        return false;
    }
    while ((f = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, f, NULL);
        g_autofree char *text = NULL;
        g_auto(GStrv) parts = NULL;
        g_autofree char *joined = NULL;

        if (!g_str_has_suffix(f, ".xml") ||
            !g_file_get_contents(path, &text, NULL, error)) {
            continue;
        }
        if (!strstr(text, flag)) {
            continue;
        }
        parts = g_strsplit(text, flag, -1);
        joined = g_strjoinv("", parts);
        if (!g_file_set_contents(path, joined, -1, error)) {
            return false;
        }
        (*edited)++;
    }
    return true;
}

/*
 * With a QEMU that lacks the free-page-hint migration parameter (every
 * upstream QEMU) the flag is refused.  No such QEMU is in the lab: host A
 * is restarted with the parameter removed from its cached capabilities of
 * our QEMU, which libvirt then uses as they are.
 */
static void
check_qemu_without_switch(FphLab *lab)
{
    const char *name = "e2e-noswitch";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(GError) err = NULL;
    g_autofree char *errout = NULL;
    unsigned int edited = 0;
    bool running = false;
    bool ok;

    if (!CHECK(fph_lab_restart_host(lab, a, drop_switch_from_caps, &edited, &err) &&
               edited > 0,
               "host A restarted with migration-param.free-page-hint removed from "
               "its cached QEMU capabilities (%u file(s))", edited) ||
        !CHECK(fph_guest_boot(lab, a, name, 512, true, &err),
               "%s boots on host A (<memballoon freePageHint='on'>)", name)) {
        return;
    }
    ok = fph_virsh(a, NULL, &errout, "migrate", "--live", "--free-page-hint", name,
                   b->remote_uri, b->migrate_uri, NULL) != 0 &&
         errout && strstr(errout, "VIR_MIGRATE_FREE_PAGE_HINT") &&
         strstr(errout, "not supported by this QEMU binary");
    tap(ok, NULL, "%s: virsh migrate --free-page-hint with a QEMU without the "
        "switch is refused: %s", name, errout ? g_strstrip(errout) : "(no error)");
    ok = fph_domain_listed(a, name, &running, NULL) && running;
    tap(ok, NULL, "%s still runs on host A", name);
    fph_virsh(a, NULL, NULL, "destroy", name, NULL);
}

/* One variant: returns the memory A -> B sent, or 0 on failure. */
/*
 * A peer-to-peer migration over TLS, with the migration stream in TLS as
 * well (--tls), and free page hinting: A's libvirtd opens B's TLS
 * listener with A's client certificate, and QEMU verifies B's server
 * certificate (and B A's client certificate) on the stream.
 */
static void
check_tls_migration(FphLab *lab, const char *seed)
{
    const char *name = "e2e-tls";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    const char *const extra[] = { "--p2p", "--tls", "--free-page-hint",
                                  "--free-page-hint-wait", "10000", NULL };
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) info = NULL;
    guint64 pages = 0;

    if (!CHECK(fph_guest_boot(lab, a, name, 1024, true, &err) &&
               fill_and_free(a, name, seed, "512", &err),
               "%s boots on A (freePageHint='on'), fills 256 MiB with a "
               "pattern, writes then frees 512 MiB", name)) {
        return;
    }
    if (CHECK(fph_migrate(a, b, name, extra, &err),
              "%s: virsh migrate --live --p2p --tls --free-page-hint "
              "--free-page-hint-wait 10000 to %s over the link", name,
              b->remote_uri) &&
        CHECK((info = fph_jobinfo_completed(b, name, &err)) != NULL &&
              fph_jobinfo_u64(info, "memory_free_page_hint_pages", &pages) &&
              pages > 0,
              "%s: %" G_GUINT64_FORMAT " pages hinted in the TLS migration",
              name, pages)) {
        verify_on(b, name, seed, 300);
    }
    destroy_on(b, a, name);
}

/*
 * The Python binding of the hosts (python3-libvirt from fph's repository:
 * Debian's module with the names of fph's libvirt, docs/packages.md) as a
 * management application in Python uses it: a peer-to-peer migration over
 * TLS with VIR_MIGRATE_FREE_PAGE_HINT and
 * VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT, then the destination's completed
 * job statistics by VIR_DOMAIN_JOB_MEMORY_FREE_PAGE_HINT_PAGES.  Run with
 * the host's python3 in host A; a name the module lacks fails it with
 * AttributeError.
 */
static const char python_migration[] =
    "import sys, libvirt\n"
    "name, dest, uri = sys.argv[1:4]\n"
    "dom = libvirt.open('qemu:///system').lookupByName(name)\n"
    "dom.migrateToURI3(dest, {libvirt.VIR_MIGRATE_PARAM_URI: uri,\n"
    "                         libvirt.VIR_MIGRATE_PARAM_FREE_PAGE_HINT_WAIT: 10000},\n"
    "                  libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER |\n"
    "                  libvirt.VIR_MIGRATE_TLS | libvirt.VIR_MIGRATE_FREE_PAGE_HINT)\n"
    "stats = libvirt.open(dest).lookupByName(name).jobStats(\n"
    "    libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)\n"
    "print('flag=%d pages=%d' % (libvirt.VIR_MIGRATE_FREE_PAGE_HINT,\n"
    "      stats[libvirt.VIR_DOMAIN_JOB_MEMORY_FREE_PAGE_HINT_PAGES]))\n";

static void
check_python_migration(FphLab *lab, const char *seed)
{
    const char *name = "e2e-python";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    const char *const argv[] = {
        "/usr/bin/python3", "-c", python_migration, name, b->remote_uri,
        b->migrate_uri, NULL
    };
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    guint64 flag = 0;
    guint64 pages = 0;
    bool ok;
    int rc;

    if (!CHECK(fph_guest_boot(lab, a, name, 1024, true, &err) &&
               fill_and_free(a, name, seed, "512", &err),
               "%s boots on A (freePageHint='on'), fills 256 MiB with a "
               "pattern, writes then frees 512 MiB", name)) {
        return;
    }
    rc = fph_host_run(a, argv, &out, &errout);
    /* read before tap() prints them: its arguments have no order */
    ok = rc == 0 && out && fph_kv_u64(out, "flag", &flag) &&
         fph_kv_u64(out, "pages", &pages) && flag == 1ULL << 21 && pages > 0;
    if (tap(ok, NULL, "%s: python3 on host A migrates it with "
            "libvirt.VIR_MIGRATE_FREE_PAGE_HINT (%" G_GUINT64_FORMAT ") and "
            "reads libvirt.VIR_DOMAIN_JOB_MEMORY_FREE_PAGE_HINT_PAGES on B: %"
            G_GUINT64_FORMAT " pages hinted%s%s", name, flag, pages,
            rc != 0 ? ": " : "", rc != 0 && errout ? g_strstrip(errout) : "")) {
        verify_on(b, name, seed, 300);
    }
    destroy_on(b, a, name);
}

/*
 * A client whose certificate another CA signed is refused by B's
 * libvirtd: the TLS handshake fails, and B's log says why.
 */
static void
check_bad_client_certificate(FphLab *lab)
{
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autofree char *uri = fph_host_bad_client_uri(b);
    g_autofree char *log = fph_host_path(b, "/var/log/libvirt/libvirtd.log");
    g_autofree char *text = NULL;
    const char *argv[] = { "/usr/bin/virsh", "-c", uri, "hostname", NULL };
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    const char *last;
    int rc;

    rc = fph_host_run(a, argv, &out, &errout);
    /* virsh's last line is its error; before it, libvirt's client logs
     * that it does not check the server's certificate (no_verify) */
    last = errout ? g_strrstr(g_strstrip(errout), "\nerror: ") : NULL;
    last = last ? last + 1 : errout;
    tap(rc != 0 && last && strstr(last, "TLS"), NULL,
        "virsh on A with a client certificate of another CA cannot connect "
        "to B: exit %d, %s", rc, last ? last : "(no error)");
    g_file_get_contents(log, &text, NULL, NULL);
    tap(text && strstr(text, "Failed to verify peer's certificate"), NULL,
        "B's libvirtd refused the certificate: \"Failed to verify peer's "
        "certificate\" in its log");
}

/*
 * The link between the hosts limited with tc (as fph_lab_set_link and
 * fph-lab up --link-rate do): a migration over it cannot be faster than
 * the limit.  QEMU's own measure of its bandwidth (memory_bps of the
 * completed job) must stay at or below it (5% for how tc and QEMU count);
 * that bound holds however slow the machine is.
 */
static void
check_link_rate(FphLab *lab, const char *seed)
{
    const char *name = "e2e-link";
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    const double limit = 200e6 / 8;
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) info = NULL;
    guint64 bps = 0;

    CHECK(!fph_lab_set_link(lab, "fast", NULL, &err) && err &&
          strstr(err->message, "link rate 'fast'"),
          "a link rate that is not tc's is refused: %s",
          err ? err->message : "(accepted)");
    if (!CHECK(fph_lab_set_link(lab, "200mbit", NULL, &err),
               "the link limited to 200 Mbit/s (tc tbf)") ||
        !CHECK(fph_guest_boot(lab, a, name, 1024, false, &err) &&
               fph_guest_run(a, name, GUEST("fill", PATTERN_FILE, PATTERN_MIB, seed),
                             0, 600, NULL, &err),
               "%s boots on A and fills 256 MiB with a pattern", name)) {
        fph_lab_set_link(lab, NULL, NULL, NULL);
        return;
    }
    if (CHECK(fph_migrate(a, b, name, NULL, &err) &&
              (info = fph_jobinfo_completed(b, name, &err)) != NULL &&
              fph_jobinfo_u64(info, "memory_bps", &bps) && bps > 0 &&
              bps <= limit * 1.05,
              "%s migrates A -> B over the limited link at %.0f Mbit/s "
              "(at most 200)", name, bps * 8 / 1e6)) {
        CHECK(verify_pattern(b, name, seed, &err),
              "%s on host B: the pattern verifies", name);
    }
    CHECK(fph_lab_set_link(lab, NULL, NULL, &err), "the link unlimited again");
    destroy_on(b, a, name);
}

static guint64
run_variant(FphLab *lab, const char *name, bool hinted, const char *seed)
{
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) info = NULL;
    g_autofree char *out = NULL;
    guint64 sent = 0;
    guint64 total = 0;
    bool running;
    const char *const hint_flag[] = { "--free-page-hint", NULL };

    if (!CHECK(fph_guest_boot(lab, a, name, GUEST_MIB, hinted, &err),
             "%s boots on host A (%s)", name,
             hinted ? "<memballoon freePageHint='on'>" : "no hinting")) {
        return 0;
    }
    if (!CHECK(fph_guest_run(a, name, GUEST("meminfo"), 0, 60, &out, &err) &&
             fph_kv_u64(out, "MemTotal", &total) && total > 1900 * 1024,
             "%s sees its 2 GiB (MemTotal %" G_GUINT64_FORMAT " KiB)", name, total)) {
        return 0;
    }
    if (!CHECK(fph_guest_run(a, name, GUEST("fill", PATTERN_FILE, PATTERN_MIB, seed),
                           0, 600, NULL, &err),
             "%s fills 256 MiB of in-use memory with pattern seed %s", name, seed) ||
        !CHECK(fph_guest_run(a, name, GUEST("dirty-free", FREED_MIB, seed), 0, 900,
                           NULL, &err),
             "%s writes then frees 1 GiB", name)) {
        return 0;
    }

    if (!hinted) {
        check_flag_refused(lab, name, seed);
    } else {
        g_autofree char *errout = NULL;
        bool refused;

        /* QEMU refuses the value and names the parameter; the guest stays */
        refused = fph_virsh(a, NULL, &errout, "migrate", "--live",
                            "--free-page-hint", "--free-page-hint-wait", "60001",
                            name, b->remote_uri, b->migrate_uri, NULL) != 0 &&
                  errout && strstr(errout, "free-page-hint-wait") &&
                  strstr(errout, "60000") &&
                  fph_domain_listed(a, name, &running, NULL) && running;
        tap(refused, NULL,
            "%s: virsh migrate --free-page-hint-wait 60001 fails, names the "
            "parameter and its range, %s stays on A: %s", name, name,
            errout ? g_strstrip(errout) : "(no error)");
    }

    if (!CHECK(fph_migrate(a, b, name, hinted ? hint_flag : NULL, &err) &&
               !fph_domain_listed(a, name, &running, NULL),
             "%s migrates live A -> B%s, runs on B, is gone from A", name,
             hinted ? " with --free-page-hint" : "")) {
        return 0;
    }
    info = fph_jobinfo_completed(b, name, &err);
    if (!CHECK(info && fph_jobinfo_u64(info, "memory_processed", &sent) && sent > 0,
               "%s: domjobinfo --completed on B reports %" G_GUINT64_FORMAT
             " MiB of memory sent", name, sent >> 20)) {
        return 0;
    }
    if (hinted) {
        check_hint_stats(info, name, "B", true);
    }
    if (!verify_on(b, name, seed, 1024)) {
        return 0;
    }

    g_clear_pointer(&info, g_hash_table_unref);
    if (!CHECK(fph_migrate(b, a, name, NULL, &err) &&
               !fph_domain_listed(b, name, &running, NULL),
             "%s migrates live B -> A, runs on A, is gone from B", name) ||
        !verify_on(a, name, seed, 1024)) {
        return 0;
    }
    if (hinted) {
        guint64 sent_back = 0;

        /* without --free-page-hint libvirt switches hinting off */
        info = fph_jobinfo_completed(a, name, &err);
        if (CHECK(info != NULL, "%s: domjobinfo --completed on A", name)) {
            check_hint_stats(info, name, "A (migrated without --free-page-hint)",
                             false);
            fph_jobinfo_u64(info, "memory_processed", &sent_back);
            tap(sent < sent_back, NULL,
                "%s: with --free-page-hint A -> B sent less than B -> A without "
                "it: %" G_GUINT64_FORMAT " MiB < %" G_GUINT64_FORMAT " MiB",
                name, sent >> 20, sent_back >> 20);
        }
    }
    if (hinted) {
        check_hint_switch(a, name, seed);
    }
    fph_virsh(a, NULL, NULL, "destroy", name, NULL);
    return sent;
}

/*
 * Twenty migrations back and forth, every other one with
 * --free-page-hint: each hinted one must hint pages (QEMU patch 3: a
 * migration that completed while the guest hinted used to leave the next
 * host deaf to the guest's hints, silently and for good), each one
 * without the flag none, and the pattern verifies after every one.
 */
static void
check_back_and_forth(FphLab *lab, const char *seed)
{
    const char *name = "e2e-twenty";
    /* with the wait, a guest that can hint always does before the bulk
     * stage, so 0 pages means the device did not hear it */
    const char *const hint_flag[] = { "--free-page-hint",
                                      "--free-page-hint-wait", "10000", NULL };
    g_autoptr(GError) err = NULL;
    unsigned int i;

    if (!CHECK(fph_guest_boot(lab, fph_lab_host(lab, "A"), name, 1024, true,
                              &err) &&
               fph_guest_run(fph_lab_host(lab, "A"), name,
                             GUEST("fill", PATTERN_FILE, PATTERN_MIB, seed),
                             0, 600, NULL, &err),
               "%s boots on A and fills 256 MiB with a pattern", name)) {
        return;
    }
    for (i = 0; i < 20; i++) {
        FphHost *from = fph_lab_host(lab, i % 2 ? "B" : "A");
        FphHost *to = fph_lab_host(lab, i % 2 ? "A" : "B");
        bool hinted = i % 2 == 0;
        g_autoptr(GHashTable) info = NULL;
        guint64 pages = 0;
        bool ok;

        ok = fph_migrate(from, to, name, hinted ? hint_flag : NULL, &err) &&
             (info = fph_jobinfo_completed(to, name, &err)) != NULL;
        if (ok) {
            fph_jobinfo_u64(info, "memory_free_page_hint_pages", &pages);
            ok = hinted ? pages > 0 : pages == 0;
        }
        ok = ok && verify_pattern(to, name, seed, &err);
        if (!tap(ok, err, "%s: migration %u/20 %s -> %s%s: %" G_GUINT64_FORMAT
                 " pages hinted, the pattern verifies", name, i + 1, from->name,
                 to->name, hinted ? " with --free-page-hint (wait 10 s)" : "",
                 pages)) {
            fph_virsh(to, NULL, NULL, "destroy", name, NULL);
            fph_virsh(from, NULL, NULL, "destroy", name, NULL);
            return;
        }
    }
    fph_virsh(fph_lab_host(lab, "A"), NULL, NULL, "destroy", name, NULL);
}

/* The verifier itself must be able to fail: a flipped byte is reported. */
static void
check_verifier_detects_corruption(FphLab *lab, const char *name)
{
    FphHost *a = fph_lab_host(lab, "A");
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    guint64 bad = 0;
    bool ok;

    ok = fph_guest_run(a, name, GUEST("fill", "/run/fph-selftest", "1", "7"), 0, 60,
                       NULL, &err) &&
         fph_guest_run(a, name, GUEST("corrupt", "/run/fph-selftest", "4097"), 0, 60,
                       NULL, &err) &&
         fph_guest_run(a, name, GUEST("verify", "/run/fph-selftest", "7"), 2, 60,
                       &out, &err) &&
         fph_kv_u64(out, "bad_words", &bad) && bad == 1;
    tap(ok, err, "the pattern check reports one flipped byte as one bad word");
}

int
main(void)
{
    /* Not freed at the end of main: the exit handler may still need it. */
    FphLab *lab = fph_lab_new();
    g_autoptr(GError) err = NULL;
    guint64 plain;
    guint64 hinted;

    e2e_begin();
    if (!e2e_lab_up(lab)) {
        return 1;
    }

    plain = run_variant(lab, "e2e-plain", false, "20261123");
    if (plain != 0) {
        CHECK(fph_guest_boot(lab, fph_lab_host(lab, "A"), "e2e-selftest", 512,
                             false, &err), "e2e-selftest boots on host A");
        check_verifier_detects_corruption(lab, "e2e-selftest");
        fph_virsh(fph_lab_host(lab, "A"), NULL, NULL, "destroy",
                  "e2e-selftest", NULL);
    }
    hinted = run_variant(lab, "e2e-hinted", true, "4242");
    check_defined_domain(lab, "777");
    check_api_migration(lab, "31337");
    check_tls_migration(lab, "4433");
    check_python_migration(lab, "3113");
    check_bad_client_certificate(lab);
    check_link_rate(lab, "1000");
    /* before host A is made to believe its QEMU lacks the switch */
    check_back_and_forth(lab, "2020");
    check_qemu_without_switch(lab);

    if (plain != 0 && hinted != 0) {
        tap(hinted < plain, NULL,
            "the hinted migration sent less memory: %" G_GUINT64_FORMAT
            " MiB < %" G_GUINT64_FORMAT " MiB", hinted >> 20, plain >> 20);
    }

    return e2e_end(lab);
}
