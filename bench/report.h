/*
 * report: what fph-bench measures (runs.csv) and the report it writes from
 * it (summary.md, the plots).  fph-bench writes the runs as it measures
 * them; fph-bench-report, which needs no lab and no libvirt, writes the
 * report again from a runs.csv.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>

/* The seed's figures: 8 GiB guest, 4 vCPUs, 100G, averages of 10 runs */
#define SEED_SIZE_GIB 8
#define SEED_IDLE_PLAIN_MS 1769
#define SEED_IDLE_HINT_MS 271
#define SEED_WORK_PLAIN_MS 2634
#define SEED_WORK_HINT_MS 1265

/*
 * How a migration runs.  The reporting modes migrate a second guest whose
 * balloon also has freePageReporting='on' (a property of the device, not
 * of a migration): its kernel reports free memory all the time, and QEMU
 * discards what it reports.
 */
typedef enum {
    MODE_PLAIN,                 /* no flag */
    MODE_HINT,                  /* VIR_MIGRATE_FREE_PAGE_HINT */
    MODE_HINT_WAIT,             /* the same, the bulk stage waits */
    MODE_REPORTING,             /* reporting guest, no flag */
    MODE_REPORTING_HINT_WAIT,   /* reporting guest, as hint-wait */
    MODE_LAST
} Mode;

extern const char *const mode_names[MODE_LAST];

/* Whether a migration of MODE asks the guest for hints */
bool mode_hints(Mode mode);
/* Whether it waits for the guest's first run of hints */
bool mode_waits(Mode mode);
/* Whether its guest reports free pages (freePageReporting='on') */
bool mode_reporting(Mode mode);
/* The mode of the same guest without hints: what MODE is compared with */
Mode mode_base(Mode mode);

typedef enum {
    SC_IDLE_FRESH,
    SC_IDLE_FREED,
    SC_WORKLOAD,
    SC_LAST
} Scenario;

extern const char *const sc_names[SC_LAST];

/*
 * libvirt's part of a peer-to-peer migration, phase by phase, from the
 * timestamps of the source libvirtd's migration debug messages and the
 * benchmark's own clock around the API call:
 *   call     the call until the source's libvirtd runs the migration
 *   connect  its connection to the destination's libvirtd (TLS)
 *   begin    Begin: the domain XML and the cookie for the destination
 *   prepare  Prepare on the destination: its QEMU started, listening
 *   perform  Perform: QEMU's migration (with the hint wait)
 *   finish   Finish on the destination: the guest runs there
 *   confirm  Confirm on the source, until the call returns
 */
typedef enum {
    PHASE_CALL,
    PHASE_CONNECT,
    PHASE_BEGIN,
    PHASE_PREPARE,
    PHASE_PERFORM,
    PHASE_FINISH,
    PHASE_CONFIRM,
    PHASE_LAST
} Phase;

extern const char *const phase_names[PHASE_LAST];

/*
 * The phases of the migration in LOG (what the source libvirtd's
 * libvirtd.log got while the call ran; the filter 1:qemu.qemu_migration),
 * the call made at CALL_US and returned at RETURN_US (g_get_real_time()):
 * false, with PHASE_MS all NaN, if a phase's message is missing.
 */
bool phases_from_log(const char *log, gint64 call_us, gint64 return_us,
                     double phase_ms[PHASE_LAST]);

typedef struct {
    Scenario sc;
    unsigned int gib;
    Mode mode;
    unsigned int run;
    char from[2];
    char to[2];
    double in_use_mib;
    double qemu_ms;          /* NAN when the completed state was missed */
    double setup_ms;
    double api_ms;
    double elapsed_ms;       /* libvirt's time_elapsed */
    double downtime_ms;
    double sent_mib;         /* memory_processed */
    double hinted_mib;
    double bw_mib_s;         /* memory_bps */
    double throughput;       /* workload units/s, NAN otherwise */
    double sent_before_hint_mib; /* sent when the first hint arrived */
    char link[16];           /* the link's rate (tc's syntax) or "unlimited" */
    double mem_free_mib;     /* the guest's MemFree before, NAN if unknown */
    double phase_ms[PHASE_LAST]; /* libvirt's phases, NAN if unknown */
    char guest[64];          /* what the guest's kernel command line had
                              * added ("": Debian's kernel as shipped) */
} Run;

/* The link of a run without one (runs.csv before link rates): unlimited */
#define LINK_UNLIMITED "unlimited"

typedef struct {
    unsigned int runs;
    GArray *sizes;           /* unsigned int GiB */
    GPtrArray *links;        /* char *: rates (tc's syntax) or "unlimited" */
    bool traces_without_link; /* runs.csv from before link rates */
    bool traces_without_guest; /* runs.csv from before the guest column */
    bool scenarios[SC_LAST];
    bool modes[MODE_LAST];
    guint64 hint_wait_ms;
    char *out;
    unsigned int ws_mib;
    unsigned int dirty_rate;
    unsigned int churn_rate;
    /* the guests' kernel command line extras ("": as shipped), in the
     * order they were measured */
    GPtrArray *guests;
    /* the guest of the runs of a runs.csv from before the guest column */
    const char *guest_append;
} Options;

/* The median, minimum and maximum of some values */
typedef struct {
    unsigned int n;
    double med, min, max;
} Stat;

/* Field i of a CSV line split at its commas: a number, or NaN if empty */
double csv_field(char **fields, int i);

/* The Stat of values (doubles; NaN left out); sorts them */
Stat stat_values(GArray *values);
/* One table cell: " MED (MIN–MAX) |" in fmt, or " n/a |" */
void md_stat(FILE *f, Stat st, const char *fmt);

/* DIR/NAME, a CSV: made anew with the provenance as "# " comments and
 * HEADER, or with APPEND the end of the one already there (the comments
 * and HEADER written only if there is none); NULL on error (reported) */
FILE *csv_create(const char *dir, const char *name, const char *header,
                 bool append);
/* runs.csv of o->out, its header written; with APPEND, the end of the
 * runs.csv already there (the header written only if there is none);
 * NULL on error (reported) */
FILE *csv_open(const Options *o, bool append);
/* What makes a run one of the benchmark's matrix: its scenario, size,
 * link, guest, mode and number.  A resumed benchmark skips the runs whose
 * key its runs.csv already has. */
char *run_key(const Run *r);
/* one run appended to runs.csv, flushed */
void csv_append(FILE *f, const Run *r);
/* runs.csv of o->out read back into runs, with the sizes (ascending),
 * scenarios, modes, links, guests and number of runs in it set in o; true
 * also for a runs.csv without runs (a benchmark stopped before its first
 * one), false on a file that cannot be read or is not a runs.csv
 * (reported) */
bool csv_read(Options *o, GArray *runs);
/* summary.md: the tables and the targets; started says when */
void write_summary(const Options *o, GArray *runs, const char *started);
/* plot.dat, plot.gp and the plots made by gnuplot */
void write_plots(const Options *o, GArray *runs);
/* The name of a run's timeline in trace/ */
char *trace_name(Scenario sc, unsigned int gib, const char *link,
                 const char *guest, Mode mode, unsigned int run);

/*
 * Provenance: what a benchmark measured, as "key: value" lines that
 * ./fph bench writes to provenance.txt in the output directory before the
 * benchmark starts (fph's commit, the queues' hashes, the hosts' package
 * versions, the kernels, the CPU).  Every CSV starts with them as "# "
 * comment lines, and summary.md has them as a table.  A directory without
 * provenance.txt (an older benchmark) gives neither.
 */
char **provenance_read(const char *out);
void provenance_csv(FILE *f, const char *out);
void provenance_md(FILE *f, const char *out);
/* The first line of LINES that is not a "#" comment */
char **csv_skip_comments(char **lines);
