/*
 * virsh: libvirt and virsh against the lab's hosts.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include "fphlab.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

int
fph_virshv(FphHost *host, const char *const *argv, char **out, char **err)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    size_t i;

    /* the host's own virsh, in the host, against its own libvirtd */
    g_ptr_array_add(args, (gpointer)"/usr/bin/virsh");
    g_ptr_array_add(args, (gpointer)"-q");
    g_ptr_array_add(args, (gpointer)"-c");
    g_ptr_array_add(args, (gpointer)"qemu:///system");
    for (i = 0; argv[i]; i++) {
        g_ptr_array_add(args, (gpointer)argv[i]);
    }
    g_ptr_array_add(args, NULL);
    return fph_host_run(host, (const char *const *)args->pdata, out, err);
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
    return g_strdup(host->remote_uri);
}

/* The "return" member of a QMP or guest agent reply, or an error that
 * quotes the reply (an "error" member included). */
JsonNode *
fph_reply_return(const char *reply, const char *what, GError **error)
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
    return fph_reply_return(out, "QMP", error);
}

GHashTable *
fph_jobinfo_completed(FphHost *host, const char *dom, GError **error)
{
    return fph_jobinfo(host, dom, true, error);
}

GHashTable *
fph_jobinfo(FphHost *host, const char *dom, bool completed, GError **error)
{
    g_autoptr(GHashTable) info = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                      g_free, g_free);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) lines = NULL;
    size_t i;

    if (fph_virsh(host, &out, &err, "domjobinfo", "--rawstats", dom,
                  completed ? "--completed" : NULL, NULL) != 0) {
        g_set_error(error, FPH_LAB_ERROR, 0,
                    "virsh domjobinfo%s %s on host %s failed: %s",
                    completed ? " --completed" : "", dom, host->name,
                    err ? err : "");
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

virDomainPtr
fph_host_domain(FphHost *host, const char *name, virConnectPtr *conn,
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
    g_ptr_array_add(argv, to->remote_uri);
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
