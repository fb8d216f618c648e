/*
 * e2e-save: saves and managed saves with free page hints in the lab, with
 * a real guest, and proof that no guest memory is lost.
 *
 * A persistent domain with freePageHint='on' boots on host A (TCG, 2 GiB),
 * fills 256 MiB of in-use memory with a seeded pattern and writes then
 * frees 1 GiB (free pages that hold data).  It is saved without hints,
 * then with `virsh save --free-page-hint` in the default image format and
 * in the sparse one, and with `virsh managedsave --free-page-hint
 * --free-page-hint-wait`, and by virDomainSaveParams without a file (a
 * managed save, after which the domain must still answer); after
 * each it is restored (or started) and the pattern verifies, and after the
 * first hinted save all the free memory the guest can allocate verifies
 * too.  The hinted images must be smaller than the plain one by at least
 * the freed memory's half, a sparse image's allocated blocks smaller than
 * its apparent size by as much, and the completed job must report the
 * hinted memory.
 *
 * Then two external memory snapshots, without and with `virsh
 * snapshot-create-as --free-page-hint`: the hinted memory file must be
 * smaller by as much, the guest runs on after each, and a revert to the
 * hinted one brings the pattern back.
 *
 * Refused, each with an error that names what is wrong, and the guest
 * still running with its pattern: the flag for a paused guest (save and
 * snapshot), the wait without the flag (virsh and the API), a wait above
 * QEMU's bound, the snapshot flag with --live.
 *
 * Faults, each ending with the guest running with its pattern (and, where
 * it had hinted, all its free memory allocated and verified): no balloon
 * driver in the guest (the save completes without waiting, 0 hinted);
 * virsh domjobabort in the hint wait; the image's file system full; the
 * restore of a truncated image (fails, starts nothing).
 *
 * Host shutdown: the libvirt-guests script run by hand with
 * FREE_PAGE_HINT=1, and the daemon's own managed saves at shutdown with
 * auto_save_free_page_hint = 1 (virt-admin daemon-shutdown --preserve),
 * each followed by the restore of the guests.
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
#include <sys/stat.h>
#include <unistd.h>

#define GUEST_MIB 2048
/* Where the images go in host A (libvirt's own directory for images) */
#define IMAGE_DIR "/var/lib/libvirt/images"
/* The guest may take this long to hint; the wait ends when it is done */
#define HINT_WAIT "60000"
/* What hints must at least leave out: half of the freed memory */
#define MIN_SAVED_BYTES (512ULL << 20)

/* The apparent and the allocated size of the file PATH in HOST */
static bool
image_size(FphHost *host, const char *path, guint64 *apparent,
           guint64 *allocated, GError **error)
{
    g_autofree char *real = fph_host_path(host, path);
    struct stat st;

    if (stat(real, &st) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot stat %s in host %s: %s",
                    path, host->name, g_strerror(errno));
        return false;
    }
    *apparent = st.st_size;
    *allocated = (guint64) st.st_blocks * 512;
    return true;
}

/* Define NAME (MIB of memory) on HOST from the lab's guest XML and start
 * it */
static bool
define_and_start(FphLab *lab, FphHost *host, const char *name,
                 unsigned int mib, bool hinted, GError **error)
{
    g_autofree char *xml = fph_guest_xml(lab, name, mib, hinted);
    g_autofree char *path = NULL;
    g_autofree char *errout = NULL;

    path = fph_host_write_tmp(host, "e2e-save-XXXXXX.xml", xml, error);
    if (!path) {
        return false;
    }
    if (fph_virsh(host, NULL, &errout, "define", path, NULL) != 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "virsh define %s failed: %s",
                    name, errout ? errout : "");
        return false;
    }
    return fph_guest_start(host, name, error);
}

/* The hinted bytes of the completed job of NAME on HOST (0 if none) */
static bool
completed_hinted_bytes(FphHost *host, const char *name, guint64 *bytes,
                       GError **error)
{
    g_autoptr(GHashTable) info = fph_jobinfo_completed(host, name, error);

    if (!info) {
        return false;
    }
    *bytes = 0;
    fph_jobinfo_u64(info, "memory_free_page_hint_bytes", bytes);
    return true;
}

typedef struct {
    guint64 apparent;
    guint64 allocated;
    guint64 hinted;
} SaveResult;

/* virsh save NAME PATH EXTRA... on HOST; *errout gets virsh's error */
static int
save_to(FphHost *host, const char *name, const char *path,
        const char *const *extra, char **errout)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    size_t i;

    g_ptr_array_add(argv, (char *) "save");
    g_ptr_array_add(argv, (char *) name);
    g_ptr_array_add(argv, (char *) path);
    for (i = 0; extra && extra[i]; i++) {
        g_ptr_array_add(argv, (char *) extra[i]);
    }
    g_ptr_array_add(argv, NULL);
    return fph_virshv(host, (const char *const *) argv->pdata, NULL, errout);
}

/*
 * virsh save NAME to FILE in IMAGE_DIR with EXTRA options, check that NAME
 * no longer runs and what the completed job reports, restore it and
 * verify the pattern.
 */
static bool
save_and_restore(FphHost *host, const char *name, const char *seed,
                 const char *file, const char *const *extra, SaveResult *res)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *path = g_strdup_printf("%s/%s", IMAGE_DIR, file);
    g_autofree char *errout = NULL;
    g_autofree char *opts = NULL;
    bool running = true;
    bool ok;

    opts = extra ? g_strjoinv(" ", (char **) extra) : g_strdup("(no options)");

    ok = save_to(host, name, path, extra, &errout) == 0 &&
         fph_domain_listed(host, name, &running, NULL) && !running;
    if (errout) {
        g_strstrip(errout);
    }
    if (!tap(ok, NULL, "%s: virsh save %s %s; %s is shut off on host %s%s%s",
             name, path, opts, name, host->name,
             errout && *errout ? ": " : "", errout ? errout : "")) {
        return false;
    }
    ok = completed_hinted_bytes(host, name, &res->hinted, &err);
    CHECK(ok, "%s: domjobinfo --completed after the save: %" G_GUINT64_FORMAT
          " MiB hinted", name, res->hinted >> 20);
    ok = image_size(host, path, &res->apparent, &res->allocated, &err);
    CHECK(ok, "%s: the image is %" G_GUINT64_FORMAT " MiB, %" G_GUINT64_FORMAT
          " MiB of it allocated", name, res->apparent >> 20,
          res->allocated >> 20);

    g_clear_pointer(&errout, g_free);
    ok = fph_virsh(host, NULL, &errout, "restore", path, NULL) == 0 &&
         fph_guest_wait_agent_on(host, name, 300, &err);
    if (errout) {
        g_strstrip(errout);
    }
    if (!CHECK(ok, "%s: virsh restore %s on host %s, the guest agent answers%s%s",
               name, path, host->name, errout && *errout ? ": " : "",
               errout ? errout : "")) {
        return false;
    }
    g_free(errout);
    errout = fph_host_path(host, path);
    unlink(errout);
    g_clear_pointer(&errout, g_free);
    ok = verify_pattern(host, name, seed, &err);
    return CHECK(ok, "%s on host %s: all 256 MiB of the pattern verify after "
                 "the restore", name, host->name);
}

static void
check_saves(FphLab *lab, const char *name, const char *seed)
{
    FphHost *a = fph_lab_host(lab, "A");
    g_autoptr(GError) err = NULL;
    const char *const hint[] = {
        "--free-page-hint", "--free-page-hint-wait", HINT_WAIT, NULL
    };
    const char *const hint_sparse[] = {
        "--free-page-hint", "--free-page-hint-wait", HINT_WAIT,
        "--image-format", "sparse", NULL
    };
    const char *const sparse[] = { "--image-format", "sparse", NULL };
    SaveResult plain = { 0 };
    SaveResult hinted = { 0 };
    SaveResult plain_sparse = { 0 };
    SaveResult hinted_sparse = { 0 };
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    bool ok;

    if (!save_and_restore(a, name, seed, "e2e-save-plain.img", NULL, &plain)) {
        return;
    }
    tap(plain.hinted == 0, NULL, "%s: a save without --free-page-hint hints "
        "nothing", name);

    if (!save_and_restore(a, name, seed, "e2e-save-hint.img", hint, &hinted)) {
        return;
    }
    tap(hinted.hinted >= MIN_SAVED_BYTES, NULL,
        "%s: with --free-page-hint the guest hinted %" G_GUINT64_FORMAT
        " MiB (at least %llu)", name, hinted.hinted >> 20, MIN_SAVED_BYTES >> 20);
    tap(hinted.apparent + MIN_SAVED_BYTES <= plain.apparent, NULL,
        "%s: the hinted image is smaller by at least %llu MiB: %"
        G_GUINT64_FORMAT " MiB against %" G_GUINT64_FORMAT " MiB", name,
        MIN_SAVED_BYTES >> 20, hinted.apparent >> 20, plain.apparent >> 20);
    /* the hinted pages came back empty, and free */
    verify_on(a, name, seed, 1024);

    /* the sparse format: hinted pages are holes */
    ok = fph_guest_run(a, name, GUEST("dirty-free", FREED_MIB, seed), 0, 900,
                       NULL, &err);
    CHECK(ok, "%s writes then frees 1 GiB again", name);
    if (!save_and_restore(a, name, seed, "e2e-save-sparse.img", sparse,
                          &plain_sparse)) {
        return;
    }
    ok = fph_guest_run(a, name, GUEST("dirty-free", FREED_MIB, seed), 0, 900,
                       NULL, &err);
    CHECK(ok, "%s writes then frees 1 GiB again", name);
    if (!save_and_restore(a, name, seed, "e2e-save-hint-sparse.img",
                          hint_sparse, &hinted_sparse)) {
        return;
    }
    tap(hinted_sparse.hinted >= MIN_SAVED_BYTES, NULL,
        "%s: sparse, the guest hinted %" G_GUINT64_FORMAT " MiB", name,
        hinted_sparse.hinted >> 20);
    tap(hinted_sparse.allocated + MIN_SAVED_BYTES <= plain_sparse.allocated, NULL,
        "%s: the hinted sparse image allocates at least %llu MiB less: %"
        G_GUINT64_FORMAT " MiB against %" G_GUINT64_FORMAT " MiB", name,
        MIN_SAVED_BYTES >> 20, hinted_sparse.allocated >> 20,
        plain_sparse.allocated >> 20);

    /* managed save */
    ok = fph_guest_run(a, name, GUEST("dirty-free", FREED_MIB, seed), 0, 900,
                       NULL, &err);
    CHECK(ok, "%s writes then frees 1 GiB again", name);
    ok = fph_virsh(a, NULL, &errout, "managedsave", "--free-page-hint",
                   "--free-page-hint-wait", HINT_WAIT, name, NULL) == 0 &&
         fph_virsh(a, &out, NULL, "dominfo", name, NULL) == 0 &&
         strstr(out, "Managed save:   yes");
    if (errout) {
        g_strstrip(errout);
    }
    tap(ok, NULL, "%s: virsh managedsave --free-page-hint --free-page-hint-wait "
        HINT_WAIT "; dominfo shows the managed save%s%s", name, errout && *errout ? ": " : "",
        errout ? errout : "");
    if (ok) {
        guint64 bytes = 0;

        ok = completed_hinted_bytes(a, name, &bytes, &err);
        CHECK(ok && bytes >= MIN_SAVED_BYTES, "%s: the managed save hinted %"
              G_GUINT64_FORMAT " MiB", name, bytes >> 20);
        ok = fph_guest_start(a, name, &err) && verify_pattern(a, name, seed, &err);
        CHECK(ok, "%s starts from its managed save; all 256 MiB of the pattern "
              "verify", name);
    }
}

/*
 * An external memory snapshot with --free-page-hint (the guest has no
 * disks): the memory file is smaller than the one of a snapshot without
 * hints by at least MIN_SAVED_BYTES, the guest runs on after each, and a
 * revert to the hinted snapshot brings the pattern back.
 */
static void
check_snapshots(FphLab *lab, const char *name, const char *seed)
{
    FphHost *a = fph_lab_host(lab, "A");
    g_autoptr(GError) err = NULL;
    const char *const snaps[] = { "plain", "hinted" };
    guint64 size[2] = { 0, 0 };
    guint64 allocated = 0;
    bool running = false;
    bool ok;
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(snaps); i++) {
        g_autofree char *file = g_strdup_printf("%s/e2e-snap-%s.mem", IMAGE_DIR,
                                                snaps[i]);
        g_autofree char *memspec = g_strdup_printf("file=%s,snapshot=external",
                                                   file);
        g_autofree char *out = NULL;

        ok = fph_guest_run(a, name, GUEST("dirty-free", FREED_MIB, seed), 0, 900,
                           NULL, &err);
        CHECK(ok, "%s writes then frees 1 GiB again", name);
        ok = fph_virsh(a, NULL, &out, "snapshot-create-as", name, snaps[i],
                       "--memspec", memspec,
                       i == 1 ? "--free-page-hint" : NULL, NULL) == 0 &&
             fph_domain_listed(a, name, &running, NULL) && running &&
             image_size(a, file, &size[i], &allocated, &err);
        if (out) {
            g_strstrip(out);
        }
        CHECK(ok, "%s: virsh snapshot-create-as %s --memspec %s%s; the guest "
              "runs on; the memory file is %" G_GUINT64_FORMAT " MiB%s%s",
              name, snaps[i], memspec, i == 1 ? " --free-page-hint" : "",
              size[i] >> 20, out && *out ? ": " : "", out ? out : "");
    }
    tap(size[1] + MIN_SAVED_BYTES <= size[0], NULL,
        "%s: the hinted snapshot's memory is smaller by at least %llu MiB: %"
        G_GUINT64_FORMAT " MiB against %" G_GUINT64_FORMAT " MiB", name,
        MIN_SAVED_BYTES >> 20, size[1] >> 20, size[0] >> 20);

    /* refused by virsh, and by the driver for a paused guest */
    tap_refused(a, VIRSH("snapshot-create-as", name, "refused", "--memspec",
                         "file=" IMAGE_DIR "/e2e-snap-refused.mem,snapshot=external",
                         "--live", "--free-page-hint"),
                "--free-page-hint", "--live",
                "%s: snapshot-create-as --live --free-page-hint", name);
    CHECK(fph_virsh(a, NULL, NULL, "suspend", name, NULL) == 0,
          "%s is paused", name);
    tap_refused(a, VIRSH("snapshot-create-as", name, "refused", "--memspec",
                         "file=" IMAGE_DIR "/e2e-snap-refused.mem,snapshot=external",
                         "--free-page-hint"),
                "VIR_DOMAIN_SNAPSHOT_CREATE_FREE_PAGE_HINT", "running",
                "%s: snapshot-create-as --free-page-hint of the paused guest", name);
    ok = fph_virsh(a, NULL, NULL, "resume", name, NULL) == 0;
    tap(ok, NULL, "%s resumes", name);

    ok = fph_virsh(a, NULL, NULL, "snapshot-revert", name, "hinted", NULL) == 0 &&
         fph_guest_wait_agent_on(a, name, 300, &err) &&
         verify_pattern(a, name, seed, &err);
    CHECK(ok, "%s: virsh snapshot-revert to the hinted snapshot; all 256 MiB "
          "of the pattern verify", name);
    for (i = 0; i < G_N_ELEMENTS(snaps); i++) {
        g_autofree char *file = g_strdup_printf("%s/e2e-snap-%s.mem", IMAGE_DIR,
                                                snaps[i]);
        g_autofree char *real = fph_host_path(a, file);

        fph_virsh(a, NULL, NULL, "snapshot-delete", name, snaps[i],
                  "--metadata", NULL);
        unlink(real);
    }
}

/*
 * virDomainSaveParams without a file is a managed save.  libvirt 11.3.0
 * returned from it with the domain object still locked, and the next call
 * on the domain never returned (the queue's patch "qemu: Unlock the domain
 * after a managed save through virDomainSaveParams").  The state is asked
 * with a bound, virsh under timeout(1): an idle daemon answers in
 * milliseconds, DOMSTATE_BOUND seconds leave a margin of three orders of
 * magnitude on a loaded 2-core machine, and a locked domain never answers.
 * Returns false if the daemon did not answer: the rest of the suite would
 * wait on the same lock.
 */
#define DOMSTATE_BOUND "60"
static bool
check_managed_save_params(FphLab *lab, const char *name, const char *seed)
{
    FphHost *a = fph_lab_host(lab, "A");
    g_autoptr(GError) err = NULL;
    const char *const domstate[] = {
        "/usr/bin/timeout", DOMSTATE_BOUND, "/usr/bin/virsh", "-q", "-c",
        "qemu:///system", "domstate", "--reason", name, NULL
    };
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    virConnectPtr conn = NULL;
    virDomainPtr dom = NULL;
    char *msg = NULL;
    int rc;
    bool ok;

    conn = fph_host_connect(a, &err);
    dom = conn ? virDomainLookupByName(conn, name) : NULL;
    ok = dom && virDomainSaveParams(dom, NULL, 0, 0) == 0;
    if (!ok) {
        msg = g_strdup(virGetLastErrorMessage());
    }
    tap(ok, err, "%s: virDomainSaveParams without %s (a managed save)%s%s", name,
        VIR_DOMAIN_SAVE_PARAM_FILE, msg ? ": " : "", msg ? msg : "");
    g_clear_pointer(&msg, g_free);
    if (dom) {
        virDomainFree(dom);
    }
    if (conn) {
        virConnectClose(conn);
    }
    if (!ok) {
        return true;
    }

    rc = fph_host_run(a, domstate, &out, &errout);
    if (out) {
        g_strstrip(out);
    }
    ok = rc == 0 && out && strstr(out, "shut off (saved)");
    if (!tap(ok, NULL, "%s: virsh domstate --reason answers within %s s after "
             "it: %s", name, DOMSTATE_BOUND,
             rc == 124 ? "no answer, the domain stayed locked" :
             out && *out ? out : errout ? g_strstrip(errout) : "(nothing)")) {
        return rc != 124;
    }
    ok = fph_guest_start(a, name, &err) && verify_pattern(a, name, seed, &err);
    CHECK(ok, "%s starts from that managed save; all 256 MiB of the pattern "
          "verify", name);
    return true;
}

/* The save flag's refusals; the guest runs on with its pattern */
static void
check_refusals(FphLab *lab, const char *name, const char *seed)
{
    FphHost *a = fph_lab_host(lab, "A");
    g_autoptr(GError) err = NULL;
    g_autofree char *path = g_strdup_printf("%s/e2e-save-refused.img", IMAGE_DIR);
    g_autofree char *real = NULL;
    virConnectPtr conn = NULL;
    virDomainPtr dom = NULL;
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    int maxparams = 0;
    char *msg = NULL;
    bool running = false;
    bool ok;

    /* a paused guest cannot hint */
    CHECK(fph_virsh(a, NULL, NULL, "suspend", name, NULL) == 0,
          "%s is paused", name);
    tap_refused(a, VIRSH("save", name, path, "--free-page-hint"),
                "VIR_DOMAIN_SAVE_FREE_PAGE_HINT", "running",
                "%s: virsh save --free-page-hint of the paused guest", name);
    ok = fph_virsh(a, NULL, NULL, "resume", name, NULL) == 0;
    tap(ok, NULL, "%s resumes", name);

    /* the wait needs the flag: virsh, and the driver for API callers */
    tap_refused(a, VIRSH("save", name, path, "--free-page-hint-wait", "1000"),
                "--free-page-hint-wait", NULL,
                "%s: virsh save --free-page-hint-wait without --free-page-hint",
                name);

    conn = fph_host_connect(a, &err);
    dom = conn ? virDomainLookupByName(conn, name) : NULL;
    if (dom &&
        virTypedParamsAddString(&params, &nparams, &maxparams,
                                VIR_DOMAIN_SAVE_PARAM_FILE, path) == 0 &&
        virTypedParamsAddULLong(&params, &nparams, &maxparams,
                                VIR_DOMAIN_SAVE_PARAM_FREE_PAGE_HINT_WAIT,
                                1000) == 0) {
        ok = virDomainSaveParams(dom, params, nparams, 0) < 0;
        msg = g_strdup(virGetLastErrorMessage());
    } else {
        ok = false;
    }
    tap(ok && msg && strstr(msg, VIR_DOMAIN_SAVE_PARAM_FREE_PAGE_HINT_WAIT) &&
        strstr(msg, "VIR_DOMAIN_SAVE_FREE_PAGE_HINT"), err,
        "%s: virDomainSaveParams with %s but without the flag is refused: %s",
        name, VIR_DOMAIN_SAVE_PARAM_FREE_PAGE_HINT_WAIT, msg ? msg : "(no error)");
    g_clear_pointer(&msg, g_free);
    virTypedParamsFree(params, nparams);
    if (dom) {
        virDomainFree(dom);
    }
    if (conn) {
        virConnectClose(conn);
    }

    /* QEMU's bound, named */
    tap_refused(a, VIRSH("save", name, path, "--free-page-hint",
                         "--free-page-hint-wait", "60001"),
                "free-page-hint-wait", "60000",
                "%s: virsh save --free-page-hint-wait 60001 (the error names "
                "the parameter and its range)", name);

    ok = fph_domain_listed(a, name, &running, NULL) && running &&
         verify_pattern(a, name, seed, &err);
    CHECK(ok, "%s still runs on host A after the refused saves; all 256 MiB "
          "of the pattern verify", name);
    real = fph_host_path(a, path);
    unlink(real);
}

/* NAME runs on HOST (a TAP line) and its pattern verifies (another) */
static bool
runs_intact(FphHost *host, const char *name, const char *seed, const char *after)
{
    g_autoptr(GError) err = NULL;
    bool running = false;

    if (!tap(fph_domain_listed(host, name, &running, NULL) && running, NULL,
             "%s runs on host %s after %s", name, host->name, after)) {
        return false;
    }
    return CHECK(verify_pattern(host, name, seed, &err),
                 "%s: all 256 MiB of the pattern verify after %s", name, after);
}

/*
 * No image that restore accepts is at PATH in HOST: the file is gone, or
 * it does not start with the magic of a complete save image.  libvirt
 * writes its header with "LibvirtQemudPart" first and puts
 * "LibvirtQemudSave" in its place once the save has completed; restore
 * refuses the first ("save image is incomplete").  The guest still runs
 * (a restore would be refused only for that), so the magic is read.
 */
#define SAVE_MAGIC "LibvirtQemudSave"
static void
check_no_image(FphHost *host, const char *name, const char *path)
{
    const char *const exists[] = { "/usr/bin/test", "-e", path, NULL };
    const char *const head[] = { "/usr/bin/head", "-c", "16", path, NULL };
    const char *const rm[] = { "/usr/bin/rm", "-f", path, NULL };
    g_autofree char *magic = NULL;
    g_autofree char *shown = NULL;
    bool ok;

    if (fph_host_run(host, exists, NULL, NULL) != 0) {
        tap(true, NULL, "%s: no image is left at %s", name, path);
        return;
    }
    ok = fph_host_run(host, head, &magic, NULL) == 0 && magic &&
         !g_str_has_prefix(magic, SAVE_MAGIC);
    shown = magic ? g_strescape(magic, NULL) : g_strdup("(unreadable)");
    tap(ok, NULL, "%s: what is left at %s is not a complete image (it starts "
        "with '%s', not '" SAVE_MAGIC "')", name, path, shown);
    fph_host_run(host, rm, NULL, NULL);
}

/*
 * Fault: no balloon driver in the guest.  The save with the flag and a
 * wait of 20 s completes, hints nothing, and does not wait for a driver
 * that is not there: the completed job's setup time (which holds the
 * wait) stays below the bound.  The driver is loaded again after the
 * restore.
 */
static void
fault_no_driver(FphHost *a, const char *name, const char *seed)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) info = NULL;
    g_autofree char *path = g_strdup_printf("%s/e2e-save-nodriver.img", IMAGE_DIR);
    g_autofree char *errout = NULL;
    g_autofree char *real = NULL;
    const char *const hint[] = {
        "--free-page-hint", "--free-page-hint-wait", "20000", NULL
    };
    guint64 setup_ms = 0;
    guint64 pages = 0;
    bool ok;

    if (!CHECK(fph_guest_run(a, name, BUSYBOX("rmmod", "virtio_balloon"), 0, 60,
                             NULL, &err) &&
               fph_guest_run(a, name, BUSYBOX("test", "!", "-e", BALLOON_DRIVER),
                             0, 60, NULL, &err),
               "%s: rmmod virtio_balloon in the guest: no balloon driver", name)) {
        return;
    }
    ok = save_to(a, name, path, hint, &errout) == 0;
    if (!tap(ok, NULL, "%s: virsh save --free-page-hint --free-page-hint-wait "
             "20000 without a balloon driver completes%s%s", name,
             errout && *errout ? ": " : "", errout ? g_strstrip(errout) : "")) {
        return;
    }
    info = fph_jobinfo_completed(a, name, &err);
    ok = info && fph_jobinfo_u64(info, "setup_time", &setup_ms) &&
         setup_ms < 20000;
    if (ok) {
        /* absent or 0: nothing was hinted */
        fph_jobinfo_u64(info, "memory_free_page_hint_pages", &pages);
        ok = pages == 0;
    }
    tap(ok, err, "%s: 0 pages hinted, and the save did not wait for the "
        "driver (setup %" G_GUINT64_FORMAT " ms < 20000 ms)", name, setup_ms);
    g_clear_error(&err);
    ok = fph_virsh(a, NULL, NULL, "restore", path, NULL) == 0 &&
         fph_guest_wait_agent_on(a, name, 300, &err) &&
         fph_guest_run(a, name, BUSYBOX("insmod",
                                        "/lib/modules/fph/virtio_balloon.ko"),
                       0, 60, NULL, &err);
    CHECK(ok, "%s: restored; the balloon driver loaded again", name);
    real = fph_host_path(a, path);
    unlink(real);
    runs_intact(a, name, seed, "the save without a driver");
}

/*
 * Fault: virsh domjobabort in the hint wait.  The guest (one vCPU) is
 * made unable to answer: `fph-guest hog 1 HOG_S` gives its CPU to one
 * real-time task from a second on, so the balloon driver cannot run and
 * the save waits (up to 30 s) for hints that do not come.  The save is
 * started HOG_LEAD_S seconds after the hog was (three seconds of margin
 * for the guest's one-second sleep), and aborted once libvirt shows its
 * job and the guest still runs: QEMU stops the guest at the end of the
 * wait, so a running guest means the wait is not over.  HOG_S leaves
 * more than ten seconds of margin for all that.  The save fails with
 * libvirt's cancel error, the guest runs on with its free memory and its
 * pattern, and no image is left that restore accepts.
 */
#define HOG_S "25"
#define HOG_LEAD_S 4
static void
fault_abort_in_wait(FphHost *a, const char *name, const char *seed)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VirshJob) job = NULL;
    g_autofree char *path = g_strdup_printf("%s/e2e-save-abort.img", IMAGE_DIR);
    g_autofree char *state = NULL;
    g_autofree char *jobinfo = NULL;
    const char *const argv[] = {
        "save", name, path, "--free-page-hint", "--free-page-hint-wait",
        "30000", NULL
    };
    guint64 before = 0;
    bool in_wait = false;
    int rc;

    if (!CHECK((before = guest_memfree(a, name, &err)) > 0 &&
               fph_guest_run(a, name, GUEST("hog", "1", HOG_S), 0, 60, NULL,
                             &err),
               "%s: MemFree %" G_GUINT64_FORMAT " MiB; fph-guest hog 1 " HOG_S
               " started in the guest", name, before >> 10)) {
        return;
    }
    g_usleep(HOG_LEAD_S * G_USEC_PER_SEC);
    job = virsh_job_start(a, argv);
    if (wait_job(a, name, &err)) {
        g_usleep(G_USEC_PER_SEC);
        fph_virsh(a, &state, NULL, "domstate", name, NULL);
        fph_virsh(a, &jobinfo, NULL, "domjobinfo", name, NULL);
        in_wait = state && g_str_has_prefix(g_strstrip(state), "running") &&
                  jobinfo && strstr(jobinfo, "Unbounded");
    }
    tap(in_wait, err, "%s: the save waits for hints, the guest still runs (%s)",
        name, state ? state : "no state");
    tap(fph_virsh(a, NULL, NULL, "domjobabort", name, NULL) == 0, NULL,
        "%s: virsh domjobabort in the hint wait", name);
    rc = virsh_job_join(job, name, 300);
    tap(rc > 0 && job->err && strstr(job->err, "cancel"), NULL,
        "%s: virsh save fails: %s", name,
        job->err ? g_strstrip(job->err) : "(no error)");
    /* the hog ends HOG_S seconds after it started; the agent answers then */
    CHECK(fph_guest_wait_agent_on(a, name, 120, &err),
          "%s: the guest agent answers again", name);
    check_memfree_back(a, name, before);
    check_no_image(a, name, path);
    if (runs_intact(a, name, seed, "the aborted save")) {
        verify_on(a, name, seed, 1024);
    }
}

/*
 * Fault: the file system of the image fills up.  A 256 MiB tmpfs in host
 * A holds less than the hinted image (the 256 MiB pattern and the guest's
 * kernel): the save fails with the write's error, the guest runs on, and
 * what is left is not an image that restore accepts.
 */
static void
fault_enospc(FphHost *a, const char *name, const char *seed)
{
    const char *dir = IMAGE_DIR "/full";
    const char *const mkdir_argv[] = { "/usr/bin/mkdir", "-p", dir, NULL };
    const char *const mount_argv[] = {
        "/usr/bin/mount", "-t", "tmpfs", "-o", "size=256m", "e2e-full", dir, NULL
    };
    const char *const umount_argv[] = { "/usr/bin/umount", dir, NULL };
    const char *const hint[] = {
        "--free-page-hint", "--free-page-hint-wait", HINT_WAIT, NULL
    };
    g_autofree char *path = g_strdup_printf("%s/e2e-save.img", dir);
    g_autofree char *errout = NULL;
    g_autofree char *mount_err = NULL;
    bool ok;

    if (!tap(fph_host_run(a, mkdir_argv, NULL, NULL) == 0 &&
             fph_host_run(a, mount_argv, NULL, &mount_err) == 0, NULL,
             "host A: a 256 MiB tmpfs at %s%s%s", dir, mount_err ? ": " : "",
             mount_err ? g_strstrip(mount_err) : "")) {
        return;
    }
    ok = save_to(a, name, path, hint, &errout) != 0 && errout &&
         strstr(errout, "No space left on device");
    tap(ok, NULL, "%s: virsh save --free-page-hint to the full file system "
        "fails: %s", name, errout ? g_strstrip(errout) : "(no error)");
    check_no_image(a, name, path);
    fph_host_run(a, umount_argv, NULL, NULL);
    if (runs_intact(a, name, seed, "the failed save")) {
        verify_on(a, name, seed, 1024);
    }
}

/* Fault: the restore of a truncated image fails and starts nothing */
static void
fault_truncated(FphHost *a, const char *name, const char *seed)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *path = g_strdup_printf("%s/e2e-save-good.img", IMAGE_DIR);
    g_autofree char *cut = g_strdup_printf("%s/e2e-save-cut.img", IMAGE_DIR);
    g_autofree char *real = fph_host_path(a, path);
    g_autofree char *real_cut = fph_host_path(a, cut);
    g_autofree char *errout = NULL;
    g_autofree char *data = NULL;
    const char *const hint[] = {
        "--free-page-hint", "--free-page-hint-wait", HINT_WAIT, NULL
    };
    bool running = true;
    gsize len = 0;
    bool ok;

    ok = save_to(a, name, path, hint, &errout) == 0 &&
         g_file_get_contents(real, &data, &len, &err) &&
         g_file_set_contents(real_cut, data, len / 2, &err);
    if (!CHECK(ok, "%s: saved with --free-page-hint; a copy cut to %" G_GSIZE_FORMAT
               " of its %" G_GSIZE_FORMAT " bytes%s%s", name, len / 2, len,
               errout && *errout ? ": " : "", errout ? g_strstrip(errout) : "")) {
        unlink(real);
        return;
    }
    g_clear_pointer(&data, g_free);
    g_clear_pointer(&errout, g_free);
    ok = fph_virsh(a, NULL, &errout, "restore", cut, NULL) != 0 &&
         fph_domain_listed(a, name, &running, NULL) && !running;
    tap(ok, NULL, "%s: virsh restore of the cut image fails, nothing runs: %s",
        name, errout ? g_strstrip(errout) : "(no error)");
    unlink(real_cut);
    ok = fph_virsh(a, NULL, NULL, "restore", path, NULL) == 0 &&
         fph_guest_wait_agent_on(a, name, 300, &err);
    CHECK(ok, "%s: virsh restore of the whole image", name);
    unlink(real);
    runs_intact(a, name, seed, "the restore of the whole image");
}

/*
 * Host shutdown through the libvirt-guests service, run by hand: with
 * ON_BOOT=start, ON_SHUTDOWN=suspend, FREE_PAGE_HINT=1 and
 * FREE_PAGE_HINT_WAIT in its configuration (/etc/default/libvirt-guests
 * on Debian), `libvirt-guests.sh stop` makes a managed save of the
 * guest with hints (libvirt patch "tools: libvirt-guests: Add
 * FREE_PAGE_HINT"), and `libvirt-guests.sh start` starts it from that
 * save with its pattern.  The configuration is restored afterwards.
 */
#define GUESTS_SCRIPT "/usr/lib/libvirt/libvirt-guests.sh"
#define GUESTS_CONF "/etc/default/libvirt-guests"
static void
check_libvirt_guests(FphHost *a, const char *name, const char *seed)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *conf = fph_host_path(a, GUESTS_CONF);
    g_autofree char *saved = NULL;
    g_autofree char *added = NULL;
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    g_autofree char *info = NULL;
    const char *const stop[] = { GUESTS_SCRIPT, "stop", NULL };
    const char *const start[] = { GUESTS_SCRIPT, "start", NULL };
    bool had_conf = g_file_get_contents(conf, &saved, NULL, NULL);
    guint64 bytes = 0;
    bool ok;

    /* Debian's defaults are ON_BOOT=ignore and ON_SHUTDOWN=shutdown */
    added = g_strdup_printf("%s\n# e2e-save\nON_BOOT=start\nON_SHUTDOWN=suspend\n"
                            "PARALLEL_SHUTDOWN=0\nFREE_PAGE_HINT=1\n"
                            "FREE_PAGE_HINT_WAIT=" HINT_WAIT "\n",
                            saved ? saved : "");
    ok = fph_guest_run(a, name, GUEST("dirty-free", FREED_MIB, seed), 0, 900,
                       NULL, &err) &&
         g_file_set_contents(conf, added, -1, &err);
    if (!CHECK(ok, "%s writes then frees 1 GiB again; " GUESTS_CONF " of host "
               "A asks for suspend with FREE_PAGE_HINT=1", name)) {
        return;
    }
    ok = fph_host_run(a, stop, &out, &errout) == 0 &&
         out && strstr(out, "Suspending") && !strstr(out, "retrying") &&
         fph_virsh(a, &info, NULL, "dominfo", name, NULL) == 0 &&
         strstr(info, "Managed save:   yes") && strstr(info, "shut off");
    tap(ok, NULL, "%s: libvirt-guests.sh stop made a managed save with hints: "
        "%s%s", name, out ? g_strstrip(out) : "",
        errout && *g_strstrip(errout) ? errout : "");
    if (ok) {
        ok = completed_hinted_bytes(a, name, &bytes, &err);
        CHECK(ok && bytes >= MIN_SAVED_BYTES, "%s: that managed save hinted %"
              G_GUINT64_FORMAT " MiB (at least %llu)", name, bytes >> 20,
              MIN_SAVED_BYTES >> 20);
    }
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&errout, g_free);
    ok = fph_host_run(a, start, &out, &errout) == 0 &&
         fph_guest_wait_agent_on(a, name, 300, &err) &&
         verify_pattern(a, name, seed, &err);
    CHECK(ok, "%s: libvirt-guests.sh start started it from the managed save; "
          "all 256 MiB of the pattern verify%s%s", name, out ? ": " : "",
          out ? g_strstrip(out) : "");
    if (had_conf) {
        g_file_set_contents(conf, saved, -1, NULL);
    } else {
        unlink(conf);
    }
}

/*
 * Host shutdown by the daemon itself: qemu.conf of host A gets
 * auto_shutdown_try_save = "persistent" and auto_save_free_page_hint = 1
 * (libvirt patch "qemu: Add auto_save_free_page_hint to qemu.conf"), and
 * `virt-admin daemon-shutdown --preserve` makes the daemon save its
 * running domains before it exits: the hinted guest with hints, and a
 * second guest without freePageHint, for which the flag is refused, the
 * usual way (the daemon's log says so, and only for it).  The images are
 * in libvirt's managed save directory; the hinted one holds less than the
 * 1 GiB the guest wrote and freed would add (with hints it is the pattern
 * and the kernel, about 520 MiB, without them more than 1.3 GiB: 500 MiB
 * of margin on either side).  With qemu.conf as before, the daemon is
 * started again as after a boot of the host, and auto_shutdown_restore
 * (on by default) starts both guests from their saves; the pattern
 * verifies in each.
 */
#define PLAIN_NAME "e2e-save-plain"
#define SAVE_DIR "/var/lib/libvirt/qemu/save"
#define HINTED_IMAGE_MAX (1024ULL << 20)
static void
check_auto_shutdown(FphLab *lab, FphHost *a, const char *name, const char *seed)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *conf = fph_host_path(a, "/etc/libvirt/qemu.conf");
    g_autofree char *logpath = fph_host_path(a, "/var/log/libvirt/libvirtd.log");
    g_autofree char *image = g_strdup_printf(SAVE_DIR "/%s.save", name);
    g_autofree char *plain_image = g_strdup_printf(SAVE_DIR "/%s.save", PLAIN_NAME);
    g_autofree char *autostarted = fph_host_path(a, "/run/libvirt/qemu/autostarted");
    g_autofree char *saved = NULL;
    g_autofree char *added = NULL;
    g_autofree char *log = NULL;
    g_autofree char *errout = NULL;
    g_autofree char *fallback = NULL;
    g_autofree char *plain_fallback = NULL;
    const char *const shutdown[] = {
        "/usr/bin/virt-admin", "-c", "libvirtd:///system", "daemon-shutdown",
        "--preserve", NULL
    };
    guint64 size = 0;
    guint64 allocated = 0;
    gsize log_start = 0;
    int status;
    bool killed = false;
    bool ok;

    ok = g_file_get_contents(conf, &saved, NULL, &err) &&
         define_and_start(lab, a, PLAIN_NAME, 768, false, &err) &&
         fill_and_free(a, PLAIN_NAME, seed, "128", &err) &&
         fph_guest_run(a, name, GUEST("dirty-free", FREED_MIB, seed), 0, 900,
                       NULL, &err);
    if (!CHECK(ok, "%s (768 MiB, no freePageHint) runs beside %s, both with "
               "the pattern; %s writes then frees 1 GiB again", PLAIN_NAME,
               name, name)) {
        goto cleanup;
    }
    added = g_strdup_printf("%s\n# e2e-save\nauto_shutdown_try_save = \"persistent\"\n"
                            "auto_save_free_page_hint = 1\n"
                            "auto_shutdown_restore = 1\n", saved);
    if (g_file_get_contents(logpath, &log, &log_start, NULL)) {
        g_clear_pointer(&log, g_free);
    }
    ok = g_file_set_contents(conf, added, -1, &err) &&
         fph_lab_restart_daemon(lab, a, &killed, &err);
    if (!CHECK(ok, "host A: qemu.conf asks for managed saves with hints at "
               "shutdown; libvirtd restarted%s", killed ? " (killed)" : "")) {
        goto cleanup;
    }
    /* The daemon closes the connection as it exits, before virt-admin
     * reads a reply: virt-admin then fails with "End of file".  Any
     * other failure means the daemon was not asked to shut down. */
    status = fph_host_run(a, shutdown, NULL, &errout);
    ok = (status == 0 || (errout && strstr(errout, "End of file"))) &&
         fph_lab_wait_daemon_exit(a, 600);
    tap(ok, NULL, "host A: virt-admin daemon-shutdown --preserve; libvirtd "
        "saved its domains and exited%s%s", errout && *g_strstrip(errout) ? ": " : "",
        errout ? errout : "");
    if (!ok) {
        goto cleanup;
    }
    fallback = g_strdup_printf("unable to perform managed save of '%s' with "
                               "free page hints", name);
    plain_fallback = g_strdup_printf("unable to perform managed save of '%s' "
                                     "with free page hints", PLAIN_NAME);
    ok = g_file_get_contents(logpath, &log, NULL, &err) &&
         strlen(log) >= log_start &&
         !strstr(log + log_start, fallback) &&
         strstr(log + log_start, plain_fallback);
    CHECK(ok, "host A's libvirtd.log: %s was saved with hints, %s without "
          "(the flag refused, saved the usual way)", name, PLAIN_NAME);
    ok = image_size(a, image, &size, &allocated, &err) && size < HINTED_IMAGE_MAX &&
         image_size(a, plain_image, &size, &allocated, &err);
    CHECK(ok, "%s: managed save images of both, %s's below %llu MiB", SAVE_DIR,
          name, HINTED_IMAGE_MAX >> 20);

cleanup:
    if (saved) {
        g_file_set_contents(conf, saved, -1, NULL);
    }
    /* The daemon restores what auto_shutdown_restore marked only when it
     * autostarts, once per boot of the host: the first start after a boot
     * finds no /run/libvirt/qemu/autostarted (virDriverShouldAutostart())
     * and leaves it there.  Remove it, as a boot empties /run. */
    unlink(autostarted);
    ok = fph_lab_restart_daemon(lab, a, &killed, &err) &&
         fph_guest_wait_agent_on(a, name, 300, &err) &&
         verify_pattern(a, name, seed, &err) &&
         fph_guest_wait_agent_on(a, PLAIN_NAME, 300, &err) &&
         verify_pattern(a, PLAIN_NAME, seed, &err);
    CHECK(ok, "host A: libvirtd started again with qemu.conf as before; both "
          "guests restored from their saves, the pattern verifies in each");
    fph_virsh(a, NULL, NULL, "destroy", PLAIN_NAME, NULL);
    fph_virsh(a, NULL, NULL, "undefine", "--managed-save", PLAIN_NAME, NULL);
}

int
main(void)
{
    /* Not freed at the end of main: the exit handler may still need it. */
    FphLab *lab = fph_lab_new();
    g_autoptr(GError) err = NULL;
    FphHost *a;
    const char *name = "e2e-save";
    const char *seed = "1402";

    e2e_begin();
    if (!e2e_lab_up(lab)) {
        return 1;
    }
    a = fph_lab_host(lab, "A");

    if (CHECK(define_and_start(lab, a, name, GUEST_MIB, true, &err),
              "%s: defined with freePageHint='on' and started on host A", name) &&
        CHECK(fill_and_free(a, name, seed, FREED_MIB, &err),
              "%s fills 256 MiB with pattern seed %s, writes then frees 1 GiB",
              name, seed)) {
        check_refusals(lab, name, seed);
        check_saves(lab, name, seed);
        if (check_managed_save_params(lab, name, seed)) {
            check_snapshots(lab, name, seed);
            fault_no_driver(a, name, seed);
            fault_abort_in_wait(a, name, seed);
            fault_enospc(a, name, seed);
            fault_truncated(a, name, seed);
            check_libvirt_guests(a, name, seed);
            check_auto_shutdown(lab, a, name, seed);
        } else {
            bool killed = false;

            /* the domain's lock is lost: only a new daemon can destroy
             * it (SIGKILL after 60 s if SIGTERM does not end it) */
            CHECK(fph_lab_restart_daemon(lab, a, &killed, &err),
                  "host A: libvirtd restarted to end the suite%s",
                  killed ? " (killed)" : "");
        }
    }
    fph_virsh(a, NULL, NULL, "destroy", name, NULL);
    fph_virsh(a, NULL, NULL, "undefine", "--managed-save",
              "--snapshots-metadata", name, NULL);

    return e2e_end(lab);
}
