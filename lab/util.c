/*
 * util: small helpers the lab's parts share.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include "util.h"
#include "fphlab.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

unsigned long long
fph_proc_starttime(pid_t pid)
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

static int
rm_entry(const char *path, const struct stat *sb G_GNUC_UNUSED,
         int flag G_GNUC_UNUSED, struct FTW *ftw G_GNUC_UNUSED)
{
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

bool
fph_rm_rf(const char *path, GError **error)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot remove %s: %s", path,
                    g_strerror(errno));
        return false;
    }
    return true;
}

static const char *copy_from;
static const char *copy_to;

static int
copy_entry(const char *path, const struct stat *sb, int flag,
           struct FTW *ftw G_GNUC_UNUSED)
{
    g_autofree char *dst = g_strconcat(copy_to, path + strlen(copy_from), NULL);
    g_autofree char *data = NULL;
    gsize len;

    if (flag == FTW_D) {
        return g_mkdir_with_parents(dst, sb->st_mode & 07777) < 0 ? -1 : 0;
    }
    if (flag != FTW_F || !S_ISREG(sb->st_mode)) {
        /* sockets, pipes and links of a host's state are not kept */
        return 0;
    }
    if (!g_file_get_contents(path, &data, &len, NULL) ||
        !g_file_set_contents(dst, data, len, NULL)) {
        return -1;
    }
    return 0;
}

bool
fph_copy_tree(const char *from, const char *to, GError **error)
{
    copy_from = from;
    copy_to = to;
    if (nftw(from, copy_entry, 16, FTW_PHYS) < 0) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot copy %s to %s: %s",
                    from, to, g_strerror(errno));
        return false;
    }
    return true;
}

char *
fph_tail_of_file(const char *path, gsize max)
{
    g_autofree char *text = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &text, &len, NULL)) {
        return g_strdup("(no log)");
    }
    return g_strdup(len > max ? text + len - max : text);
}

const char *
fph_env_or(const char *name, const char *fallback)
{
    const char *v = g_getenv(name);

    return v && *v ? v : fallback;
}
