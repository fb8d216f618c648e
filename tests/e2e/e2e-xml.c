/*
 * e2e-xml: bad <memballoon> XML through virsh, as users meet it.
 *
 * The cases and their messages are the table of docs/libvirt.md between
 * "<!-- xml-errors" and "<!-- /xml-errors -->" (the path is the program's
 * argument): the documentation is what is checked.  For each row the
 * <memballoon> of a defined domain (freePageHint='on', one IOThread) is
 * replaced by the row's, and `virsh define` must fail with the row's
 * message, `virsh define --validate` and `virsh edit` (which validate
 * against the schema first) with the row's message for schema
 * validation.  The domain must be unchanged at the end.
 *
 * Output is TAP.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "e2e-common.h"

typedef struct {
    char *what;
    char *xml;
    char *message;          /* of virsh define */
    char *schema_message;   /* of virsh define --validate and virsh edit */
} XmlCase;

static void
xml_case_clear(gpointer data)
{
    XmlCase *c = data;

    g_free(c->what);
    g_free(c->xml);
    g_free(c->message);
    g_free(c->schema_message);
}

/* The text of a table cell: without the spaces around, and without the
 * backticks around if it is one code span */
static char *
cell(const char *text)
{
    g_autofree char *s = g_strstrip(g_strdup(text));
    size_t len = strlen(s);

    if (len >= 2 && s[0] == '`' && strchr(s + 1, '`') == s + len - 1) {
        return g_strndup(s + 1, len - 2);
    }
    return g_steal_pointer(&s);
}

/* The rows of the xml-errors table of the document at path */
static GArray *
read_cases(const char *path, GError **error)
{
    g_autoptr(GArray) cases = g_array_new(FALSE, TRUE, sizeof(XmlCase));
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    bool in_table = false;
    size_t i;

    g_array_set_clear_func(cases, xml_case_clear);
    if (!g_file_get_contents(path, &text, NULL, error)) {
        return NULL;
    }
    lines = g_strsplit(text, "\n", 0);
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) cells = NULL;
        XmlCase c;

        if (g_str_has_prefix(lines[i], "<!-- xml-errors")) {
            in_table = true;
            continue;
        }
        if (g_str_has_prefix(lines[i], "<!-- /xml-errors")) {
            break;
        }
        if (!in_table || !g_str_has_prefix(lines[i], "| ") ||
            g_str_has_prefix(lines[i], "| case ")) {
            continue;
        }
        /* "| case | xml | message | schema message |" */
        cells = g_strsplit(lines[i], " | ", -1);
        if (g_strv_length(cells) != 4 || !g_str_has_suffix(cells[3], " |")) {
            g_set_error(error, FPH_LAB_ERROR, 0, "%s:%zu: not a row of four "
                        "cells: %s", path, i + 1, lines[i]);
            return NULL;
        }
        cells[3][strlen(cells[3]) - 2] = '\0';
        c.what = cell(cells[0] + 2);
        c.xml = cell(cells[1]);
        c.message = cell(cells[2]);
        c.schema_message = cell(cells[3]);
        g_array_append_val(cases, c);
    }
    if (cases->len == 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "%s: no xml-errors table", path);
        return NULL;
    }
    return g_steal_pointer(&cases);
}

/* The domain XML with its <memballoon> element replaced by repl */
static char *
replace_balloon(const char *xml, const char *repl, GError **error)
{
    g_autoptr(GRegex) re = g_regex_new("<memballoon\\b.*?</memballoon>|"
                                       "<memballoon\\b[^>]*/>",
                                       G_REGEX_DOTALL, 0, error);

    if (!re) {
        return NULL;
    }
    if (!g_regex_match_simple("<memballoon\\b", xml, 0, 0)) {
        g_set_error(error, FPH_LAB_ERROR, 0, "no <memballoon> in: %s", xml);
        return NULL;
    }
    return g_regex_replace_literal(re, xml, -1, 0, repl, 0, error);
}

/* virsh fails and its error output contains message */
static bool
refused(int rc, const char *errout, const char *message)
{
    return rc != 0 && errout && strstr(errout, message);
}

static void
check_case(FphHost *host, const char *name, const char *base, XmlCase *c)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = replace_balloon(base, c->xml, &err);
    g_autofree char *path = NULL;
    g_autofree char *editor = NULL;
    g_autofree char *e1 = NULL;
    g_autofree char *e2 = NULL;
    g_autofree char *e3 = NULL;
    bool ok;
    int rc;

    path = xml ? fph_host_write_tmp(host, "e2e-xml-XXXXXX.xml", xml, &err) : NULL;
    if (!CHECK(path != NULL, "%s: domain XML written in host %s", c->what,
               host->name)) {
        return;
    }

    rc = fph_virsh(host, NULL, &e1, "define", path, NULL);
    ok = tap(refused(rc, e1, c->message), NULL, "%s: virsh define refuses %s: %s",
             c->what, c->xml, e1 ? g_strstrip(e1) : "(no error)");
    rc = fph_virsh(host, NULL, &e2, "define", "--validate", path, NULL);
    ok &= tap(refused(rc, e2, c->schema_message), NULL,
              "%s: virsh define --validate refuses it: %s", c->what,
              e2 ? g_strstrip(e2) : "(no error)");

    /* the editor puts the whole document in place of virsh's copy */
    editor = g_strdup_printf("cp %s", path);
    g_setenv("EDITOR", editor, TRUE);
    g_unsetenv("VISUAL");
    rc = fph_virsh(host, NULL, &e3, "edit", name, NULL);
    g_unsetenv("EDITOR");
    ok &= tap(refused(rc, e3, c->schema_message), NULL,
              "%s: virsh edit refuses it: %s",
              c->what, e3 ? g_strstrip(e3) : "(no error)");
    if (!ok) {
        printf("# expected: %s (virsh define), %s (with the schema)\n",
               c->message, c->schema_message);
    }
}

int
main(int argc, char **argv)
{
    /* Not freed at the end of main: the exit handler may still need it. */
    FphLab *lab = fph_lab_new();
    const char *name = "e2e-xml";
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) cases = NULL;
    g_autofree char *path = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *base = NULL;
    g_autofree char *after = NULL;
    FphHost *a;
    guint i;

    e2e_begin();
    if (argc != 2) {
        fprintf(stderr, "usage: e2e-xml DOCS/LIBVIRT.MD\n");
        return 64;
    }
    if (!CHECK((cases = read_cases(argv[1], &err)) != NULL,
               "the xml-errors table of %s: %u cases", argv[1],
               cases ? cases->len : 0)) {
        printf("1..%d\n", tap_count());
        return 1;
    }
    if (!e2e_lab_up(lab)) {
        return 1;
    }
    a = fph_lab_host(lab, "A");

    xml = fph_guest_xml(lab, name, 256, true);
    path = fph_host_write_tmp(a, "e2e-xml-XXXXXX.xml", xml, &err);
    if (CHECK(path != NULL &&
              fph_virsh(a, NULL, NULL, "define", path, NULL) == 0 &&
              fph_virsh(a, &base, NULL, "dumpxml", "--inactive", name, NULL) == 0 &&
              strstr(base, "<iothreads>1</iothreads>"),
              "%s defined on host A with freePageHint='on' and one IOThread",
              name)) {
        for (i = 0; i < cases->len; i++) {
            check_case(a, name, base, &g_array_index(cases, XmlCase, i));
        }
        fph_virsh(a, &after, NULL, "dumpxml", "--inactive", name, NULL);
        tap(after && g_str_equal(after, base), NULL,
            "%s: the refused edits and definitions changed nothing", name);
        fph_virsh(a, NULL, NULL, "undefine", name, NULL);
    }

    return e2e_end(lab);
}
