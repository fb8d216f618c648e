/*
 * e2e-teardown: a program that runs the lab is stopped the way ./fph
 * stops it (SIGTERM to its process group, then SIGTERM again from
 * ./fph's own handler, run_forwarding in scripts/common.sh) while it
 * migrates, and tears the lab down: no host, daemon or QEMU is left.
 *
 * The victim is this program again (--victim): like fph-bench it
 * migrates the guest GUEST_NAME from host A to B in its main thread while a
 * second thread polls the migration's statistics, and takes the lab down
 * itself when the migration ends.  Session 19 saw fph-bench stopped so
 * leave both hosts running: the second signal reached the polling thread
 * while the first one's handler was tearing the lab down, and ended the
 * program.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "e2e-common.h"

#include <signal.h>
#include <sys/wait.h>

#define GUEST_NAME "fph-teardown"
#define GUEST_MIB 1024
/* slow enough that the migration still runs when the signals come */
#define MIGRATE_MIB_S "4"
/* time for the victim to tear the lab down */
#define VICTIM_END_S 300

typedef struct {
    FphHost *host;
    gint stop;
} Poller;

static gpointer
poller_thread(gpointer opaque)
{
    Poller *p = opaque;

    while (!g_atomic_int_get(&p->stop)) {
        g_autoptr(GHashTable) info = fph_jobinfo(p->host, GUEST_NAME, false, NULL);

        g_usleep(G_USEC_PER_SEC / 5);
    }
    return NULL;
}

static int
victim_main(void)
{
    /* Not freed at the end: the exit handler may still need it. */
    FphLab *lab = fph_lab_new();
    g_autoptr(GError) err = NULL;
    FphHost *a = fph_lab_host(lab, "A");
    FphHost *b = fph_lab_host(lab, "B");
    Poller p = { .host = a };
    GThread *thread;
    g_autofree char *errout = NULL;
    int rc;

    if (!fph_lab_status_quiet(lab)) {
        g_printerr("e2e-teardown victim: the lab is not up\n");
        return 2;
    }
    fph_lab_teardown_on_exit(lab);
    thread = g_thread_new("poller", poller_thread, &p);
    rc = fph_virsh(a, NULL, &errout, "migrate", "--live", "--bandwidth",
                   MIGRATE_MIB_S, GUEST_NAME, b->remote_uri, b->migrate_uri,
                   NULL);
    g_atomic_int_set(&p.stop, 1);
    g_thread_join(thread);
    g_printerr("e2e-teardown victim: the migration ended (%d): %s\n", rc,
               errout ? g_strstrip(errout) : "");
    if (!fph_lab_down(lab, true, &err)) {
        g_printerr("e2e-teardown victim: %s\n", err->message);
        return 1;
    }
    return 0;
}

/* The processes in network namespace NS: "comm (pid), ..." or NULL.
 * With kill_them, each is killed (what a failed teardown left). */
static char *
processes_in(ino_t ns, bool kill_them)
{
    g_autoptr(GString) found = g_string_new(NULL);
    g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        char *end;
        long pid = strtol(name, &end, 10);

        if (!*end && pid > 0 && fph_proc_netns(pid) == ns) {
            g_autofree char *path = g_strdup_printf("/proc/%ld/comm", pid);
            g_autofree char *comm = NULL;

            g_file_get_contents(path, &comm, NULL, NULL);
            g_string_append_printf(found, "%s%s (%ld)", found->len ? ", " : "",
                                   comm ? g_strstrip(comm) : "?", pid);
            if (kill_them) {
                kill((pid_t)pid, SIGKILL);
            }
        }
    }
    return found->len ? g_string_free(g_steal_pointer(&found), false) : NULL;
}

static void
own_group(gpointer data G_GNUC_UNUSED)
{
    setpgid(0, 0);
}

static void
check_teardown(FphLab *lab)
{
    g_autoptr(GError) err = NULL;
    FphHost *a = fph_lab_host(lab, "A");
    const char *self[] = { "/proc/self/exe", "--victim", NULL };
    ino_t ns[FPH_LAB_NHOSTS];
    pid_t holder[FPH_LAB_NHOSTS];
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    gint64 end;
    GPid victim;
    int status = 0;
    pid_t done = 0;
    size_t i;

    if (!CHECK(fph_guest_boot(lab, a, GUEST_NAME, GUEST_MIB, true, &err),
               "%s boots on host A (1 GiB, freePageHint='on')", GUEST_NAME)) {
        return;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        holder[i] = lab->hosts[i].holder;
        ns[i] = fph_proc_netns(holder[i]);
    }
    self[0] = exe;
    /* its own process group, as ./fph's, so that the group is signalled
     * as `kill -TERM -- -PGID` signals it */
    if (!CHECK(g_spawn_async(NULL, (char **)self, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                             own_group, NULL, &victim, &err),
               "the victim (this program with --victim) starts")) {
        return;
    }
    if (!CHECK(wait_job(a, GUEST_NAME, &err),
               "the victim's migration of %s from A to B at %s MiB/s runs",
               GUEST_NAME, MIGRATE_MIB_S)) {
        kill(victim, SIGKILL);
        waitpid(victim, NULL, 0);
        return;
    }
    /* as ./fph is stopped: the group, then ./fph's handler passes its own
     * signal on */
    kill(-victim, SIGTERM);
    g_usleep(G_USEC_PER_SEC / 5);
    kill(victim, SIGTERM);

    end = g_get_monotonic_time() + VICTIM_END_S * G_USEC_PER_SEC;
    while ((done = waitpid(victim, &status, WNOHANG)) == 0 &&
           g_get_monotonic_time() < end) {
        g_usleep(G_USEC_PER_SEC / 10);
    }
    if (!tap(done == victim, NULL,
             "after SIGTERM to its group and SIGTERM again the victim ends "
             "within %d s (%s %d)", VICTIM_END_S,
             done != victim ? "still runs: killed," :
             WIFSIGNALED(status) ? "killed by signal" : "exit status",
             done != victim ? 0 :
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status))) {
        kill(victim, SIGKILL);
        waitpid(victim, NULL, 0);
    }

    CHECK(!g_file_test(lab->state, G_FILE_TEST_EXISTS),
          "the lab's state directory %s is removed", lab->state);
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        /* the holder is in its host's network namespace too */
        g_autofree char *left = ns[i] ? processes_in(ns[i], true) : NULL;

        if (!ns[i]) {
            g_set_error(&err, FPH_LAB_ERROR, 0, "the network namespace of host "
                        "%s was not found before the signals", lab->hosts[i].name);
        } else if (left) {
            g_set_error(&err, FPH_LAB_ERROR, 0, "left running (now killed): %s", left);
        }
        CHECK(ns[i] && !left,
              "host %s is gone: its holder (pid %d) and every process in its "
              "network namespace (libvirtd, virtlogd, QEMU)",
              lab->hosts[i].name, (int)holder[i]);
    }
}

int
main(int argc, char **argv)
{
    /* Not freed at the end of main: the exit handler may still need it. */
    FphLab *lab;

    if (argc == 2 && g_str_equal(argv[1], "--victim")) {
        return victim_main();
    }
    if (argc != 1) {
        fprintf(stderr, "usage: e2e-teardown (--victim: the program it stops)\n");
        return 64;
    }
    lab = fph_lab_new();
    e2e_begin();
    if (!e2e_lab_up(lab)) {
        return 1;
    }
    check_teardown(lab);
    return e2e_end(lab);
}
