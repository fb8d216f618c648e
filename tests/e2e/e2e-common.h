/*
 * e2e-common: what the e2e tests share: TAP output, the guest's pattern
 * and the proof that no guest memory was lost.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#pragma once

#include "fphlab.h"

#include <libvirt/virterror.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATTERN_MIB "256"
#define FREED_MIB "1024"
#define ALLOC_RESERVE_MIB "128"
#define PATTERN_FILE "/run/fph-pattern"

/* Line-buffered output and the TAP header */
void e2e_begin(void);

/* Tear the lab down at exit, also on failure (keeping its logs), and
 * bring it up: a TAP line.  If it does not come up, the TAP plan is
 * printed and false returned. */
bool e2e_lab_up(FphLab *lab);

/* Take the lab down if every check passed (on failure the exit handler
 * does it and keeps the logs) and print the TAP plan; returns the exit
 * status of the program. */
int e2e_end(FphLab *lab);

/* One TAP line: "ok N - what" or "not ok N - what" followed by err's
 * message as comments.  Returns ok. */
bool tap(bool ok, GError *err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* A test point that could not run here: "ok N - WHAT # SKIP WHY" */
void tap_skip(const char *why, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Tests reported so far, and how many of them failed */
int tap_count(void);
int tap_failures(void);

/* Evaluates EXPR before it reads err (argument order is unspecified in C),
 * then reports and clears err. */
#define CHECK(expr, ...) \
    ({ \
        bool ok_ = (expr); \
        tap(ok_, err, __VA_ARGS__); \
        g_clear_error(&err); \
        ok_; \
    })

#define GUEST(...) ((const char *const[]){ "/bin/fph-guest", __VA_ARGS__, NULL })
#define VIRSH(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Runs virsh on HOST with ARGV (VIRSH(...)) and prints one TAP line,
 * "<FMT> is refused: <virsh's error>": ok if virsh failed with an error
 * that contains WANT and, unless it is NULL, ALSO.  Returns ok. */
bool tap_refused(FphHost *host, const char *const *argv, const char *want,
                 const char *also, const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* Fill the in-use pattern (PATTERN_MIB at PATTERN_FILE), then write and
 * free mib_freed (free pages that hold data, the seed's idle guest). */
bool fill_and_free(FphHost *host, const char *name, const char *seed,
                   const char *mib_freed, GError **error);

/* Every byte of the pattern verifies */
bool verify_pattern(FphHost *host, const char *name, const char *seed,
                    GError **error);

/* Two TAP lines: the pattern verifies, and the guest allocates and
 * verifies at least min_mib of its free memory. */
bool verify_on(FphHost *host, const char *name, const char *seed,
               guint64 min_mib);

/* MemFree of the guest NAME in KiB, or 0 with error set */
guint64 guest_memfree(FphHost *host, const char *name, GError **error);

/* Wait up to timeout_s until the guest's MemFree falls below limit (KiB):
 * its balloon driver holds the pages it reported.  *low gets the MemFree
 * seen last. */
bool wait_memfree_below(FphHost *host, const char *name, guint64 limit,
                        int timeout_s, guint64 *low, GError **error);

/* A TAP line: within 10 s the guest's MemFree is back to at least 95% of
 * before (KiB), the pages it reported given back to its allocator. */
void check_memfree_back(FphHost *host, const char *name, guint64 before);

#define BALLOON_DRIVER "/sys/bus/virtio/drivers/virtio_balloon"
#define BUSYBOX(...) ((const char *const[]){ "/bin/busybox", __VA_ARGS__, NULL })

/* virsh with ARGV on a host, in a thread of its own (a migration or a
 * save that the test faults while it runs) */
typedef struct {
    FphHost *host;
    GStrv argv;
    GThread *thread;
    gint done;
    int rc;
    char *out;
    char *err;
    bool joined;
    int joined_rc;
} VirshJob;

/* Wait up to 60 s until FROM has a job (a migration, a save) for NAME */
bool wait_job(FphHost *from, const char *name, GError **error);

VirshJob *virsh_job_start(FphHost *host, const char *const *argv);

/* Wait up to timeout_s for the job to end; its exit status, or -1 if it
 * did not end (then the domain NAME's job is aborted and waited for).
 * Once joined, the job gives the same result again. */
int virsh_job_join(VirshJob *job, const char *name, int timeout_s);

void virsh_job_free(VirshJob *job);

/* NAME destroyed on both hosts, wherever it is (errors ignored: it may
 * be on one of them only, or on none) */
void destroy_on(FphHost *one, FphHost *other, const char *name);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VirshJob, virsh_job_free)
