/*
 * fph-bench-report: the benchmark's report (summary.md and the plots)
 * written again from the runs.csv (and saves.csv, if there is one) of an
 * earlier benchmark, for example an interrupted one.  Needs no lab and no libvirt.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "report.h"
#include "saves.h"

#include <errno.h>

int
main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GDateTime) dt = g_date_time_new_now_utc();
    g_autofree char *started = g_date_time_format(dt, "%Y-%m-%d %H:%M UTC");
    g_autofree char *base = NULL;
    g_autofree char *measured = NULL;
    g_autofree char *out_arg = NULL;
    g_autofree char *append_arg = NULL;
    gint64 wait_arg = 10000;
    guint n_runs, n_saves;
    Options o = { .ws_mib = 128, .dirty_rate = 16, .churn_rate = 16 };
    GOptionEntry entries[] = {
        { "out", 0, 0, G_OPTION_ARG_FILENAME, &out_arg,
          "the benchmark's output directory, with its runs.csv (required)",
          "DIR" },
        { "hint-wait", 0, 0, G_OPTION_ARG_INT64, &wait_arg,
          "the hint wait the runs were measured with, ms (default 10000)",
          "MS" },
        { "guest-append", 0, 0, G_OPTION_ARG_STRING, &append_arg,
          "what the runs of a runs.csv from before its guest column "
          "appended to the guest kernel's command line", "ARGS" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- the report of fph-bench again from its runs.csv");

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("fph-bench-report: %s\n", err->message);
        return 64;
    }
    if (!out_arg || argc != 1) {
        g_printerr("fph-bench-report: --out DIR is required, and nothing else\n");
        return 64;
    }
    if (wait_arg < 1 || wait_arg > 60000) {
        g_printerr("fph-bench-report: --hint-wait must be from 1 to 60000 ms, not %"
                   G_GINT64_FORMAT "\n", wait_arg);
        return 64;
    }
    o.out = out_arg;
    o.hint_wait_ms = wait_arg;
    o.guest_append = append_arg;
    base = g_path_get_basename(o.out);
    measured = g_strdup_printf("measured as %s, summarized %s", base, started);
    if (!report_from_csvs(&o, measured, &n_runs, &n_saves)) {
        return 1;
    }
    printf("[bench] %u runs and %u saves read; report in %s/summary.md\n",
           n_runs, n_saves, o.out);
    g_array_unref(o.sizes);
    g_ptr_array_unref(o.links);
    g_ptr_array_unref(o.guests);
    return 0;
}
