/*
 * util: small helpers the lab's parts share (not part of fphlab.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

/* Start time of PID in clock ticks since boot, 0 if it does not run (or
 * is a zombie).  A PID with the start time recorded at its start is the
 * same process: a reused PID is never signalled. */
unsigned long long fph_proc_starttime(pid_t pid);

/* rm -rf PATH (no error if it does not exist) */
bool fph_rm_rf(const char *path, GError **error);

/* cp -a FROM TO for a tree of directories and regular files */
bool fph_copy_tree(const char *from, const char *to, GError **error);

/* The last max bytes of the file at path, or "(no log)" */
char *fph_tail_of_file(const char *path, gsize max);

/* The value of the environment variable name, or fallback if unset or
 * empty */
const char *fph_env_or(const char *name, const char *fallback);

#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>

typedef struct FphHost FphHost;

/* Domain NAME on HOST, with the connection it holds in *conn */
virDomainPtr fph_host_domain(FphHost *host, const char *name,
                             virConnectPtr *conn, GError **error);

/* The "return" member of a QMP or guest agent reply, or an error that
 * quotes the reply (an "error" member included) */
JsonNode *fph_reply_return(const char *reply, const char *what,
                           GError **error);
