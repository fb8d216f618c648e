/*
 * agent: the guest agent of the lab's guests, through libvirt.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include "fphlab.h"
#include "util.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

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
    return fph_reply_return(reply, "guest agent", error);
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

bool
fph_guest_run(FphHost *host, const char *name, const char *const *argv,
              int want_exit, int timeout_s, char **out, GError **error)
{
    g_auto(FphExec) res = { .exitcode = -1 };
    virConnectPtr conn = NULL;
    virDomainPtr dom = fph_host_domain(host, name, &conn, error);
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
    virDomainPtr dom = fph_host_domain(host, name, &conn, error);
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

