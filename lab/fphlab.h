/*
 * fphlab: the two-host lab of fph and the helpers its tests share.
 *
 * Hosts A and B are Debian 13 systems with fph's packages installed by apt
 * (scripts/hosts.sh), each run in namespaces of its own (mount, network,
 * UTS, IPC) with its own libvirtd and virtlogd from the packages, joined
 * by a link of their own (a veth pair with an address on each side).
 * Parts: host.c (the hosts' lifecycle, their link, TLS), virsh.c (libvirt
 * and virsh against a host), agent.c (the guest agent), domain.c (the
 * guest's domain XML and its start).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <sys/types.h>
#include <libvirt/libvirt.h>

#define FPH_LAB_NHOSTS 2

/* Where the lab puts the guest's kernel and initramfs in each host */
#define FPH_HOST_GUEST_DIR "/var/lib/libvirt/images/fph"

typedef struct FphHost {
    char name[2];       /* "A" or "B" */
    unsigned int index; /* 0 or 1 */
    char *dir;          /* the host's state in the lab: <state>/A */
    char *addr;         /* its address on the link: 10.87.0.1 */
    /* for clients outside the hosts (the tests' programs): the host's
     * libvirtd socket, qemu:///system?socket=/proc/<holder>/root/... */
    char *uri;
    char *remote_uri;   /* from the other host: qemu+tls://10.87.0.1/system */
    char *migrate_uri;  /* QEMU's migration stream: tcp://10.87.0.1 */
    pid_t holder;       /* the process that holds the host's namespaces */
    unsigned long long holder_start; /* its start time (/proc/PID/stat) */
    pid_t pid;          /* libvirtd */
    unsigned long long starttime;
    pid_t logd;         /* virtlogd */
    unsigned long long logd_start;
} FphHost;

typedef struct {
    char *hosts_dir;    /* the hosts' root file systems (./fph hosts) */
    char *state;        /* the lab's state directory */
    char *guest;        /* directory with vmlinuz and initrd.img */
    char *logs;         /* where the state of a failed run is kept */
    char *guest_append; /* appended to the guest kernel's command line */
    bool kvm;           /* the guest's domain type: kvm, not qemu (TCG) */
    /* libvirtd.log gets the debug messages of libvirt's migration code
     * (set before fph_lab_up(); the benchmark's phases come from them) */
    bool migration_debug;
    FphHost hosts[FPH_LAB_NHOSTS];
} FphLab;

/* Paths from the environment (FPH_HOSTS_DIR, FPH_LAB_DIR, FPH_GUEST_DIR,
 * FPH_LAB_LOGS) or from the build's defaults. */
FphLab *fph_lab_new(void);
void fph_lab_free(FphLab *lab);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FphLab, fph_lab_free)

FphHost *fph_lab_host(FphLab *lab, const char *name);

/* The other host */
FphHost *fph_host_peer(FphLab *lab, FphHost *host);

/* PATH in HOST's file system, as the lab (outside the host) reaches it */
char *fph_host_path(FphHost *host, const char *path);

/* Run argv (argv[0] an absolute path in the host) in HOST's namespaces
 * with a clean environment (plus EDITOR, if set, for virsh edit); returns
 * its exit status (or -1), its stdout and stderr in out and err when not
 * NULL. */
int fph_host_run(FphHost *host, const char *const *argv, char **out, char **err);

/* Write TEXT to a new file in HOST's /tmp named after TEMPLATE (which
 * ends in XXXXXX or XXXXXX.ext); its path in the host, or NULL. */
char *fph_host_write_tmp(FphHost *host, const char *template,
                         const char *text, GError **error);

/* RATE in tc's syntax (a number and one of bit, kbit, mbit, gbit, tbit)?
 * If not, an error that names it and what is allowed */
bool fph_lab_check_link_rate(const char *rate, GError **error);

/* The link between the hosts: rate (tc's syntax, "1gbit"; a token bucket
 * filter) and one-way delay ("100us"; netem, which needs a kernel that
 * has it) on both ends; both NULL: no limit. */
bool fph_lab_set_link(FphLab *lab, const char *rate, const char *delay,
                      GError **error);

/* Take HOST's end of the link down or up */
bool fph_host_link(FphHost *host, bool up, GError **error);

/* A socket (socket(2)'s domain and type) in HOST's network namespace, as
 * a program running in HOST makes it: its addresses, its link; -1 on
 * error.  The caller closes it. */
int fph_host_socket(FphHost *host, int domain, int type, GError **error);

/* TO's remote URI with the certificate of a client that another CA
 * signed (for virsh run on the other host): TO must refuse it. */
char *fph_host_bad_client_uri(FphHost *to);

/* Start both hosts, their link, their certificates and daemons; fails
 * if a lab is already up in the state dir.  FPH_LAB_LINK_RATE and
 * FPH_LAB_LINK_DELAY, if set, limit the link (fph_lab_set_link). */
bool fph_lab_up(FphLab *lab, GError **error);

/* Destroy the lab's domains, stop its daemons (by recorded PID), kill what
 * else runs in each host's network namespace (QEMUs they left), then the
 * hosts.  With keep_logs each host's /var/log (daemons, QEMUs, consoles)
 * is copied below lab->logs first.  The state dir is removed.  Not again
 * at exit or on a signal (fph_lab_teardown_on_exit), even if it failed. */
bool fph_lab_down(FphLab *lab, bool keep_logs, GError **error);

/* Stop the libvirtd of HOST (destroying its domains), call while_stopped
 * (if not NULL), and start it again on the same state: its files, such as
 * its cache of QEMU capabilities, stay; the host stays up. */
bool fph_lab_restart_host(FphLab *lab, FphHost *host,
                          bool (*while_stopped)(FphHost *host, void *data,
                                                GError **error),
                          void *data, GError **error);

/* Restart the libvirtd of HOST as a service manager does: SIGTERM (SIGKILL
 * after 60 s, *killed tells), then start it again on the same state.  Its
 * domains keep running and libvirt reconnects to them. */
bool fph_lab_restart_daemon(FphLab *lab, FphHost *host, bool *killed,
                            GError **error);

/* Wait up to wait_s for the libvirtd of HOST to exit on its own (after
 * `virt-admin daemon-shutdown`); false if it still runs.  Start it again
 * with fph_lab_restart_daemon(). */
bool fph_lab_wait_daemon_exit(FphHost *host, int wait_s);

/* The PID of the QEMU of domain DOM on HOST (from libvirt's pid file), or
 * 0 if it does not run. */
pid_t fph_host_qemu_pid(FphHost *host, const char *dom);

/* The thread of the QEMU of DOM on HOST whose name (/proc/TID/comm) is
 * COMM, such as "IO iothread1" (libvirt starts QEMU with debug-threads=on,
 * which names the threads), or 0. */
pid_t fph_host_qemu_thread(FphHost *host, const char *dom, const char *comm);

/* Stop the one thread TID (PTRACE_SEIZE and PTRACE_INTERRUPT: the calling
 * thread becomes its tracer) and let it run again (PTRACE_DETACH, from the
 * same calling thread).  The other threads of its process run on.  If the
 * tracer exits first, the kernel detaches it and it runs on. */
bool fph_thread_stop(pid_t tid, GError **error);
bool fph_thread_cont(pid_t tid, GError **error);

/* Whether the serial console log of DOM on HOST (the lab's domain XML
 * writes it to /var/log/libvirt/qemu/DOM.console) contains TEXT. */
bool fph_guest_console_has(FphHost *host, const char *dom, const char *text);

/* The inode of PID's network namespace (every process of a host is in
 * its holder's), 0 if PID does not run */
ino_t fph_proc_netns(pid_t pid);

/* Print the state of each host; true if both daemons run. */
bool fph_lab_status(FphLab *lab);
/* The same without printing: loads what the lab recorded of its hosts
 * (a program that did not bring the lab up itself calls it first). */
bool fph_lab_status_quiet(FphLab *lab);

/* Make fph_lab_down(lab, true) run at exit and on SIGINT, SIGTERM or
 * SIGHUP (then the program ends with 128 + the signal's number, also
 * when more signals follow), unless the program took LAB down itself
 * with fph_lab_down(): a failing or killed test leaves nothing running.
 * A thread of its own does it on a signal. */
void fph_lab_teardown_on_exit(FphLab *lab);

/* The host's own virsh, run in HOST against its libvirtd; returns virsh's
 * exit status (or -1), stdout and stderr in out/err when not NULL.  argv
 * ends with NULL. */
int fph_virsh(FphHost *host, char **out, char **err, ...) G_GNUC_NULL_TERMINATED;
int fph_virshv(FphHost *host, const char *const *argv, char **out, char **err);

virConnectPtr fph_host_connect(FphHost *host, GError **error);

/* HOST's URI as the dconnuri of a peer-to-peer migration: its remote URI
 * (TLS over the link), which the source host's libvirtd connects to. */
char *fph_host_dconnuri(FphHost *host);

/* What the test guest's virtio balloon offers */
typedef enum {
    FPH_BALLOON_HINT = 1 << 0,      /* freePageHint='on' */
    FPH_BALLOON_REPORTING = 1 << 1, /* freePageReporting='on' */
} FphBalloon;

/* Domain XML of the test guest: TCG (KVM if lab->kvm), mem_mib of RAM, the
 * agent channel and a virtio balloon with the features of BALLOON (the
 * IOThread free page hinting needs is left for libvirt to assign). */
char *fph_guest_xml_balloon(FphLab *lab, const char *name,
                            unsigned int mem_mib, FphBalloon balloon);
/* The same with freePageHint='on' if free_page_hint, nothing else */
char *fph_guest_xml(FphLab *lab, const char *name, unsigned int mem_mib,
                    bool free_page_hint);

/* A QMP command to the QEMU of DOM on HOST through `virsh
 * qemu-monitor-command`; the "return" member of the reply on success. */
JsonNode *fph_qmp(FphHost *host, const char *dom, const char *cmd,
                  GError **error);

/* Wait until the guest agent of DOM answers guest-ping. */
bool fph_guest_wait_agent(virDomainPtr dom, int timeout_s, GError **error);
/* The same for the domain NAME on HOST */
bool fph_guest_wait_agent_on(FphHost *host, const char *name, int timeout_s,
                             GError **error);

/* Run argv in the guest through guest-exec; wait for it to exit. */
typedef struct {
    int exitcode;
    char *out;
    char *err;
} FphExec;
void fph_exec_clear(FphExec *res);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(FphExec, fph_exec_clear)

bool fph_guest_exec(virDomainPtr dom, const char *const *argv, int timeout_s,
                    FphExec *res, GError **error);

/* Look up "key=value" in a line of fph-guest output. */
bool fph_kv_u64(const char *text, const char *key, guint64 *value);

/* Completed job statistics of DOM on HOST from `virsh domjobinfo
 * --completed --rawstats`: field name -> value string. */
GHashTable *fph_jobinfo_completed(FphHost *host, const char *dom,
                                  GError **error);
/* The same for the active job (completed false) or the completed one */
GHashTable *fph_jobinfo(FphHost *host, const char *dom, bool completed,
                        GError **error);
bool fph_jobinfo_u64(GHashTable *info, const char *field, guint64 *value);

GQuark fph_lab_error_quark(void);
#define FPH_LAB_ERROR fph_lab_error_quark()

/* Create the transient domain NAME on HOST from fph_guest_xml_balloon()
 * and wait for its guest agent. */
bool fph_guest_boot_balloon(FphLab *lab, FphHost *host, const char *name,
                            unsigned int mem_mib, FphBalloon balloon,
                            GError **error);
/* The same from fph_guest_xml() */
bool fph_guest_boot(FphLab *lab, FphHost *host, const char *name,
                    unsigned int mem_mib, bool free_page_hint, GError **error);

/* Start the defined domain NAME on HOST and wait for its guest agent. */
bool fph_guest_start(FphHost *host, const char *name, GError **error);

/* Run fph-guest (or any program) in the guest NAME on HOST; fails unless
 * it exits with want_exit.  Its stdout is returned in out if not NULL. */
bool fph_guest_run(FphHost *host, const char *name, const char *const *argv,
                   int want_exit, int timeout_s, char **out, GError **error);

/* Whether NAME is defined or runs on HOST (`virsh list --all`); *running
 * tells whether it runs. */
bool fph_domain_listed(FphHost *host, const char *name, bool *running,
                       GError **error);

/* virsh migrate --live [extra...] NAME TO-remote-uri TO-migrate-uri on
 * FROM, then
 * check that NAME runs on TO and no longer runs on FROM (a transient
 * domain is gone from it).  extra ends with NULL. */
bool fph_migrate(FphHost *from, FphHost *to, const char *name,
                 const char *const *extra, GError **error);
