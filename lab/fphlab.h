/*
 * fphlab: the two-host lab of fph and the helpers its tests share.
 *
 * A host is a patched libvirtd in a mount namespace of its own, in which the
 * libvirt directories of the install prefix (etc, run, lib, cache, log) are
 * bind mounts of the host's own directories below the lab's state dir.  The
 * host is reached from outside through its UNIX socket, so one virsh or one
 * program can talk to both.
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

typedef struct {
    char name[2];       /* "A" or "B" */
    char *dir;          /* <state>/A */
    char *uri;          /* qemu:///system?socket=<state>/A/run/libvirt-sock */
    char *migrate_uri;  /* tcp://127.0.0.1 */
    pid_t pid;          /* libvirtd */
    unsigned long long starttime; /* of pid, from /proc/PID/stat */
} FphHost;

typedef struct {
    char *prefix;       /* install prefix of the patched QEMU and libvirt */
    char *state;        /* the lab's state directory */
    char *guest;        /* directory with vmlinuz and initrd.img */
    char *logs;         /* where the state of a failed run is kept */
    char *guest_append; /* appended to the guest kernel's command line */
    FphHost hosts[FPH_LAB_NHOSTS];
} FphLab;

/* Paths from the environment (FPH_PREFIX, FPH_LAB_DIR, FPH_GUEST_DIR,
 * FPH_LAB_LOGS) or from the build's defaults. */
FphLab *fph_lab_new(void);
void fph_lab_free(FphLab *lab);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FphLab, fph_lab_free)

FphHost *fph_lab_host(FphLab *lab, const char *name);

/* Start both daemons; fails if a lab is already up in the state dir. */
bool fph_lab_up(FphLab *lab, GError **error);

/* Destroy the lab's domains, stop its daemons and any QEMU they left, all
 * by recorded PID.  With keep_logs the state dir, with the logs of both
 * daemons and both QEMUs, is moved below lab->logs; otherwise removed. */
bool fph_lab_down(FphLab *lab, bool keep_logs, GError **error);

/* Stop the libvirtd of HOST (destroying its domains), call while_stopped
 * (if not NULL), and start it again on the same state: its files, such as
 * its cache of QEMU capabilities, stay. */
bool fph_lab_restart_host(FphLab *lab, FphHost *host,
                          bool (*while_stopped)(FphHost *host, void *data,
                                                GError **error),
                          void *data, GError **error);

/* Restart the libvirtd of HOST as a service manager does: SIGTERM (SIGKILL
 * after 60 s, *killed tells), then start it again on the same state.  Its
 * domains keep running and libvirt reconnects to them. */
bool fph_lab_restart_daemon(FphLab *lab, FphHost *host, bool *killed,
                            GError **error);

/* The PID of the QEMU of domain DOM on HOST (from libvirt's pid file), or
 * 0 if it does not run. */
pid_t fph_host_qemu_pid(FphHost *host, const char *dom);

/* Print the state of each host; true if both daemons run. */
bool fph_lab_status(FphLab *lab);

/* Make fph_lab_down(lab, true) run on SIGINT/SIGTERM and at exit unless
 * fph_lab_teardown_done() was called: a failing or killed test leaves
 * nothing running. */
void fph_lab_teardown_on_exit(FphLab *lab);
void fph_lab_teardown_done(void);

/* virsh of the prefix against HOST; returns virsh's exit status (or -1),
 * stdout and stderr in out/err when not NULL.  argv ends with NULL. */
int fph_virsh(FphHost *host, char **out, char **err, ...) G_GNUC_NULL_TERMINATED;
int fph_virshv(FphHost *host, const char *const *argv, char **out, char **err);

virConnectPtr fph_host_connect(FphHost *host, GError **error);

/* HOST's URI as the dconnuri of a peer-to-peer migration: with the
 * explicit unix transport, which tells libvirt that a socket on this
 * machine is another host (virDomainMigrateCheckNotLocal). */
char *fph_host_dconnuri(FphHost *host);

/* Domain XML of the test guest: TCG, mem_mib of RAM, the agent channel and
 * a virtio balloon, with freePageHint='on' if free_page_hint (the IOThread
 * it needs is left for libvirt to assign). */
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
bool fph_jobinfo_u64(GHashTable *info, const char *field, guint64 *value);

GQuark fph_lab_error_quark(void);
#define FPH_LAB_ERROR fph_lab_error_quark()

/* Create the transient domain NAME on HOST from fph_guest_xml() and wait
 * for its guest agent. */
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

/* virsh -c FROM migrate --live [extra...] NAME TO-uri TO-migrate-uri, then
 * check that NAME runs on TO and no longer runs on FROM (a transient
 * domain is gone from it).  extra ends with NULL. */
bool fph_migrate(FphHost *from, FphHost *to, const char *name,
                 const char *const *extra, GError **error);
