/*
 * fphlab: the two-host lab of fph and the helpers its tests share.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include "fphlab.h"
#include "fph-config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

G_DEFINE_QUARK(fph-lab-error-quark, fph_lab_error)

/* The libvirt directories of the prefix that each host gets its own copy
 * of, and the name of that copy below the host's state dir. */
static const struct {
    const char *prefix_path;
    const char *host_path;
} fph_host_dirs[] = {
    { "etc/libvirt", "etc" },
    { "var/run/libvirt", "run" },
    { "var/lib/libvirt", "lib" },
    { "var/cache/libvirt", "cache" },
    { "var/log/libvirt", "log" },
};

static void
fph_quiet_libvirt(void *opaque G_GNUC_UNUSED, virErrorPtr err G_GNUC_UNUSED)
{
}

static const char *
env_or(const char *name, const char *fallback)
{
    const char *v = g_getenv(name);

    return v && *v ? v : fallback;
}

FphLab *
fph_lab_new(void)
{
    FphLab *lab = g_new0(FphLab, 1);
    size_t i;

    virSetErrorFunc(NULL, fph_quiet_libvirt);
    lab->prefix = g_strdup(env_or("FPH_PREFIX", FPH_DEFAULT_PREFIX));
    lab->state = g_strdup(env_or("FPH_LAB_DIR", FPH_DEFAULT_BUILD "/lab"));
    lab->guest = g_strdup(env_or("FPH_GUEST_DIR", FPH_DEFAULT_BUILD "/guest"));
    lab->logs = g_strdup(env_or("FPH_LAB_LOGS", FPH_DEFAULT_BUILD "/lab-logs"));
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        FphHost *h = &lab->hosts[i];

        h->name[0] = 'A' + i;
        h->dir = g_build_filename(lab->state, h->name, NULL);
        h->uri = g_strdup_printf("qemu:///system?socket=%s/run/libvirt-sock",
                                 h->dir);
        h->migrate_uri = g_strdup("tcp://127.0.0.1");
    }
    return lab;
}

void
fph_lab_free(FphLab *lab)
{
    size_t i;

    if (!lab) {
        return;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        g_free(lab->hosts[i].dir);
        g_free(lab->hosts[i].uri);
        g_free(lab->hosts[i].migrate_uri);
    }
    g_free(lab->prefix);
    g_free(lab->state);
    g_free(lab->guest);
    g_free(lab->logs);
    g_free(lab->guest_append);
    g_free(lab);
}

FphHost *
fph_lab_host(FphLab *lab, const char *name)
{
    size_t i;

    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        if (g_str_equal(lab->hosts[i].name, name)) {
            return &lab->hosts[i];
        }
    }
    return NULL;
}

/* Start time of PID in clock ticks since boot, 0 if it does not run. */
static unsigned long long
proc_starttime(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    g_auto(GStrv) fields = NULL;
    char *p;

    if (pid <= 0 || !g_file_get_contents(path, &stat, NULL, NULL)) {
        return 0;
    }
    /* Fields after the command name, which may hold spaces: state is the
     * first, starttime the 20th. */
    p = strrchr(stat, ')');
    if (!p) {
        return 0;
    }
    fields = g_strsplit(p + 2, " ", 0);
    if (g_strv_length(fields) < 20 || fields[0][0] == 'Z') {
        return 0;
    }
    return g_ascii_strtoull(fields[19], NULL, 10);
}

static bool
host_running(FphHost *h)
{
    return h->pid > 0 && h->starttime != 0 &&
           proc_starttime(h->pid) == h->starttime;
}

static char *
host_record_path(FphHost *h)
{
    return g_build_filename(h->dir, "libvirtd.lab", NULL);
}

static void
host_load_record(FphHost *h)
{
    g_autofree char *path = host_record_path(h);
    g_autofree char *text = NULL;
    long long pid = 0;

    h->pid = 0;
    h->starttime = 0;
    if (g_file_get_contents(path, &text, NULL, NULL) &&
        sscanf(text, "%lld %llu", &pid, &h->starttime) == 2) {
        h->pid = (pid_t)pid;
    }
}

static int
rm_entry(const char *path, const struct stat *sb G_GNUC_UNUSED,
         int flag G_GNUC_UNUSED, struct FTW *ftw G_GNUC_UNUSED)
{
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static bool
rm_rf(const char *path, GError **error)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot remove %s: %s", path,
                    g_strerror(errno));
        return false;
    }
    return true;
}

/* Directories of the prefix's install are recreated below the host's own
 * copy (libvirt expects, for example, log/qemu to exist). */
static const char *skeleton_from;
static const char *skeleton_to;

static int
skeleton_entry(const char *path, const struct stat *sb G_GNUC_UNUSED,
               int flag, struct FTW *ftw G_GNUC_UNUSED)
{
    g_autofree char *dst = NULL;

    if (flag != FTW_D) {
        return 0;
    }
    dst = g_strconcat(skeleton_to, path + strlen(skeleton_from), NULL);
    return g_mkdir_with_parents(dst, 0755) < 0 ? -1 : 0;
}

static bool
copy_skeleton(const char *from, const char *to, GError **error)
{
    skeleton_from = from;
    skeleton_to = to;
    if (nftw(from, skeleton_entry, 16, FTW_PHYS) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot recreate the directories of %s in %s: %s",
                    from, to, g_strerror(errno));
        return false;
    }
    return true;
}

static bool
write_file(const char *path, const char *text, GError **error)
{
    return g_file_set_contents(path, text, -1, error);
}

static bool
host_write_config(FphLab *lab, FphHost *h, unsigned int index, GError **error)
{
    g_autofree char *etc = g_build_filename(h->dir, "etc", NULL);
    g_autofree char *daemon_conf = g_build_filename(etc, "libvirtd.conf", NULL);
    g_autofree char *qemu_conf = g_build_filename(etc, "qemu.conf", NULL);
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *daemon = NULL;
    g_autofree char *qemu = NULL;

    /* A random host UUID: libvirt rejects ones like 1111...; both hosts
     * need different ones, or migration refuses "the same host". */
    daemon = g_strdup_printf(
        "# fph lab host %s\n"
        "host_uuid = \"%s\"\n"
        "auth_unix_rw = \"none\"\n"
        "auth_unix_ro = \"none\"\n"
        "unix_sock_rw_perms = \"0700\"\n"
        "log_filters = \"1:qemu.qemu_migration 1:qemu.qemu_monitor 1:qemu.qemu_process\"\n"
        "log_outputs = \"3:file:%s/log/libvirtd.log\"\n",
        h->name, uuid, h->dir);
    /* No virtlogd (stdio to files), no security driver, no cgroups or
     * private /dev: the lab is a test bed on one machine. */
    qemu = g_strdup_printf(
        "# fph lab host %s\n"
        "stdio_handler = \"file\"\n"
        "security_driver = \"none\"\n"
        "namespaces = [ ]\n"
        "cgroup_controllers = [ ]\n"
        "user = \"root\"\n"
        "group = \"root\"\n"
        "dynamic_ownership = 0\n"
        "remember_owner = 0\n"
        "migration_port_min = %u\n"
        "migration_port_max = %u\n",
        h->name, 49152 + index * 32, 49152 + index * 32 + 31);
    (void)lab;
    return write_file(daemon_conf, daemon, error) &&
           write_file(qemu_conf, qemu, error);
}

/* In the child: the host's own mount namespace, then libvirtd. */
G_GNUC_NORETURN static void
host_exec_daemon(FphLab *lab, FphHost *h)
{
    g_autofree char *out = g_build_filename(h->dir, "log", "libvirtd.stdout", NULL);
    g_autofree char *conf = g_build_filename(h->dir, "etc", "libvirtd.conf", NULL);
    g_autofree char *pidfile = g_build_filename(h->dir, "libvirtd.pid", NULL);
    g_autofree char *daemon = g_build_filename(lab->prefix, "sbin", "libvirtd", NULL);
    size_t i;
    int fd;

    setsid();
    fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
    }
    if (unshare(CLONE_NEWNS) < 0) {
        fprintf(stderr, "fph-lab: unshare(CLONE_NEWNS): %s\n", strerror(errno));
        _exit(127);
    }
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fprintf(stderr, "fph-lab: making / private: %s\n", strerror(errno));
        _exit(127);
    }
    for (i = 0; i < G_N_ELEMENTS(fph_host_dirs); i++) {
        g_autofree char *src = g_build_filename(h->dir, fph_host_dirs[i].host_path, NULL);
        g_autofree char *dst = g_build_filename(lab->prefix, fph_host_dirs[i].prefix_path, NULL);

        if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
            fprintf(stderr, "fph-lab: bind %s on %s: %s\n", src, dst,
                    strerror(errno));
            _exit(127);
        }
    }
    execl(daemon, "libvirtd", "-f", conf, "-p", pidfile, (char *)NULL);
    fprintf(stderr, "fph-lab: exec %s: %s\n", daemon, strerror(errno));
    _exit(127);
}

static char *
tail_of_file(const char *path, gsize max)
{
    g_autofree char *text = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &text, &len, NULL)) {
        return g_strdup("(no log)");
    }
    return g_strdup(len > max ? text + len - max : text);
}

/* What the host's libvirtd said about why it did not come up: the end of
 * its standard output and error, and the last errors of its log (where
 * libvirtd reports, for example, a socket path too long). */
static char *
host_daemon_errors(FphHost *h)
{
    g_autofree char *out = g_build_filename(h->dir, "log", "libvirtd.stdout", NULL);
    g_autofree char *logpath = g_build_filename(h->dir, "log", "libvirtd.log", NULL);
    g_autofree char *tail = tail_of_file(out, 2000);
    g_autofree char *logtext = NULL;
    g_autofree char *joined = NULL;
    g_autoptr(GPtrArray) errors = g_ptr_array_new();
    g_auto(GStrv) lines = NULL;
    size_t i;

    if (g_file_get_contents(logpath, &logtext, NULL, NULL)) {
        lines = g_strsplit(logtext, "\n", 0);
        for (i = 0; lines[i]; i++) {
            if (strstr(lines[i], " error : ")) {
                g_ptr_array_add(errors, lines[i]);
            }
        }
    }
    /* the last six */
    if (errors->len > 6) {
        g_ptr_array_remove_range(errors, 0, errors->len - 6);
    }
    g_ptr_array_add(errors, NULL);
    joined = g_strjoinv("\n", (char **)errors->pdata);
    return g_strdup_printf("%s\nlast errors in %s:\n%s", *tail ? tail : "(no output)",
                           logpath, *joined ? joined : "(none)");
}

static bool
host_start(FphLab *lab, FphHost *h, unsigned int index, GError **error)
{
    g_autofree char *record = host_record_path(h);
    g_autofree char *text = NULL;
    virConnectPtr conn = NULL;
    size_t i;
    pid_t pid;
    int tries;

    for (i = 0; i < G_N_ELEMENTS(fph_host_dirs); i++) {
        g_autofree char *dir = g_build_filename(h->dir, fph_host_dirs[i].host_path, NULL);
        g_autofree char *dst = g_build_filename(lab->prefix, fph_host_dirs[i].prefix_path, NULL);

        if (g_mkdir_with_parents(dir, 0755) < 0 ||
            g_mkdir_with_parents(dst, 0755) < 0) {
            g_set_error(error, FPH_LAB_ERROR, 0, "cannot create %s or %s: %s",
                        dir, dst, g_strerror(errno));
            return false;
        }
        if (!copy_skeleton(dst, dir, error)) {
            return false;
        }
    }
    if (!host_write_config(lab, h, index, error)) {
        return false;
    }

    pid = fork();
    if (pid < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "fork: %s", g_strerror(errno));
        return false;
    }
    if (pid == 0) {
        host_exec_daemon(lab, h);
    }
    h->pid = pid;
    /* The record is written before the daemon is known to be up, so that a
     * teardown after a failed start still finds it. */
    for (tries = 0; tries < 100 && h->starttime == 0; tries++) {
        h->starttime = proc_starttime(pid);
        if (h->starttime == 0) {
            g_usleep(10 * 1000);
        }
    }
    text = g_strdup_printf("%d %llu\n", (int)pid, h->starttime);
    if (!write_file(record, text, error)) {
        return false;
    }

    for (tries = 0; tries < 600; tries++) {
        int status;

        if (waitpid(pid, &status, WNOHANG) == pid) {
            g_autofree char *why = host_daemon_errors(h);

            h->pid = 0;
            g_set_error(error, FPH_LAB_ERROR, 0,
                        "libvirtd of host %s exited during start-up:\n%s",
                        h->name, why);
            return false;
        }
        conn = virConnectOpen(h->uri);
        if (conn) {
            virConnectClose(conn);
            return true;
        }
        g_usleep(100 * 1000);
    }
    {
        g_autofree char *why = host_daemon_errors(h);

        g_set_error(error, FPH_LAB_ERROR, 0,
                    "libvirtd of host %s did not answer on %s within 60 s:\n%s",
                    h->name, h->uri, why);
    }
    return false;
}

bool
fph_lab_up(FphLab *lab, GError **error)
{
    g_autofree char *daemon = g_build_filename(lab->prefix, "sbin", "libvirtd", NULL);
    size_t i;

    if (geteuid() != 0) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "the lab needs root (mount namespaces, libvirtd)");
        return false;
    }
    if (!g_file_test(daemon, G_FILE_TEST_IS_EXECUTABLE)) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "%s is missing: build first (./fph build)", daemon);
        return false;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        host_load_record(&lab->hosts[i]);
        if (host_running(&lab->hosts[i])) {
            g_set_error(error, FPH_LAB_ERROR, 0,
                        "a lab is already up in %s (host %s, libvirtd pid %d): "
                        "run 'fph-lab down' first", lab->state,
                        lab->hosts[i].name, (int)lab->hosts[i].pid);
            return false;
        }
    }
    if (!rm_rf(lab->state, error)) {
        return false;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        if (!host_start(lab, &lab->hosts[i], i, error)) {
            return false;
        }
    }
    return true;
}

/* Kill the QEMU processes whose pid files the host's libvirtd left, if
 * they still run our QEMU binary. */
static void
host_kill_qemus(FphLab *lab, FphHost *h)
{
    g_autofree char *dir = g_build_filename(h->dir, "run", "qemu", NULL);
    g_autofree char *qemu = g_build_filename(lab->prefix, "bin", "qemu-system-x86_64", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    if (!d) {
        return;
    }
    while ((name = g_dir_read_name(d))) {
        g_autofree char *path = NULL;
        g_autofree char *text = NULL;
        g_autofree char *exe = NULL;
        g_autofree char *link = NULL;
        long long pid;

        if (!g_str_has_suffix(name, ".pid")) {
            continue;
        }
        path = g_build_filename(dir, name, NULL);
        if (!g_file_get_contents(path, &text, NULL, NULL) ||
            (pid = g_ascii_strtoll(text, NULL, 10)) <= 0) {
            continue;
        }
        link = g_strdup_printf("/proc/%lld/exe", pid);
        exe = g_file_read_link(link, NULL);
        if (exe && g_str_equal(exe, qemu)) {
            g_printerr("fph-lab: host %s: killing QEMU pid %lld left by libvirtd\n",
                       h->name, pid);
            kill((pid_t)pid, SIGKILL);
        }
    }
}

static void
host_stop(FphLab *lab, FphHost *h)
{
    virConnectPtr conn;
    virDomainPtr *doms = NULL;
    int n;
    int i;

    host_load_record(h);
    if (host_running(h)) {
        conn = virConnectOpen(h->uri);
        if (conn) {
            n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
            for (i = 0; i < n; i++) {
                virDomainDestroy(doms[i]);
                virDomainFree(doms[i]);
            }
            free(doms);
            virConnectClose(conn);
        }
        kill(h->pid, SIGTERM);
        for (i = 0; i < 150 && host_running(h); i++) {
            waitpid(h->pid, NULL, WNOHANG);
            g_usleep(100 * 1000);
        }
        if (host_running(h)) {
            g_printerr("fph-lab: host %s: libvirtd pid %d ignored SIGTERM, killing\n",
                       h->name, (int)h->pid);
            kill(h->pid, SIGKILL);
        }
        waitpid(h->pid, NULL, WNOHANG);
    }
    host_kill_qemus(lab, h);
    h->pid = 0;
    h->starttime = 0;
}

bool
fph_lab_restart_host(FphLab *lab, FphHost *host,
                     bool (*while_stopped)(FphHost *host, void *data,
                                           GError **error),
                     void *data, GError **error)
{
    host_stop(lab, host);
    if (while_stopped && !while_stopped(host, data, error)) {
        return false;
    }
    return host_start(lab, host, host - lab->hosts, error);
}

bool
fph_lab_restart_daemon(FphLab *lab, FphHost *host, bool *killed,
                       GError **error)
{
    int i;

    *killed = false;
    host_load_record(host);
    if (host_running(host)) {
        kill(host->pid, SIGTERM);
        for (i = 0; i < 600 && host_running(host); i++) {
            waitpid(host->pid, NULL, WNOHANG);
            g_usleep(100 * 1000);
        }
        if (host_running(host)) {
            kill(host->pid, SIGKILL);
            *killed = true;
            for (i = 0; i < 100 && host_running(host); i++) {
                waitpid(host->pid, NULL, WNOHANG);
                g_usleep(100 * 1000);
            }
        }
        waitpid(host->pid, NULL, WNOHANG);
    }
    host->pid = 0;
    host->starttime = 0;
    return host_start(lab, host, host - lab->hosts, error);
}

pid_t
fph_host_qemu_pid(FphHost *host, const char *dom)
{
    g_autofree char *name = g_strdup_printf("%s.pid", dom);
    g_autofree char *path = g_build_filename(host->dir, "run", "qemu", name, NULL);
    g_autofree char *text = NULL;
    long long pid;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        (pid = g_ascii_strtoll(text, NULL, 10)) <= 0 || kill((pid_t)pid, 0) < 0) {
        return 0;
    }
    return (pid_t)pid;
}

bool
fph_lab_down(FphLab *lab, bool keep_logs, GError **error)
{
    size_t i;

    if (!g_file_test(lab->state, G_FILE_TEST_IS_DIR)) {
        return true;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        host_stop(lab, &lab->hosts[i]);
    }
    if (keep_logs) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
        g_autofree char *dest = g_build_filename(lab->logs, stamp, NULL);

        if (g_mkdir_with_parents(lab->logs, 0755) < 0 ||
            rename(lab->state, dest) < 0) {
            g_set_error(error, FPH_LAB_ERROR, 0, "cannot keep the logs in %s: %s",
                        dest, g_strerror(errno));
            return false;
        }
        g_printerr("fph-lab: logs of both hosts (daemons, QEMUs, consoles) kept in %s\n",
                   dest);
        return true;
    }
    return rm_rf(lab->state, error);
}

bool
fph_lab_status(FphLab *lab)
{
    bool all = true;
    size_t i;

    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        FphHost *h = &lab->hosts[i];

        host_load_record(h);
        if (host_running(h)) {
            printf("host %s: up, libvirtd pid %d, %s\n", h->name, (int)h->pid, h->uri);
        } else {
            printf("host %s: down\n", h->name);
            all = false;
        }
    }
    return all;
}

static FphLab *teardown_lab;

static void
teardown_now(void)
{
    FphLab *lab = teardown_lab;
    g_autoptr(GError) err = NULL;

    teardown_lab = NULL;
    if (lab && !fph_lab_down(lab, true, &err)) {
        g_printerr("fph-lab: teardown: %s\n", err->message);
    }
}

static void
teardown_signal(int sig)
{
    g_printerr("fph-lab: signal %d: tearing the lab down\n", sig);
    teardown_now();
    _exit(128 + sig);
}

void
fph_lab_teardown_on_exit(FphLab *lab)
{
    struct sigaction sa = { .sa_handler = teardown_signal };

    teardown_lab = lab;
    atexit(teardown_now);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void
fph_lab_teardown_done(void)
{
    teardown_lab = NULL;
}

int
fph_virshv(FphHost *host, const char *const *argv, char **out, char **err)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) gerr = NULL;
    g_autofree char *o = NULL;
    g_autofree char *e = NULL;
    g_auto(GStrv) env = g_get_environ();
    const char *prefix = env_or("FPH_PREFIX", FPH_DEFAULT_PREFIX);
    int status;
    size_t i;

    g_ptr_array_add(args, g_build_filename(prefix, "bin", "virsh", NULL));
    g_ptr_array_add(args, g_strdup("-q"));
    g_ptr_array_add(args, g_strdup("-c"));
    g_ptr_array_add(args, g_strdup(host->uri));
    for (i = 0; argv[i]; i++) {
        g_ptr_array_add(args, g_strdup(argv[i]));
    }
    g_ptr_array_add(args, NULL);
    env = g_environ_setenv(env, "LC_ALL", "C", TRUE);
    /* stdin from /dev/null: virsh must never wait for an answer (virsh
     * edit asks whether to edit again after an error on a terminal) */
    if (!g_spawn_sync(NULL, (char **)args->pdata, env,
                      G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, &o, &e, &status,
                      &gerr)) {
        if (err) {
            *err = g_strdup(gerr->message);
        }
        return -1;
    }
    if (out) {
        *out = g_steal_pointer(&o);
    }
    if (err) {
        *err = g_steal_pointer(&e);
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return -1;
}

int
fph_virsh(FphHost *host, char **out, char **err, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    const char *arg;
    va_list ap;

    va_start(ap, err);
    while ((arg = va_arg(ap, const char *))) {
        g_ptr_array_add(argv, (gpointer)arg);
    }
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    return fph_virshv(host, (const char *const *)argv->pdata, out, err);
}

virConnectPtr
fph_host_connect(FphHost *host, GError **error)
{
    virConnectPtr conn = virConnectOpen(host->uri);

    if (!conn) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot connect to host %s (%s): %s",
                    host->name, host->uri, virGetLastErrorMessage());
    }
    return conn;
}

char *
fph_host_dconnuri(FphHost *host)
{
    return g_str_has_prefix(host->uri, "qemu://") ?
           g_strconcat("qemu+unix://", host->uri + strlen("qemu://"), NULL) :
           g_strdup(host->uri);
}

char *
fph_guest_xml(FphLab *lab, const char *name, unsigned int mem_mib,
              bool free_page_hint)
{
    /* What virt-install makes for a direct kernel boot, less what the
     * lab has no use for (disks, network): machine q35 with ACPI (Debian's
     * cloud kernel flavour hangs at boot without it).  No <iothreads> and
     * no <driver iothread>: libvirt assigns the IOThread free page hinting
     * needs itself. */
    return g_strdup_printf(
        "<domain type='qemu'>\n"
        "  <name>%s</name>\n"
        "  <memory unit='MiB'>%u</memory>\n"
        "  <vcpu>1</vcpu>\n"
        "  <os>\n"
        "    <type arch='x86_64' machine='q35'>hvm</type>\n"
        "    <kernel>%s/vmlinuz</kernel>\n"
        "    <initrd>%s/initrd.img</initrd>\n"
        "    <cmdline>console=ttyS0 loglevel=6 mitigations=off%s%s</cmdline>\n"
        "  </os>\n"
        "  <features>\n"
        "    <acpi/>\n"
        "    <apic/>\n"
        "  </features>\n"
        "  <clock offset='utc'/>\n"
        "  <on_poweroff>destroy</on_poweroff>\n"
        "  <on_reboot>destroy</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <devices>\n"
        "    <emulator>%s/bin/qemu-system-x86_64</emulator>\n"
        "    <serial type='file'>\n"
        "      <source path='%s/var/log/libvirt/qemu/%s.console' append='on'/>\n"
        "    </serial>\n"
        "    <channel type='unix'>\n"
        "      <source mode='bind' path='%s/var/run/libvirt/ga-%s.sock'/>\n"
        "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
        "    </channel>\n"
        "    <memballoon model='virtio'%s/>\n"
        "  </devices>\n"
        "</domain>\n",
        name, mem_mib, lab->guest, lab->guest,
        lab->guest_append ? " " : "",
        lab->guest_append ? lab->guest_append : "",
        lab->prefix, lab->prefix, name,
        lab->prefix, name, free_page_hint ? " freePageHint='on'" : "");
}

/* The "return" member of a QMP or guest agent reply, or an error that
 * quotes the reply (an "error" member included). */
static JsonNode *
reply_return(const char *reply, const char *what, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *obj;

    if (!json_parser_load_from_data(parser, reply, -1, error)) {
        return NULL;
    }
    obj = json_node_get_object(json_parser_get_root(parser));
    if (!obj || !json_object_has_member(obj, "return")) {
        g_set_error(error, FPH_LAB_ERROR, 0, "%s reply without return: %s",
                    what, reply);
        return NULL;
    }
    return json_node_copy(json_object_get_member(obj, "return"));
}

/* Send a guest agent command; the parsed "return" member on success. */
static JsonNode *
agent_call(virDomainPtr dom, const char *cmd, int timeout_s, GError **error)
{
    g_autofree char *reply = NULL;

    reply = virDomainQemuAgentCommand(dom, cmd, timeout_s, 0);
    if (!reply) {
        g_set_error(error, FPH_LAB_ERROR, 0, "guest agent command %s failed: %s",
                    cmd, virGetLastErrorMessage());
        return NULL;
    }
    return reply_return(reply, "guest agent", error);
}

JsonNode *
fph_qmp(FphHost *host, const char *dom, const char *cmd, GError **error)
{
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;

    if (fph_virsh(host, &out, &errout, "qemu-monitor-command", dom, cmd,
                  NULL) != 0) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "virsh qemu-monitor-command %s '%s' on host %s failed: %s",
                    dom, cmd, host->name, errout ? errout : "");
        return NULL;
    }
    return reply_return(out, "QMP", error);
}

bool
fph_guest_wait_agent(virDomainPtr dom, int timeout_s, GError **error)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < end) {
        g_autoptr(GError) err = NULL;
        JsonNode *ret = agent_call(dom, "{\"execute\":\"guest-ping\"}", 5, &err);

        if (ret) {
            json_node_unref(ret);
            return true;
        }
        g_usleep(500 * 1000);
    }
    g_set_error(error, FPH_LAB_ERROR, 0,
                "the guest agent did not answer within %d s", timeout_s);
    return false;
}

void
fph_exec_clear(FphExec *res)
{
    g_clear_pointer(&res->out, g_free);
    g_clear_pointer(&res->err, g_free);
    res->exitcode = -1;
}

static char *
decode_b64_member(JsonObject *obj, const char *member)
{
    const char *b64;
    guchar *data;
    gsize len;
    char *text;

    if (!json_object_has_member(obj, member)) {
        return g_strdup("");
    }
    b64 = json_object_get_string_member(obj, member);
    data = g_base64_decode(b64, &len);
    text = g_strndup((const char *)data, len);
    g_free(data);
    return text;
}

bool
fph_guest_exec(virDomainPtr dom, const char *const *argv, int timeout_s,
               FphExec *res, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *cmd = NULL;
    JsonNode *ret;
    gint64 pid;
    gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    size_t i;

    res->exitcode = -1;
    res->out = NULL;
    res->err = NULL;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, "guest-exec");
    json_builder_set_member_name(b, "arguments");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, argv[0]);
    json_builder_set_member_name(b, "arg");
    json_builder_begin_array(b);
    for (i = 1; argv[i]; i++) {
        json_builder_add_string_value(b, argv[i]);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "capture-output");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_end_object(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    cmd = json_generator_to_data(gen, NULL);

    ret = agent_call(dom, cmd, 30, error);
    if (!ret) {
        return false;
    }
    pid = json_object_get_int_member(json_node_get_object(ret), "pid");
    json_node_unref(ret);

    while (g_get_monotonic_time() < end) {
        g_autofree char *status = g_strdup_printf(
            "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" G_GINT64_FORMAT "}}",
            pid);
        JsonObject *obj;

        ret = agent_call(dom, status, 30, error);
        if (!ret) {
            return false;
        }
        obj = json_node_get_object(ret);
        if (json_object_get_boolean_member(obj, "exited")) {
            res->exitcode = json_object_has_member(obj, "exitcode") ?
                json_object_get_int_member(obj, "exitcode") :
                128 + json_object_get_int_member_with_default(obj, "signal", 0);
            res->out = decode_b64_member(obj, "out-data");
            res->err = decode_b64_member(obj, "err-data");
            json_node_unref(ret);
            return true;
        }
        json_node_unref(ret);
        g_usleep(200 * 1000);
    }
    g_set_error(error, FPH_LAB_ERROR, 0, "%s did not finish in the guest within %d s",
                argv[0], timeout_s);
    return false;
}

bool
fph_kv_u64(const char *text, const char *key, guint64 *value)
{
    g_autofree char *needle = g_strdup_printf("%s=", key);
    const char *p = text;

    while (p && (p = strstr(p, needle))) {
        if (p == text || p[-1] == ' ' || p[-1] == '\n') {
            char *end;

            *value = g_ascii_strtoull(p + strlen(needle), &end, 10);
            return end != p + strlen(needle);
        }
        p += strlen(needle);
    }
    return false;
}

GHashTable *
fph_jobinfo_completed(FphHost *host, const char *dom, GError **error)
{
    g_autoptr(GHashTable) info = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                      g_free, g_free);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) lines = NULL;
    size_t i;

    if (fph_virsh(host, &out, &err, "domjobinfo", "--completed", "--rawstats",
                  dom, NULL) != 0) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "virsh domjobinfo --completed %s on host %s failed: %s",
                    dom, host->name, err ? err : "");
        return NULL;
    }
    lines = g_strsplit(out, "\n", 0);
    for (i = 0; lines[i]; i++) {
        char *colon = strchr(lines[i], ':');

        if (!colon) {
            continue;
        }
        *colon = '\0';
        g_hash_table_insert(info, g_strdup(g_strstrip(lines[i])),
                            g_strdup(g_strstrip(colon + 1)));
    }
    return g_steal_pointer(&info);
}

bool
fph_jobinfo_u64(GHashTable *info, const char *field, guint64 *value)
{
    const char *v = g_hash_table_lookup(info, field);
    char *end;

    if (!v) {
        return false;
    }
    *value = g_ascii_strtoull(v, &end, 10);
    return end != v;
}

bool
fph_guest_boot(FphLab *lab, FphHost *host, const char *name,
               unsigned int mem_mib, bool free_page_hint, GError **error)
{
    g_autofree char *xml = fph_guest_xml(lab, name, mem_mib, free_page_hint);
    virConnectPtr conn = fph_host_connect(host, error);
    virDomainPtr dom;
    bool ok;

    if (!conn) {
        return false;
    }
    dom = virDomainCreateXML(conn, xml, 0);
    if (!dom) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot start %s on host %s: %s",
                    name, host->name, virGetLastErrorMessage());
        virConnectClose(conn);
        return false;
    }
    ok = fph_guest_wait_agent(dom, 300, error);
    virDomainFree(dom);
    virConnectClose(conn);
    return ok;
}

/* Domain NAME on HOST, with the connection it holds in *conn. */
static virDomainPtr
host_domain(FphHost *host, const char *name, virConnectPtr *conn,
            GError **error);

bool
fph_guest_start(FphHost *host, const char *name, GError **error)
{
    virConnectPtr conn = NULL;
    virDomainPtr dom = host_domain(host, name, &conn, error);
    bool ok;

    if (!dom) {
        return false;
    }
    ok = virDomainCreate(dom) == 0;
    if (!ok) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot start %s on host %s: %s",
                    name, host->name, virGetLastErrorMessage());
    } else {
        ok = fph_guest_wait_agent(dom, 300, error);
    }
    virDomainFree(dom);
    virConnectClose(conn);
    return ok;
}

static virDomainPtr
host_domain(FphHost *host, const char *name, virConnectPtr *conn,
            GError **error)
{
    virDomainPtr dom;

    *conn = fph_host_connect(host, error);
    if (!*conn) {
        return NULL;
    }
    dom = virDomainLookupByName(*conn, name);
    if (!dom) {
        g_set_error(error, FPH_LAB_ERROR, 0, "no domain %s on host %s: %s",
                    name, host->name, virGetLastErrorMessage());
        virConnectClose(*conn);
        *conn = NULL;
    }
    return dom;
}

bool
fph_guest_run(FphHost *host, const char *name, const char *const *argv,
              int want_exit, int timeout_s, char **out, GError **error)
{
    g_auto(FphExec) res = { .exitcode = -1 };
    virConnectPtr conn = NULL;
    virDomainPtr dom = host_domain(host, name, &conn, error);
    bool ok = false;

    if (!dom) {
        return false;
    }
    if (fph_guest_exec(dom, argv, timeout_s, &res, error)) {
        if (res.exitcode != want_exit) {
            g_autofree char *cmd = g_strjoinv(" ", (char **)argv);

            g_set_error(error, FPH_LAB_ERROR, 0,
                        "'%s' in %s on host %s exited with %d, expected %d:\n%s%s",
                        cmd, name, host->name, res.exitcode, want_exit,
                        res.out, res.err);
        } else {
            ok = true;
            if (out) {
                *out = g_steal_pointer(&res.out);
            }
        }
    }
    virDomainFree(dom);
    virConnectClose(conn);
    return ok;
}

/* The destination's libvirtd connects to the guest agent once QEMU reports
 * the agent's port open; until then agent commands fail "for now". */
bool
fph_guest_wait_agent_on(FphHost *host, const char *name, int timeout_s,
                        GError **error)
{
    virConnectPtr conn = NULL;
    virDomainPtr dom = host_domain(host, name, &conn, error);
    bool ok;

    if (!dom) {
        return false;
    }
    ok = fph_guest_wait_agent(dom, timeout_s, error);
    if (!ok) {
        g_prefix_error(error, "%s on host %s: ", name, host->name);
    }
    virDomainFree(dom);
    virConnectClose(conn);
    return ok;
}

bool
fph_domain_listed(FphHost *host, const char *name, bool *running, GError **error)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) lines = NULL;
    size_t i;

    if (fph_virsh(host, &out, &err, "list", "--all", "--name", NULL) != 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "virsh list on host %s failed: %s",
                    host->name, err);
        return false;
    }
    *running = false;
    lines = g_strsplit(out, "\n", 0);
    for (i = 0; lines[i]; i++) {
        if (g_str_equal(g_strstrip(lines[i]), name)) {
            g_autofree char *state = NULL;

            fph_virsh(host, &state, NULL, "domstate", name, NULL);
            *running = state && g_str_has_prefix(state, "running");
            return true;
        }
    }
    return false;
}

bool
fph_migrate(FphHost *from, FphHost *to, const char *name,
            const char *const *extra, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    bool running = false;
    size_t i;

    g_ptr_array_add(argv, (gpointer)"migrate");
    g_ptr_array_add(argv, (gpointer)"--live");
    for (i = 0; extra && extra[i]; i++) {
        g_ptr_array_add(argv, (gpointer)extra[i]);
    }
    g_ptr_array_add(argv, (gpointer)name);
    g_ptr_array_add(argv, to->uri);
    g_ptr_array_add(argv, to->migrate_uri);
    g_ptr_array_add(argv, NULL);
    if (fph_virshv(from, (const char *const *)argv->pdata, &out, &err) != 0) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "virsh migrate of %s from host %s to host %s failed: %s",
                    name, from->name, to->name, err);
        return false;
    }
    if (!fph_domain_listed(to, name, &running, error) || !running) {
        if (error && !*error) {
            g_set_error(error, FPH_LAB_ERROR, 0,
                        "after migration %s does not run on host %s", name, to->name);
        }
        return false;
    }
    /* A transient domain is gone; a persistent one migrated without
     * --undefinesource stays defined, shut off. */
    if (fph_domain_listed(from, name, &running, NULL) && running) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "after migration %s still runs on host %s", name, from->name);
        return false;
    }
    return fph_guest_wait_agent_on(to, name, 120, error);
}
