/*
 * host: the lifecycle of the lab's two hosts.
 *
 * A host is a Debian 13 root file system with fph's packages installed by
 * apt (scripts/hosts.sh), run in mount, network, UTS and IPC namespaces of
 * its own.  A holder process, forked by the lab, makes those namespaces:
 * it mounts an overlay whose lower layer is the host's root file system
 * and whose upper layer is the host's state in the lab (so every run
 * starts from the installed system, and what the run changed is what the
 * logs keep), mounts /proc, /sys and a /dev of its own, pivots into the
 * overlay and waits.
 * Everything else the lab does on a host runs in the holder's namespaces
 * (host_spawn): the commands that configure its link and its TLS
 * certificates, virtlogd and libvirtd from the packages, virsh.
 *
 * The hosts are joined by a veth pair, fph0 on each side, with addresses
 * of their own on it (10.87.0.1 and .2/24); migrations and the daemons'
 * TLS connections go over it.  Clients outside the hosts (the tests'
 * programs) reach a host's libvirtd through its UNIX socket, by the path
 * /proc/<holder>/root/run/libvirt/libvirt-sock.
 *
 * The steps of docs/deploy.md that the lab performs are marked "deploy
 * step N" below.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include "fphlab.h"
#include "fph-config.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/virterror.h>

G_DEFINE_QUARK(fph-lab-error-quark, fph_lab_error)

/* The link between the hosts */
#define LINK_DEV "fph0"
#define LINK_NET "10.87.0"

/* Tearing the lab down when the program ends.  It happens once,
 * whichever comes first: fph_lab_down() called by the program, exit(),
 * or SIGINT, SIGTERM or SIGHUP.  The signal handler only writes the
 * signal's number to a pipe: a thread of its own reads it and tears the
 * lab down outside any handler (fph_lab_down() allocates, runs programs
 * and waits for them, nothing a handler may do), then ends the program.
 * A second signal during that teardown, as a shell that passes its own
 * signal on sends one (run_forwarding in scripts/common.sh), changes
 * nothing.  With the teardown in the handler itself, a second signal
 * reached another thread of the program (the one that waits for a
 * migration), whose handler found the lab taken already and ended the
 * program in the middle of the first teardown, leaving both hosts up.
 *
 * The program goes on meanwhile until the thread ends it; what it
 * starts in a host then is killed with the host (host_stop).
 * teardown_lock serializes the teardowns: the program's own
 * fph_lab_down(), the exit handler and the signal thread. */
static GRecMutex teardown_lock;
static FphLab *teardown_lab;
static int teardown_pipe[2] = { -1, -1 };

static const int teardown_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* In a child the lab forks: the signals the lab tears down on take their
 * default action again (the pipe's reader is a thread of the parent) */
static void
child_default_signals(void)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(teardown_signals); i++) {
        signal(teardown_signals[i], SIG_DFL);
    }
}

/* The environment of every program the lab runs in a host */
static const char *const host_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LC_ALL=C.UTF-8",
    NULL,
};

static void
fph_quiet_libvirt(void *opaque G_GNUC_UNUSED, virErrorPtr err G_GNUC_UNUSED)
{
}

FphLab *
fph_lab_new(void)
{
    FphLab *lab = g_new0(FphLab, 1);
    size_t i;

    virSetErrorFunc(NULL, fph_quiet_libvirt);
    lab->hosts_dir = g_strdup(fph_env_or("FPH_HOSTS_DIR", FPH_DEFAULT_BUILD "/hosts"));
    lab->state = g_strdup(fph_env_or("FPH_LAB_DIR", FPH_DEFAULT_BUILD "/lab"));
    lab->guest = g_strdup(fph_env_or("FPH_GUEST_DIR", FPH_DEFAULT_BUILD "/guest"));
    lab->logs = g_strdup(fph_env_or("FPH_LAB_LOGS", FPH_DEFAULT_BUILD "/lab-logs"));
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        FphHost *h = &lab->hosts[i];

        h->name[0] = 'A' + i;
        h->index = i;
        h->dir = g_build_filename(lab->state, h->name, NULL);
        h->addr = g_strdup_printf(LINK_NET ".%zu", i + 1);
        h->remote_uri = g_strdup_printf("qemu+tls://%s/system", h->addr);
        h->migrate_uri = g_strdup_printf("tcp://%s", h->addr);
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
        g_free(lab->hosts[i].addr);
        g_free(lab->hosts[i].uri);
        g_free(lab->hosts[i].remote_uri);
        g_free(lab->hosts[i].migrate_uri);
    }
    g_free(lab->hosts_dir);
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

FphHost *
fph_host_peer(FphLab *lab, FphHost *host)
{
    return &lab->hosts[1 - host->index];
}

char *
fph_host_path(FphHost *host, const char *path)
{
    return g_strdup_printf("/proc/%d/root%s", (int)host->holder, path);
}

static bool
proc_alive(pid_t pid, unsigned long long start)
{
    return pid > 0 && start != 0 && fph_proc_starttime(pid) == start;
}

static bool
host_up(FphHost *h)
{
    return proc_alive(h->holder, h->holder_start);
}

static bool
daemon_running(FphHost *h)
{
    return proc_alive(h->pid, h->starttime);
}

static void
host_set_uri(FphHost *h)
{
    g_free(h->uri);
    h->uri = g_strdup_printf("qemu:///system?socket=/proc/%d/root/run/libvirt/libvirt-sock",
                             (int)h->holder);
}

/* The record of a host's processes: the holder, libvirtd and virtlogd,
 * each with its start time, written when each starts, so that a teardown
 * after a failure finds them. */
static char *
host_record_path(FphHost *h)
{
    return g_build_filename(h->dir, "host.lab", NULL);
}

static bool
host_save_record(FphHost *h, GError **error)
{
    g_autofree char *path = host_record_path(h);
    g_autofree char *text = g_strdup_printf(
        "%d %llu %d %llu %d %llu\n",
        (int)h->holder, h->holder_start, (int)h->pid, h->starttime,
        (int)h->logd, h->logd_start);

    return g_file_set_contents(path, text, -1, error);
}

static void
host_load_record(FphHost *h)
{
    g_autofree char *path = host_record_path(h);
    g_autofree char *text = NULL;
    int holder = 0, pid = 0, logd = 0;

    h->holder = h->pid = h->logd = 0;
    h->holder_start = h->starttime = h->logd_start = 0;
    if (g_file_get_contents(path, &text, NULL, NULL) &&
        sscanf(text, "%d %llu %d %llu %d %llu", &holder, &h->holder_start,
               &pid, &h->starttime, &logd, &h->logd_start) == 6) {
        h->holder = holder;
        h->pid = pid;
        h->logd = logd;
    }
    host_set_uri(h);
}

/* ---- the holder ---------------------------------------------------- */

/* In the holder: report what failed on the pipe to the lab and exit */
G_GNUC_NORETURN static void
holder_fail(int fd, const char *what, const char *path)
{
    g_autofree char *msg = g_strdup_printf("%s %s: %s", what, path ? path : "",
                                           g_strerror(errno));

    if (write(fd, msg, strlen(msg)) < 0) {
        /* nothing left to tell it with */
    }
    _exit(127);
}

static void
holder_mount(int fd, const char *src, const char *dst, const char *type,
             unsigned long flags, const char *data)
{
    if (mount(src, dst, type, flags, data) < 0) {
        holder_fail(fd, "mount", dst);
    }
}

/* The gid of GROUP in the host's /etc/group, or 0 */
static gid_t
host_group(const char *lower, const char *group)
{
    g_autofree char *path = g_build_filename(lower, "etc", "group", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    size_t i;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    lines = g_strsplit(text, "\n", 0);
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ":", 4);

        if (g_strv_length(f) >= 3 && g_str_equal(f[0], group)) {
            return (gid_t)g_ascii_strtoull(f[2], NULL, 10);
        }
    }
    return 0;
}

/* The host's /dev: a tmpfs with the devices a hypervisor host has, made
 * like the machine's, owned as the host's udev rules would own them.
 * Not the machine's /dev: there /dev/kvm belongs to the machine's kvm
 * group, whose number the host's QEMU user is not in, and libvirt would
 * find KVM usable when it probes QEMU and unusable when it checks its
 * cache, and probe again on every call. */
static void
holder_dev(int fd, const char *root, const char *lower)
{
    static const struct {
        const char *name;
        mode_t mode;
        const char *group;
    } devs[] = {
        { "null", 0666, NULL }, { "zero", 0666, NULL }, { "full", 0666, NULL },
        { "random", 0666, NULL }, { "urandom", 0666, NULL },
        { "tty", 0666, NULL }, { "kvm", 0660, "kvm" },
        { "net/tun", 0666, NULL }, { "vhost-net", 0660, "kvm" },
        { "vhost-vsock", 0660, "kvm" },
    };
    g_autofree char *dev = g_build_filename(root, "dev", NULL);
    size_t i;

    holder_mount(fd, "tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755");
    for (i = 0; i < G_N_ELEMENTS(devs); i++) {
        g_autofree char *from = g_build_filename("/dev", devs[i].name, NULL);
        g_autofree char *to = g_build_filename(dev, devs[i].name, NULL);
        g_autofree char *dir = g_path_get_dirname(to);
        struct stat st;

        if (stat(from, &st) < 0 || !S_ISCHR(st.st_mode)) {
            continue;   /* the machine has no such device */
        }
        if (g_mkdir_with_parents(dir, 0755) < 0 ||
            mknod(to, S_IFCHR | devs[i].mode, st.st_rdev) < 0 ||
            chmod(to, devs[i].mode) < 0 ||
            chown(to, 0, devs[i].group ? host_group(lower, devs[i].group) : 0) < 0) {
            holder_fail(fd, "mknod", to);
        }
    }
    {
        g_autofree char *pts = g_build_filename(dev, "pts", NULL);
        g_autofree char *shm = g_build_filename(dev, "shm", NULL);
        g_autofree char *ptmx = g_build_filename(dev, "ptmx", NULL);
        g_autofree char *fdlink = g_build_filename(dev, "fd", NULL);

        if (g_mkdir_with_parents(pts, 0755) < 0 || g_mkdir_with_parents(shm, 01777) < 0) {
            holder_fail(fd, "mkdir", pts);
        }
        holder_mount(fd, "devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=620");
        holder_mount(fd, "tmpfs", shm, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
        if (symlink("pts/ptmx", ptmx) < 0 || symlink("/proc/self/fd", fdlink) < 0) {
            holder_fail(fd, "symlink", ptmx);
        }
    }
}

/* The holder: namespaces, the host's file system, then wait to be killed.
 * Writes "ok" on fd when the host's namespaces are ready. */
G_GNUC_NORETURN static void
holder_main(FphLab *lab, FphHost *h, int fd)
{
    g_autofree char *root = g_build_filename(h->dir, "root", NULL);
    g_autofree char *lower = g_build_filename(lab->hosts_dir, h->name, NULL);
    g_autofree char *upper = g_build_filename(h->dir, "upper", NULL);
    g_autofree char *work = g_build_filename(h->dir, "work", NULL);
    g_autofree char *opts = NULL;
    g_autofree char *hostname = g_strdup_printf("fph-host-%c", g_ascii_tolower(h->name[0]));
    g_autofree char *logpath = g_build_filename(h->dir, "holder.log", NULL);
    int log;

    setsid();
    child_default_signals();
    signal(SIGHUP, SIG_IGN);
    if (teardown_pipe[0] >= 0) {
        close(teardown_pipe[0]);
        close(teardown_pipe[1]);
    }
    log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log >= 0) {
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
    }
    if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC) < 0) {
        holder_fail(fd, "unshare", "mount, network, UTS and IPC namespaces");
    }
    holder_mount(fd, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    opts = g_strdup_printf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    holder_mount(fd, "overlay", root, "overlay", 0, opts);
    {
        g_autofree char *proc = g_build_filename(root, "proc", NULL);
        g_autofree char *sys = g_build_filename(root, "sys", NULL);

        holder_mount(fd, "proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        /* a sysfs of its own: /sys/class/net shows the host's interfaces */
        holder_mount(fd, "sysfs", sys, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        holder_dev(fd, root, lower);
    }
    if (sethostname(hostname, strlen(hostname)) < 0) {
        holder_fail(fd, "sethostname", hostname);
    }
    /* pivot_root(".", "."): the old root (the build root the lab runs
     * in, a mount point of its own) is stacked on the new one until it is
     * detached */
    if (chdir(root) < 0) {
        holder_fail(fd, "chdir", root);
    }
    if (syscall(SYS_pivot_root, ".", ".") < 0) {
        holder_fail(fd, "pivot_root", root);
    }
    if (umount2(".", MNT_DETACH) < 0) {
        holder_fail(fd, "umount2", "the old root");
    }
    if (chdir("/") < 0) {
        holder_fail(fd, "chdir", "/");
    }
    if (write(fd, "ok", 2) != 2) {
        _exit(127);
    }
    close(fd);
    for (;;) {
        pause();
    }
}

static bool
host_start_holder(FphLab *lab, FphHost *h, GError **error)
{
    const char *dirs[] = { "upper", "work", "root" };
    char buf[1024];
    int fds[2];
    ssize_t n;
    pid_t pid;
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(dirs); i++) {
        g_autofree char *d = g_build_filename(h->dir, dirs[i], NULL);

        if (g_mkdir_with_parents(d, 0755) < 0) {
            g_set_error(error, FPH_LAB_ERROR, 0, "cannot create %s: %s", d,
                        g_strerror(errno));
            return false;
        }
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "pipe: %s", g_strerror(errno));
        return false;
    }
    pid = fork();
    if (pid < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "fork: %s", g_strerror(errno));
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        holder_main(lab, h, fds[1]);
    }
    close(fds[1]);
    h->holder = pid;
    while ((h->holder_start = fph_proc_starttime(pid)) == 0 &&
           waitpid(pid, NULL, WNOHANG) == 0) {
        g_usleep(1000);
    }
    host_set_uri(h);
    if (!host_save_record(h, error)) {
        close(fds[0]);
        return false;
    }
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    if (n == 2 && memcmp(buf, "ok", 2) == 0) {
        return true;
    }
    buf[n > 0 ? n : 0] = '\0';
    g_set_error(error, FPH_LAB_ERROR, 0, "host %s: its namespaces could not be set up: %s",
                h->name, n > 0 ? buf : "the holder exited without a word");
    return false;
}

/* ---- running programs in a host -------------------------------------- */

/* In a child: enter the namespaces of HOST's holder and its root.  The
 * holder made its host's root the root of its mount namespace
 * (pivot_root, as in_root does for the build root), so setns() already
 * gives the child that root; taking the holder's root directory besides
 * keeps the child in the host should that ever not hold. */
static int
host_enter(FphHost *h)
{
    static const char *const ns[] = { "ipc", "uts", "net", "mnt" };
    char path[64];
    int root;
    size_t i;

    snprintf(path, sizeof(path), "/proc/%d/root", (int)h->holder);
    root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        return -1;
    }
    for (i = 0; i < G_N_ELEMENTS(ns); i++) {
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)h->holder, ns[i]);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, 0) < 0) {
            return -1;
        }
        close(fd);
    }
    if (fchdir(root) < 0 || chroot(".") < 0) {
        return -1;
    }
    close(root);
    return chdir("/");
}

typedef struct {
    FphHost *host;
    int domain;
    int type;
    int fd;
    int err;
} HostSocket;

/* The thread of fph_host_socket(): setns(2) moves the calling thread
 * only, and a socket stays in the namespace it was made in */
static gpointer
host_socket_thread(gpointer data)
{
    HostSocket *hs = data;
    char path[64];
    int ns;

    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)hs->host->holder);
    ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0 ||
        (hs->fd = socket(hs->domain, hs->type | SOCK_CLOEXEC, 0)) < 0) {
        hs->err = errno;
    }
    if (ns >= 0) {
        close(ns);
    }
    return NULL;
}

int
fph_host_socket(FphHost *host, int domain, int type, GError **error)
{
    HostSocket hs = { .host = host, .domain = domain, .type = type, .fd = -1 };

    g_thread_join(g_thread_new("fph-host-socket", host_socket_thread, &hs));
    if (hs.fd < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "cannot make a socket in the network namespace of host %s: %s",
                    host->name, g_strerror(hs.err));
    }
    return hs.fd;
}

static void
host_child_setup(gpointer data)
{
    child_default_signals();
    if (host_enter(data) < 0) {
        _exit(126);
    }
}

int
fph_host_run(FphHost *host, const char *const *argv, char **out, char **err)
{
    g_autoptr(GError) gerr = NULL;
    g_autofree char *o = NULL;
    g_autofree char *e = NULL;
    g_auto(GStrv) env = g_strdupv((char **)host_env);
    int status;

    if (g_getenv("EDITOR")) {
        env = g_environ_setenv(env, "EDITOR", g_getenv("EDITOR"), TRUE);
    }
    if (!host_up(host)) {
        if (err) {
            *err = g_strdup_printf("host %s is not up", host->name);
        }
        return -1;
    }
    /* stdin from /dev/null: virsh must never wait for an answer (virsh
     * edit asks whether to edit again after an error on a terminal) */
    if (!g_spawn_sync(NULL, (char **)argv, env,
                      G_SPAWN_STDIN_FROM_DEV_NULL, host_child_setup, host,
                      &o, &e, &status, &gerr)) {
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
        if (WEXITSTATUS(status) == 126 && err && !**err) {
            g_free(*err);
            *err = g_strdup_printf("cannot enter the namespaces of host %s", host->name);
        }
        return WEXITSTATUS(status);
    }
    return -1;
}

char *
fph_host_write_tmp(FphHost *host, const char *template, const char *text,
                   GError **error)
{
    g_autofree char *tmpl = g_strdup(template);
    char *x = strstr(tmpl, "XXXXXX");
    g_autofree char *rnd = NULL;
    g_autofree char *inhost = NULL;
    g_autofree char *outside = NULL;

    if (!x) {
        g_set_error(error, FPH_LAB_ERROR, 0, "no XXXXXX in %s", template);
        return NULL;
    }
    rnd = g_strdup_printf("%06x", g_random_int_range(0, 0xffffff));
    memcpy(x, rnd, 6);
    inhost = g_build_filename("/tmp", tmpl, NULL);
    outside = fph_host_path(host, inhost);
    if (!g_file_set_contents(outside, text, -1, error)) {
        return NULL;
    }
    return g_steal_pointer(&inhost);
}

/* fph_host_run that must succeed */
static bool
host_run_ok(FphHost *h, GError **error, ...) G_GNUC_NULL_TERMINATED;

static bool
host_run_ok(FphHost *h, GError **error, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *err = NULL;
    g_autofree char *cmd = NULL;
    const char *arg;
    va_list ap;
    int rc;

    va_start(ap, error);
    while ((arg = va_arg(ap, const char *))) {
        g_ptr_array_add(argv, (gpointer)arg);
    }
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    rc = fph_host_run(h, (const char *const *)argv->pdata, NULL, &err);
    if (rc == 0) {
        return true;
    }
    cmd = g_strjoinv(" ", (char **)argv->pdata);
    g_set_error(error, FPH_LAB_ERROR, 0, "host %s: '%s' failed (%d): %s",
                h->name, cmd, rc, err ? err : "");
    return false;
}

/* Start a daemon in the host with its output to LOG (a path in the host);
 * its PID and start time in *pid and *start. */
static bool
host_spawn_daemon(FphHost *h, const char *const *argv, const char *log,
                  pid_t *pid, unsigned long long *start, GError **error)
{
    pid_t child = fork();

    if (child < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "fork: %s", g_strerror(errno));
        return false;
    }
    if (child == 0) {
        int fd;

        setsid();
        child_default_signals();
        if (host_enter(h) < 0) {
            _exit(126);
        }
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
        }
        execve(argv[0], (char **)argv, (char **)host_env);
        fprintf(stderr, "fph-lab: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    *pid = child;
    while ((*start = fph_proc_starttime(child)) == 0 &&
           waitpid(child, NULL, WNOHANG) == 0) {
        g_usleep(1000);
    }
    return true;
}

/* ---- the link --------------------------------------------------------- */

static bool
lab_link_up(FphLab *lab, GError **error)
{
    g_autofree char *peer = g_strdup_printf("%d", (int)lab->hosts[1].holder);
    size_t i;

    if (!host_run_ok(&lab->hosts[0], error, "/usr/sbin/ip", "link", "add", LINK_DEV,
                     "type", "veth", "peer", "name", LINK_DEV, "netns", peer, NULL)) {
        return false;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        FphHost *h = &lab->hosts[i];
        g_autofree char *cidr = g_strdup_printf("%s/24", h->addr);
        g_autofree char *hosts = fph_host_path(h, "/etc/hosts");
        g_autofree char *text = NULL;
        g_autofree char *more = NULL;

        if (!host_run_ok(h, error, "/usr/sbin/ip", "link", "set", "lo", "up", NULL) ||
            !host_run_ok(h, error, "/usr/sbin/ip", "address", "add", cidr, "dev",
                         LINK_DEV, NULL) ||
            !host_run_ok(h, error, "/usr/sbin/ip", "link", "set", LINK_DEV, "up", NULL)) {
            return false;
        }
        /* each host knows the other by name, as hosts of one cluster do */
        g_file_get_contents(hosts, &text, NULL, NULL);
        more = g_strdup_printf("%s%s fph-host-a\n%s fph-host-b\n", text ? text : "",
                               lab->hosts[0].addr, lab->hosts[1].addr);
        if (!g_file_set_contents(hosts, more, -1, error)) {
            return false;
        }
    }
    return true;
}

bool
fph_lab_check_link_rate(const char *rate, GError **error)
{
    /* tc's own syntax, a number and a unit, checked here so that a bad
     * value is named as the lab's and not as a failed tc command */
    if (!g_regex_match_simple("^[0-9]+(\\.[0-9]+)?(bit|kbit|mbit|gbit|tbit)$",
                              rate, G_REGEX_CASELESS, 0)) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "link rate '%s': allowed is a number with one of the units "
                    "bit, kbit, mbit, gbit, tbit (bits per second), e.g. 1gbit",
                    rate);
        return false;
    }
    return true;
}

bool
fph_lab_set_link(FphLab *lab, const char *rate, const char *delay,
                 GError **error)
{
    size_t i;

    if (rate && !fph_lab_check_link_rate(rate, error)) {
        return false;
    }
    if (delay && !g_regex_match_simple("^[0-9]+(\\.[0-9]+)?(us|ms|s)$", delay, 0, 0)) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "link delay '%s': allowed is a number with one of the units "
                    "us, ms, s, e.g. 100us", delay);
        return false;
    }

    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        FphHost *h = &lab->hosts[i];
        g_autofree char *burst = NULL;
        g_autofree char *err = NULL;
        int rc;

        if (!rate && !delay) {
            const char *argv[] = { "/usr/sbin/tc", "qdisc", "del", "dev", LINK_DEV,
                                   "root", NULL };

            /* no qdisc of the lab's is not an error */
            fph_host_run(h, argv, NULL, &err);
            continue;
        }
        if (!delay) {
            /* a token bucket: 10 ms of the rate may go at once (at least
             * 64 KiB, which any rate tc takes needs), what waits longer
             * than 100 ms is dropped, as on a router's queue */
            double bits = g_ascii_strtod(rate, NULL);
            const char *unit = rate + strspn(rate, "0123456789.");

            bits *= g_ascii_strncasecmp(unit, "t", 1) == 0 ? 1e12 :
                    g_ascii_strncasecmp(unit, "g", 1) == 0 ? 1e9 :
                    g_ascii_strncasecmp(unit, "m", 1) == 0 ? 1e6 :
                    g_ascii_strncasecmp(unit, "k", 1) == 0 ? 1e3 : 1;
            burst = g_strdup_printf("%.0f", MAX(bits / 8 / 100, 65536));
            const char *argv[] = { "/usr/sbin/tc", "qdisc", "replace", "dev",
                                   LINK_DEV, "root", "tbf", "rate", rate,
                                   "burst", burst, "latency", "100ms", NULL };

            rc = fph_host_run(h, argv, NULL, &err);
        } else {
            const char *argv[] = { "/usr/sbin/tc", "qdisc", "replace", "dev",
                                   LINK_DEV, "root", "netem", "delay", delay,
                                   rate ? "rate" : NULL, rate, NULL };

            rc = fph_host_run(h, argv, NULL, &err);
            if (rc != 0 && err && strstr(err, "qdisc kind is unknown")) {
                g_set_error(error, FPH_LAB_ERROR, 0,
                            "link delay '%s': a delay needs the kernel's netem "
                            "queueing discipline, which this kernel lacks "
                            "(CONFIG_NET_SCH_NETEM); a rate alone works", delay);
                return false;
            }
        }
        if (rc != 0) {
            g_set_error(error, FPH_LAB_ERROR, 0, "host %s: tc could not set the "
                        "link to rate %s, delay %s: %s", h->name,
                        rate ? rate : "(none)", delay ? delay : "(none)",
                        err ? g_strstrip(err) : "");
            return false;
        }
    }
    return true;
}

bool
fph_host_link(FphHost *host, bool up, GError **error)
{
    return host_run_ok(host, error, "/usr/sbin/ip", "link", "set", LINK_DEV,
                       up ? "up" : "down", NULL);
}

/* ---- TLS ------------------------------------------------------------- */

/* What certtool makes, in /root/fph-pki of host A (the lab's CA lives
 * there, as an operator's CA lives on one machine): deploy step 3. */
static const char *const pki_script =
    "set -e\n"
    "umask 077\n"
    "mkdir -p /root/fph-pki && cd /root/fph-pki\n"
    "cert() { # NAME CA TEMPLATE-LINES\n"
    "    printf '%s\\n' \"$3\" > \"$1.info\"\n"
    "    certtool --generate-privkey --outfile \"$1-key.pem\" >> /var/log/fph-certtool.log 2>&1\n"
    "    certtool --generate-certificate --load-privkey \"$1-key.pem\" \\\n"
    "        --load-ca-certificate \"$2-cert.pem\" --load-ca-privkey \"$2-key.pem\" \\\n"
    "        --template \"$1.info\" --outfile \"$1-cert.pem\" >> /var/log/fph-certtool.log 2>&1\n"
    "}\n"
    "ca() { # NAME CN\n"
    "    printf 'cn = %s\\nca\\ncert_signing_key\\nexpiration_days = 30\\n' \"$2\" > \"$1.info\"\n"
    "    certtool --generate-privkey --outfile \"$1-key.pem\" >> /var/log/fph-certtool.log 2>&1\n"
    "    certtool --generate-self-signed --load-privkey \"$1-key.pem\" \\\n"
    "        --template \"$1.info\" --outfile \"$1-cert.pem\" >> /var/log/fph-certtool.log 2>&1\n"
    "}\n"
    "ca ca 'fph lab CA'\n"
    "for h in a:" LINK_NET ".1 b:" LINK_NET ".2; do\n"
    "    n=${h%%:*} ip=${h#*:}\n"
    "    cert server-$n ca \"$(printf 'organization = fph lab\\ncn = fph-host-%s\\n"
    "dns_name = fph-host-%s\\nip_address = %s\\ntls_www_server\\nencryption_key\\n"
    "signing_key\\nexpiration_days = 30' $n $n $ip)\"\n"
    "    cert client-$n ca \"$(printf 'organization = fph lab\\ncn = fph-host-%s\\n"
    "tls_www_client\\nencryption_key\\nsigning_key\\nexpiration_days = 30' $n)\"\n"
    "done\n"
    /* a client whose certificate another CA signed: the server must
     * refuse it (fph_host_bad_client_uri) */
    "ca rogue-ca 'not the fph lab CA'\n"
    "cert rogue-client rogue-ca \"$(printf 'organization = fph lab\\ncn = fph-host-a\\n"
    "tls_www_client\\nencryption_key\\nsigning_key\\nexpiration_days = 30')\"\n"
    "mkdir -p rogue\n"
    "cp rogue-ca-cert.pem rogue/cacert.pem\n"
    "cp rogue-client-cert.pem rogue/clientcert.pem\n"
    "cp rogue-client-key.pem rogue/clientkey.pem\n";

/* Where libvirt (the daemon, and its client for peer-to-peer
 * migrations) and QEMU (migrations with --tls) look for them, per
 * libvirt's "TLS x509 certificate management" and QEMU's defaults
 * (qemu.conf default_tls_x509_cert_dir): deploy step 4. */
static const struct {
    const char *from;   /* in /root/fph-pki of host A, %s: a or b */
    const char *to;     /* in the host */
    bool qemu_reads;    /* read by QEMU itself, which runs as libvirt-qemu */
} pki_files[] = {
    { "ca-cert.pem", "/etc/pki/CA/cacert.pem", false },
    { "server-%s-cert.pem", "/etc/pki/libvirt/servercert.pem", false },
    { "server-%s-key.pem", "/etc/pki/libvirt/private/serverkey.pem", false },
    { "client-%s-cert.pem", "/etc/pki/libvirt/clientcert.pem", false },
    { "client-%s-key.pem", "/etc/pki/libvirt/private/clientkey.pem", false },
    { "ca-cert.pem", "/etc/pki/qemu/ca-cert.pem", true },
    { "server-%s-cert.pem", "/etc/pki/qemu/server-cert.pem", true },
    { "server-%s-key.pem", "/etc/pki/qemu/server-key.pem", true },
    { "client-%s-cert.pem", "/etc/pki/qemu/client-cert.pem", true },
    { "client-%s-key.pem", "/etc/pki/qemu/client-key.pem", true },
};

static bool
lab_tls(FphLab *lab, GError **error)
{
    FphHost *ca = &lab->hosts[0];
    g_autofree char *pki = fph_host_path(ca, "/root/fph-pki");
    size_t i, j;

    if (!host_run_ok(ca, error, "/bin/sh", "-c", pki_script, NULL)) {
        return false;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        FphHost *h = &lab->hosts[i];
        char n[2] = { g_ascii_tolower(h->name[0]), '\0' };

        for (j = 0; j < G_N_ELEMENTS(pki_files); j++) {
            g_autofree char *name = g_strdup_printf(pki_files[j].from, n);
            g_autofree char *from = g_build_filename(pki, name, NULL);
            g_autofree char *to = fph_host_path(h, pki_files[j].to);
            g_autofree char *dir = g_path_get_dirname(to);
            g_autofree char *data = NULL;
            gsize len;

            if (g_mkdir_with_parents(dir, 0755) < 0 ||
                !g_file_get_contents(from, &data, &len, error) ||
                !g_file_set_contents(to, data, len, error)) {
                if (error && !*error) {
                    g_set_error(error, FPH_LAB_ERROR, 0, "cannot create %s: %s",
                                dir, g_strerror(errno));
                }
                return false;
            }
            /* keys readable by root (libvirt) or by QEMU's group */
            if (g_str_has_suffix(to, "-key.pem") || strstr(to, "/private/")) {
                if (pki_files[j].qemu_reads) {
                    if (!host_run_ok(h, error, "/bin/chgrp", "libvirt-qemu",
                                     pki_files[j].to, NULL)) {
                        return false;
                    }
                    chmod(to, 0640);
                } else {
                    chmod(to, 0600);
                }
            } else {
                chmod(to, 0644);
            }
        }
    }
    return true;
}

char *
fph_host_bad_client_uri(FphHost *to)
{
    /* the client trusts its own CA only, and does not check the
     * server's certificate (no_verify): what is left is whether the
     * server accepts the client's */
    return g_strdup_printf("%s?pkipath=/root/fph-pki/rogue&no_verify=1",
                           to->remote_uri);
}

/* ---- the daemons ------------------------------------------------------ */

/* What the lab changes in the packages' configuration, appended to the
 * files Debian installs, each change with why. */
static bool
host_configure(FphHost *h, bool migration_debug, GError **error)
{
    g_autofree char *conf = fph_host_path(h, "/etc/libvirt/libvirtd.conf");
    g_autofree char *text = NULL;
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *more = NULL;

    if (!g_file_get_contents(conf, &text, NULL, error)) {
        return false;
    }
    more = g_strdup_printf(
        "%s\n"
        "# fph lab host %s:\n"
        "# both hosts run on one machine, whose SMBIOS UUID libvirt would\n"
        "# take as each one's: it refuses a migration to \"the same host\"\n"
        "host_uuid = \"%s\"\n"
        "# warnings and errors in a file the lab keeps when a test fails\n"
        "# (fph-lab down --keep-logs)\n"
        "log_outputs = \"%d:file:/var/log/libvirt/libvirtd.log\"\n"
        "%s",
        text, h->name, uuid, migration_debug ? 1 : 3,
        migration_debug ? "# and the migration code's debug messages, whose\n"
        "# timestamps give the benchmark libvirt's phases\n"
        "log_filters = \"1:qemu.qemu_migration\"\n" : "");
    return g_file_set_contents(conf, more, -1, error);
}

/* Why a daemon did not come up: the end of its output and the last
 * errors of its log */
static char *
host_daemon_errors(FphHost *h)
{
    g_autofree char *out = fph_host_path(h, "/var/log/libvirt/libvirtd.stdout");
    g_autofree char *logpath = fph_host_path(h, "/var/log/libvirt/libvirtd.log");
    g_autofree char *tail = NULL;
    g_autofree char *logtext = NULL;
    g_autofree char *joined = NULL;
    g_autoptr(GPtrArray) errors = g_ptr_array_new();
    g_auto(GStrv) lines = NULL;
    size_t i;

    if (!host_up(h)) {
        /* the host itself is gone: its state is below the lab's dir */
        g_free(out);
        g_free(logpath);
        out = g_build_filename(h->dir, "upper/var/log/libvirt/libvirtd.stdout", NULL);
        logpath = g_build_filename(h->dir, "upper/var/log/libvirt/libvirtd.log", NULL);
    }
    tail = fph_tail_of_file(out, 2000);
    if (g_file_get_contents(logpath, &logtext, NULL, NULL)) {
        lines = g_strsplit(logtext, "\n", 0);
        for (i = 0; lines[i]; i++) {
            if (strstr(lines[i], " error : ")) {
                g_ptr_array_add(errors, lines[i]);
            }
        }
    }
    if (errors->len > 6) {
        g_ptr_array_remove_range(errors, 0, errors->len - 6);
    }
    g_ptr_array_add(errors, NULL);
    joined = g_strjoinv("\n", (char **)errors->pdata);
    return g_strdup_printf("%s\nlast errors in /var/log/libvirt/libvirtd.log of host %s:\n%s",
                           *tail ? tail : "(no output)", h->name,
                           *joined ? joined : "(none)");
}

/* Start virtlogd and libvirtd in the host, as their units do: deploy
 * step 5.  libvirtd --listen stands for the socket units of Debian's
 * package (libvirtd-tls.socket): the host has no systemd. */
static bool
host_start_daemons(FphHost *h, GError **error)
{
    const char *const logd[] = { "/usr/sbin/virtlogd", NULL };
    const char *const daemon[] = { "/usr/sbin/libvirtd", "--listen", NULL };
    int tries;

    if (!proc_alive(h->logd, h->logd_start)) {
        if (!host_spawn_daemon(h, logd, "/var/log/libvirt/virtlogd.stdout",
                               &h->logd, &h->logd_start, error) ||
            !host_save_record(h, error)) {
            return false;
        }
    }
    if (!host_spawn_daemon(h, daemon, "/var/log/libvirt/libvirtd.stdout",
                           &h->pid, &h->starttime, error) ||
        !host_save_record(h, error)) {
        return false;
    }
    for (tries = 0; tries < 600; tries++) {
        virConnectPtr conn;
        int status;

        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            g_autofree char *why = host_daemon_errors(h);

            h->pid = 0;
            h->starttime = 0;
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

/* SIGTERM to PID (recorded with START), SIGKILL after wait_s; true if it
 * had to be killed */
static bool
stop_process(pid_t pid, unsigned long long start, int wait_s)
{
    int i;

    if (!proc_alive(pid, start)) {
        return false;
    }
    kill(pid, SIGTERM);
    for (i = 0; i < wait_s * 10 && proc_alive(pid, start); i++) {
        waitpid(pid, NULL, WNOHANG);
        g_usleep(100 * 1000);
    }
    if (!proc_alive(pid, start)) {
        return false;
    }
    kill(pid, SIGKILL);
    for (i = 0; i < 100 && proc_alive(pid, start); i++) {
        waitpid(pid, NULL, WNOHANG);
        g_usleep(100 * 1000);
    }
    return true;
}

static void
host_destroy_domains(FphHost *h)
{
    virConnectPtr conn;
    virDomainPtr *doms = NULL;
    int n, i;

    if (!daemon_running(h) || !(conn = virConnectOpen(h->uri))) {
        return;
    }
    n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    for (i = 0; i < n; i++) {
        virDomainDestroy(doms[i]);
        virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(conn);
}

/* ---- up and down ------------------------------------------------------ */

/* The guest's kernel and initramfs, where images go on a Debian host
 * (libvirt's default storage pool), the same path on both hosts */
static bool
host_copy_guest(FphLab *lab, FphHost *h, GError **error)
{
    static const char *const files[] = { "vmlinuz", "initrd.img" };
    g_autofree char *dir = fph_host_path(h, FPH_HOST_GUEST_DIR);
    size_t i;

    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot create %s: %s", dir,
                    g_strerror(errno));
        return false;
    }
    for (i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *from = g_build_filename(lab->guest, files[i], NULL);
        g_autofree char *to = g_build_filename(dir, files[i], NULL);
        g_autofree char *data = NULL;
        gsize len;

        if (!g_file_get_contents(from, &data, &len, error) ||
            !g_file_set_contents(to, data, len, error)) {
            g_prefix_error(error, "host %s: the guest: ", h->name);
            return false;
        }
        chmod(to, 0644);
    }
    return true;
}

static bool
host_prepare(FphLab *lab, FphHost *h, GError **error)
{
    g_autofree char *lower = g_build_filename(lab->hosts_dir, h->name, "usr/sbin/libvirtd", NULL);

    if (!g_file_test(lower, G_FILE_TEST_IS_EXECUTABLE)) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "host %s has no libvirtd (%s): make the hosts first (./fph hosts)",
                    h->name, lower);
        return false;
    }
    return host_start_holder(lab, h, error) && host_copy_guest(lab, h, error);
}

bool
fph_lab_up(FphLab *lab, GError **error)
{
    size_t i;

    if (geteuid() != 0) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "the lab needs root (namespaces, the hosts' daemons)");
        return false;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        host_load_record(&lab->hosts[i]);
        if (host_up(&lab->hosts[i])) {
            g_set_error(error, FPH_LAB_ERROR, 0,
                        "a lab is already up in %s (host %s, pid %d): "
                        "run 'fph-lab down' first", lab->state,
                        lab->hosts[i].name, (int)lab->hosts[i].holder);
            return false;
        }
    }
    if (!fph_rm_rf(lab->state, error)) {
        return false;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        if (!host_prepare(lab, &lab->hosts[i], error)) {
            return false;
        }
    }
    if (!lab_link_up(lab, error) || !lab_tls(lab, error)) {
        return false;
    }
    /* the link as fast as the machine copies, or as the environment says */
    if ((g_getenv("FPH_LAB_LINK_RATE") || g_getenv("FPH_LAB_LINK_DELAY")) &&
        !fph_lab_set_link(lab, g_getenv("FPH_LAB_LINK_RATE"),
                          g_getenv("FPH_LAB_LINK_DELAY"), error)) {
        return false;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        if (!host_configure(&lab->hosts[i], lab->migration_debug, error) ||
            !host_start_daemons(&lab->hosts[i], error)) {
            return false;
        }
    }
    return true;
}

ino_t
fph_proc_netns(pid_t pid)
{
    char path[64];
    struct stat st;

    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* SIGKILL every process in the host's network namespace NS but the
 * holder: all of them were started in the host, by the lab or by its
 * daemons (QEMU, helpers) */
static void
host_kill_rest(FphHost *h, ino_t ns)
{
    g_autoptr(GDir) d = NULL;
    const char *name;

    if (!ns || !(d = g_dir_open("/proc", 0, NULL))) {
        return;
    }
    while ((name = g_dir_read_name(d))) {
        char *end;
        long pid = strtol(name, &end, 10);

        if (*end || pid <= 0 || pid == h->holder || pid == getpid()) {
            continue;
        }
        if (fph_proc_netns(pid) == ns) {
            g_autofree char *comm_path = g_strdup_printf("/proc/%ld/comm", pid);
            g_autofree char *comm = NULL;

            g_file_get_contents(comm_path, &comm, NULL, NULL);
            g_printerr("fph-lab: host %s: killing %s (pid %ld)\n", h->name,
                       comm ? g_strstrip(comm) : "?", pid);
            kill((pid_t)pid, SIGKILL);
        }
    }
}

static void
host_stop(FphHost *h)
{
    ino_t ns;

    host_load_record(h);
    if (!host_up(h)) {
        return;
    }
    ns = fph_proc_netns(h->holder);
    host_destroy_domains(h);
    if (stop_process(h->pid, h->starttime, 15)) {
        g_printerr("fph-lab: host %s: libvirtd pid %d ignored SIGTERM, killed\n",
                   h->name, (int)h->pid);
    }
    stop_process(h->logd, h->logd_start, 5);
    host_kill_rest(h, ns);
    kill(h->holder, SIGKILL);
    while (proc_alive(h->holder, h->holder_start)) {
        waitpid(h->holder, NULL, WNOHANG);
        g_usleep(10 * 1000);
    }
    /* once more: a program that entered the host (a thread of the program
     * that goes on during a teardown on a signal) before its holder ended */
    host_kill_rest(h, ns);
    h->holder = h->pid = h->logd = 0;
    h->holder_start = h->starttime = h->logd_start = 0;
}

bool
fph_lab_restart_host(FphLab *lab G_GNUC_UNUSED, FphHost *host,
                     bool (*while_stopped)(FphHost *host, void *data,
                                           GError **error),
                     void *data, GError **error)
{
    host_load_record(host);
    host_destroy_domains(host);
    stop_process(host->pid, host->starttime, 15);
    if (while_stopped && !while_stopped(host, data, error)) {
        return false;
    }
    return host_start_daemons(host, error);
}

bool
fph_lab_restart_daemon(FphLab *lab G_GNUC_UNUSED, FphHost *host, bool *killed,
                       GError **error)
{
    host_load_record(host);
    *killed = stop_process(host->pid, host->starttime, 60);
    host->pid = 0;
    host->starttime = 0;
    return host_start_daemons(host, error);
}

bool
fph_lab_wait_daemon_exit(FphHost *host, int wait_s)
{
    int i;

    host_load_record(host);
    for (i = 0; i < wait_s * 10 && daemon_running(host); i++) {
        /* reaped here if it is this process's child */
        waitpid(host->pid, NULL, WNOHANG);
        g_usleep(100 * 1000);
    }
    return !daemon_running(host);
}

pid_t
fph_host_qemu_pid(FphHost *host, const char *dom)
{
    g_autofree char *name = g_strdup_printf("/run/libvirt/qemu/%s.pid", dom);
    g_autofree char *path = fph_host_path(host, name);
    g_autofree char *text = NULL;
    long long pid;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        (pid = g_ascii_strtoll(text, NULL, 10)) <= 0 || kill((pid_t)pid, 0) < 0) {
        return 0;
    }
    return (pid_t)pid;
}

pid_t
fph_host_qemu_thread(FphHost *host, const char *dom, const char *comm)
{
    pid_t pid = fph_host_qemu_pid(host, dom);
    g_autofree char *dir = NULL;
    g_autoptr(GDir) tasks = NULL;
    const char *ent;

    if (!pid) {
        return 0;
    }
    dir = g_strdup_printf("/proc/%d/task", (int)pid);
    if (!(tasks = g_dir_open(dir, 0, NULL))) {
        return 0;
    }
    while ((ent = g_dir_read_name(tasks))) {
        g_autofree char *path = g_build_filename(dir, ent, "comm", NULL);
        g_autofree char *text = NULL;

        if (g_file_get_contents(path, &text, NULL, NULL) &&
            g_str_equal(g_strchomp(text), comm)) {
            return (pid_t)g_ascii_strtoll(ent, NULL, 10);
        }
    }
    return 0;
}

bool
fph_thread_stop(pid_t tid, GError **error)
{
    int status;

    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "PTRACE_SEIZE of thread %d: %s",
                    (int)tid, g_strerror(errno));
        return false;
    }
    if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 ||
        waitpid(tid, &status, __WALL) != tid || !WIFSTOPPED(status)) {
        g_set_error(error, FPH_LAB_ERROR, 0, "thread %d did not stop: %s",
                    (int)tid, g_strerror(errno));
        ptrace(PTRACE_DETACH, tid, NULL, NULL);
        return false;
    }
    return true;
}

bool
fph_thread_cont(pid_t tid, GError **error)
{
    if (ptrace(PTRACE_DETACH, tid, NULL, NULL) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "PTRACE_DETACH of thread %d: %s",
                    (int)tid, g_strerror(errno));
        return false;
    }
    return true;
}

static bool
lab_down(FphLab *lab, bool keep_logs, GError **error)
{
    size_t i;

    if (!g_file_test(lab->state, G_FILE_TEST_IS_DIR)) {
        return true;
    }
    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        host_stop(&lab->hosts[i]);
    }
    if (keep_logs) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
        g_autofree char *dest = g_build_filename(lab->logs, stamp, NULL);

        for (i = 0; i < FPH_LAB_NHOSTS; i++) {
            FphHost *h = &lab->hosts[i];
            g_autofree char *from = g_build_filename(h->dir, "upper", "var", "log", NULL);
            g_autofree char *to = g_build_filename(dest, h->name, NULL);
            g_autofree char *holder_log = g_build_filename(h->dir, "holder.log", NULL);
            g_autofree char *holder_to = g_build_filename(to, "holder.log", NULL);
            g_autofree char *text = NULL;

            if (g_mkdir_with_parents(to, 0755) < 0) {
                g_set_error(error, FPH_LAB_ERROR, 0, "cannot create %s: %s", to,
                            g_strerror(errno));
                return false;
            }
            if (g_file_test(from, G_FILE_TEST_IS_DIR) &&
                !fph_copy_tree(from, to, error)) {
                return false;
            }
            if (g_file_get_contents(holder_log, &text, NULL, NULL)) {
                g_file_set_contents(holder_to, text, -1, NULL);
            }
        }
        g_printerr("fph-lab: logs of both hosts (daemons, QEMUs, consoles) kept in %s\n",
                   dest);
    }
    return fph_rm_rf(lab->state, error);
}

bool
fph_lab_down(FphLab *lab, bool keep_logs, GError **error)
{
    bool ok;

    g_rec_mutex_lock(&teardown_lock);
    /* taken down once: not again at exit or on a signal */
    if (teardown_lab == lab) {
        teardown_lab = NULL;
    }
    ok = lab_down(lab, keep_logs, error);
    g_rec_mutex_unlock(&teardown_lock);
    return ok;
}

static bool
lab_status(FphLab *lab, bool print)
{
    bool all = true;
    size_t i;

    for (i = 0; i < FPH_LAB_NHOSTS; i++) {
        FphHost *h = &lab->hosts[i];

        host_load_record(h);
        if (!print) {
            all = all && host_up(h) && daemon_running(h);
        } else if (host_up(h) && daemon_running(h)) {
            printf("host %s: up, %s on %s, libvirtd pid %d, %s\n", h->name,
                   h->addr, LINK_DEV, (int)h->pid, h->uri);
        } else {
            printf("host %s: down\n", h->name);
            all = false;
        }
    }
    return all;
}

bool
fph_lab_status(FphLab *lab)
{
    return lab_status(lab, true);
}

bool
fph_lab_status_quiet(FphLab *lab)
{
    return lab_status(lab, false);
}

static void
teardown_now(void)
{
    g_rec_mutex_lock(&teardown_lock);
    if (teardown_lab) {
        g_autoptr(GError) err = NULL;

        if (!fph_lab_down(teardown_lab, true, &err)) {
            g_printerr("fph-lab: teardown: %s\n", err->message);
        }
    }
    g_rec_mutex_unlock(&teardown_lock);
}

static void
teardown_signal(int sig)
{
    int saved = errno;
    unsigned char c = sig;

    /* the pipe does not block: when it is full, a teardown is under way */
    if (write(teardown_pipe[1], &c, 1) < 0) {
        /* nothing a handler could do */
    }
    errno = saved;
}

G_GNUC_NORETURN static gpointer
teardown_thread(gpointer opaque G_GNUC_UNUSED)
{
    unsigned char sig = 0;
    ssize_t n;

    while ((n = read(teardown_pipe[0], &sig, 1)) < 0 && errno == EINTR) {
        continue;
    }
    if (n != 1) {
        g_printerr("fph-lab: the signal pipe failed: %s\n",
                   n < 0 ? g_strerror(errno) : "end of file");
        abort();
    }
    g_printerr("fph-lab: signal %d: tearing the lab down\n", sig);
    /* the lock is kept to the end: a teardown the program started itself
     * is waited for, and none starts after this one */
    g_rec_mutex_lock(&teardown_lock);
    teardown_now();
    _exit(128 + sig);
}

void
fph_lab_teardown_on_exit(FphLab *lab)
{
    struct sigaction sa = { .sa_handler = teardown_signal, .sa_flags = SA_RESTART };
    size_t i;

    g_rec_mutex_lock(&teardown_lock);
    teardown_lab = lab;
    if (teardown_pipe[0] < 0) {
        if (pipe2(teardown_pipe, O_CLOEXEC) < 0 ||
            fcntl(teardown_pipe[1], F_SETFL, O_NONBLOCK) < 0) {
            g_error("fph-lab: cannot make the pipe for the lab's teardown: %s",
                    g_strerror(errno));
        }
        atexit(teardown_now);
        g_thread_unref(g_thread_new("fph-lab-teardown", teardown_thread, NULL));
        /* the handler runs with all three blocked */
        sigemptyset(&sa.sa_mask);
        for (i = 0; i < G_N_ELEMENTS(teardown_signals); i++) {
            sigaddset(&sa.sa_mask, teardown_signals[i]);
        }
        for (i = 0; i < G_N_ELEMENTS(teardown_signals); i++) {
            sigaction(teardown_signals[i], &sa, NULL);
        }
    }
    g_rec_mutex_unlock(&teardown_lock);
}
