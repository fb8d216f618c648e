/*
 * fph-pyconst: the names of a libvirt API description that a Python
 * binding module lacks, as Python assignments.
 *
 *   fph-pyconst LIBVIRT-API-XML LIBVIRT-PY
 *
 * The binding's constants (flags, typed-parameter and job-statistics field
 * names) are generated from libvirt's API description when the binding is
 * built.  Debian's python3-libvirt was built from Debian's libvirt, so it
 * lacks the names fph's libvirt adds; its source package cannot be had to
 * rebuild it (docs/packages.md).  For each <enum> of LIBVIRT-API-XML
 * (libvirt-dev's /usr/share/libvirt/api/libvirt-api.xml) and each <macro>
 * with a string value whose name LIBVIRT-PY does not assign at its top
 * level, one line "NAME = VALUE" goes to stdout, in the order of the
 * description: what the binding's generator writes for them.  Nothing else
 * of the module changes: fph adds no function to libvirt's API.
 *
 * Exit status 0 (the count of names on stderr), 1 on an error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    GHashTable *known;  /* names LIBVIRT-PY assigns */
    GString *out;
    unsigned int count;
} Scan;

/* "NAME = ..." at the start of a line, NAME in capitals: the module's
 * constants */
static GHashTable *
module_names(const char *text)
{
    GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    size_t i;

    for (i = 0; lines[i]; i++) {
        const char *l = lines[i];
        size_t n = 0;

        while (g_ascii_isupper(l[n]) || g_ascii_isdigit(l[n]) || l[n] == '_') {
            n++;
        }
        if (n > 0 && g_ascii_isupper(l[0]) && g_str_has_prefix(l + n, " = ")) {
            g_hash_table_add(names, g_strndup(l, n));
        }
    }
    return names;
}

/* A Python string literal of S */
static void
append_python_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            g_string_append_c(out, '\\');
        }
        g_string_append_c(out, *s);
    }
    g_string_append_c(out, '"');
}

static void
start_element(GMarkupParseContext *ctx G_GNUC_UNUSED, const char *element,
              const char **names, const char **values, gpointer data,
              GError **error G_GNUC_UNUSED)
{
    Scan *scan = data;
    const char *name = NULL;
    const char *value = NULL;
    const char *string = NULL;
    size_t i;
    bool is_enum = g_str_equal(element, "enum");

    if (!is_enum && !g_str_equal(element, "macro")) {
        return;
    }
    for (i = 0; names[i]; i++) {
        if (g_str_equal(names[i], "name")) {
            name = values[i];
        } else if (g_str_equal(names[i], "value")) {
            value = values[i];
        } else if (g_str_equal(names[i], "string")) {
            string = values[i];
        }
    }
    /* The generator leaves out the _LAST of each enum: it changes as
     * libvirt grows */
    if (!name || g_hash_table_contains(scan->known, name) ||
        (is_enum ? !value || g_str_has_suffix(name, "_LAST") : !string)) {
        return;
    }
    if (is_enum) {
        char *end = NULL;

        g_ascii_strtoll(value, &end, 10);
        if (!*value || *end) {
            return;     /* not a number: the generator leaves it out too */
        }
        g_string_append_printf(scan->out, "%s = %s\n", name, value);
    } else {
        g_string_append_printf(scan->out, "%s = ", name);
        append_python_string(scan->out, string);
        g_string_append_c(scan->out, '\n');
    }
    g_hash_table_add(scan->known, g_strdup(name));
    scan->count++;
}

int
main(int argc, char **argv)
{
    static const GMarkupParser parser = { .start_element = start_element };
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *py = NULL;
    g_autoptr(GMarkupParseContext) ctx = NULL;
    Scan scan = { 0 };
    gsize len = 0;

    g_set_prgname("fph-pyconst");
    if (argc != 3) {
        g_printerr("usage: fph-pyconst LIBVIRT-API-XML LIBVIRT-PY\n");
        return 1;
    }
    if (!g_file_get_contents(argv[1], &xml, &len, &err) ||
        !g_file_get_contents(argv[2], &py, NULL, &err)) {
        g_printerr("fph-pyconst: %s\n", err->message);
        return 1;
    }
    scan.known = module_names(py);
    if (g_hash_table_size(scan.known) == 0) {
        g_printerr("fph-pyconst: %s assigns no constant: not a libvirt "
                   "binding module\n", argv[2]);
        return 1;
    }
    scan.out = g_string_new(NULL);
    ctx = g_markup_parse_context_new(&parser, 0, &scan, NULL);
    if (!g_markup_parse_context_parse(ctx, xml, len, &err) ||
        !g_markup_parse_context_end_parse(ctx, &err)) {
        g_printerr("fph-pyconst: %s: %s\n", argv[1], err->message);
        return 1;
    }
    fputs(scan.out->str, stdout);
    g_printerr("fph-pyconst: %u names that %s lacks\n", scan.count, argv[2]);
    g_string_free(scan.out, TRUE);
    g_hash_table_unref(scan.known);
    return 0;
}
