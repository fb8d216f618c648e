/*
 * saves: what fph-bench measures of saves and restores (saves.csv) and
 * the "Saves" section of summary.md written from it.  Needs no lab and no
 * libvirt, like the rest of the report.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#pragma once

#include "report.h"

/* libvirt's save image formats measured: the default one, whose image is
 * a stream of the pages written, and mapped-ram, where a page not written
 * is a hole */
typedef enum {
    SAVE_FORMAT_RAW,
    SAVE_FORMAT_SPARSE,
    SAVE_FORMAT_LAST
} SaveFormat;

extern const char *const save_format_names[SAVE_FORMAT_LAST];

/* The targets of the save issues: the allocated size of a hinted sparse
 * image is at most this times the guest's in-use memory (issue 16), and
 * at most this times the in-use memory plus the free memory the driver
 * did not hint (issue 14's allowance) */
#define SAVE_TARGET_RATIO 1.3

typedef struct {
    unsigned int gib;
    unsigned int run;
    bool hint;               /* VIR_DOMAIN_SAVE_FREE_PAGE_HINT */
    SaveFormat format;
    double in_use_mib;       /* MemTotal - MemFree before the save */
    double save_ms;          /* virDomainSaveParams() wall time */
    double restore_ms;       /* virDomainRestore() wall time */
    double apparent_mib;     /* st_size of the image */
    double allocated_mib;    /* st_blocks * 512 of the image */
    double hinted_mib;       /* memory_free_page_hint_bytes of the job */
    double mem_free_mib;     /* MemFree before the save; NAN where saves.csv
                              * has no such column (before 2026-12-05) */
} SaveRun;

/* saves.csv in OUT, its header written; with APPEND, the end of the
 * saves.csv already there (the header written only if there is none);
 * NULL on error (reported) */
FILE *saves_csv_open(const char *out, bool append);
/* What makes a save one of the benchmark's: size, number, hint, format
 * (a resumed benchmark skips the saves its saves.csv has) */
char *save_key(const SaveRun *r);
/* one save appended to saves.csv, flushed */
void saves_csv_append(FILE *f, const SaveRun *r);
/* saves.csv of OUT read into saves; true also when OUT has none (no
 * saves measured), false on a file that cannot be read (reported) */
bool saves_csv_read(const char *out, GArray *saves);
/* The "Saves" section appended to OUT's summary.md, if there are saves */
void write_saves_summary(const char *out, GArray *saves);
/* The report (summary.md headed by STARTED, the saves, the plots) of all
 * that o->out's runs.csv and saves.csv have, with o's sets as csv_read()
 * finds them; how many runs and saves in N_RUNS and N_SAVES.  false, with
 * no report, if the CSVs cannot be read or have nothing (reported). */
bool report_from_csvs(Options *o, const char *started, guint *n_runs,
                      guint *n_saves);
