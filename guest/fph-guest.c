/*
 * fph-guest: memory tools that run inside the test guest.
 *
 * One static binary with subcommands, started by the harness through the
 * QEMU guest agent (guest-exec).  Every subcommand prints one summary line
 * of "key=value" pairs on success and exits 0; on failure it prints what
 * went wrong on stderr and exits non-zero.
 *
 *   meminfo                         MemTotal, MemFree, MemAvailable in KiB
 *   fill FILE MIB SEED              fill FILE (on tmpfs: in-use memory) with
 *                                   the pattern of SEED
 *   verify FILE SEED                check every byte of FILE against SEED
 *   corrupt FILE OFFSET             flip the bits of one byte of FILE
 *   dirty-free MIB SEED             write non-zero data to MIB of anonymous
 *                                   memory, then free it (free pages that
 *                                   hold data: the seed's idle case)
 *   dirty MIB RATE SECONDS          rewrite a MIB working set at RATE MiB/s
 *                                   for SECONDS (0: until killed)
 *   alloc-verify RESERVE_MIB        allocate all but RESERVE_MIB of
 *                                   MemAvailable, fill, verify, free
 *   alloc MIB                       allocate MIB, fill, verify, free (more
 *                                   than MemAvailable makes the kernel
 *                                   reclaim or kill)
 *   workload FILE WS_MIB DIRTY CHURN
 *                                   until SIGTERM: rewrite a WS_MIB working
 *                                   set at DIRTY MiB/s, allocate, touch and
 *                                   free CHURN MiB/s, and compute with the
 *                                   rest of the CPU; the amount computed is
 *                                   the throughput.  Every 100 ms FILE gets
 *                                   "t=SECONDS work=UNITS ..." (monotonic
 *                                   clock); FILE.pid holds the PID
 *   hog DELAY SECONDS               return at once; after DELAY seconds a
 *                                   child takes the CPU for SECONDS at the
 *                                   highest real-time priority, without
 *                                   the kernel's real-time throttling: on
 *                                   a guest with one vCPU nothing else
 *                                   runs then (not the balloon driver's
 *                                   work, not the guest agent)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024UL * 1024UL)
#define CHUNK (4 * MIB)

/*
 * The pattern: word i of a region seeded with S is splitmix64(S ^ i).  It
 * depends only on the seed and the offset, so any byte can be checked on
 * its own, and it is never all-zero over a page, so QEMU's zero-page
 * detection cannot shortcut it.
 */
static inline uint64_t
pattern_word(uint64_t seed, uint64_t index)
{
    uint64_t z = (seed ^ index) + 0x9e3779b97f4a7c15ULL;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void
pattern_fill(uint64_t *buf, size_t words, uint64_t seed, uint64_t first)
{
    size_t i;

    for (i = 0; i < words; i++) {
        buf[i] = pattern_word(seed, first + i);
    }
}

/* Returns the index of the first wrong word in buf, or words if none. */
static size_t
pattern_check(const uint64_t *buf, size_t words, uint64_t seed,
              uint64_t first, size_t *bad)
{
    size_t i;
    size_t first_bad = words;

    for (i = 0; i < words; i++) {
        if (buf[i] != pattern_word(seed, first + i)) {
            if (first_bad == words) {
                first_bad = i;
            }
            (*bad)++;
        }
    }
    return first_bad;
}

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool
parse_u64(const char *s, const char *what, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0') {
        fprintf(stderr, "fph-guest: %s must be a whole number, not '%s'\n",
                what, s);
        return false;
    }
    return true;
}

static bool
read_meminfo(uint64_t *total, uint64_t *free_kb, uint64_t *avail)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    int found = 0;

    if (!f) {
        perror("fph-guest: /proc/meminfo");
        return false;
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "MemTotal: %" SCNu64, total) == 1 ||
            sscanf(line, "MemFree: %" SCNu64, free_kb) == 1 ||
            sscanf(line, "MemAvailable: %" SCNu64, avail) == 1) {
            found++;
        }
    }
    fclose(f);
    if (found != 3) {
        fprintf(stderr, "fph-guest: /proc/meminfo lacks MemTotal, MemFree "
                "or MemAvailable\n");
        return false;
    }
    return true;
}

static int
cmd_meminfo(void)
{
    uint64_t total, free_kb, avail;

    if (!read_meminfo(&total, &free_kb, &avail)) {
        return 1;
    }
    printf("MemTotal=%" PRIu64 " MemFree=%" PRIu64 " MemAvailable=%" PRIu64
           "\n", total, free_kb, avail);
    return 0;
}

/* Write all LEN bytes of BUF to FD; false with errno set if not */
static bool
write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        if (n == 0) {
            errno = ENOSPC;
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

static int
cmd_fill(const char *path, uint64_t mib, uint64_t seed)
{
    uint64_t *buf = malloc(CHUNK);
    uint64_t done;
    double t0 = now();
    int fd;

    if (!buf) {
        fprintf(stderr, "fph-guest: out of memory\n");
        return 1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fph-guest: cannot create %s: %s\n", path,
                strerror(errno));
        free(buf);
        return 1;
    }
    for (done = 0; done < mib * MIB; done += CHUNK) {
        size_t len = mib * MIB - done < CHUNK ? mib * MIB - done : CHUNK;

        pattern_fill(buf, len / 8, seed, done / 8);
        if (!write_all(fd, buf, len)) {
            /* A full tmpfs first takes part of a write, then says ENOSPC */
            fprintf(stderr, "fph-guest: writing %s after %" PRIu64 " of %"
                    PRIu64 " MiB: %s\n", path, done / MIB, mib,
                    strerror(errno));
            close(fd);
            free(buf);
            return 1;
        }
    }
    free(buf);
    if (close(fd) < 0) {
        fprintf(stderr, "fph-guest: closing %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("filled=%" PRIu64 " seed=%" PRIu64 " seconds=%.2f\n",
           mib * MIB, seed, now() - t0);
    return 0;
}

static int
cmd_verify(const char *path, uint64_t seed)
{
    uint64_t *buf = malloc(CHUNK);
    uint64_t offset = 0;
    uint64_t first_bad = UINT64_MAX;
    size_t bad = 0;
    double t0 = now();
    ssize_t n;
    int fd;

    if (!buf) {
        fprintf(stderr, "fph-guest: out of memory\n");
        return 1;
    }
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "fph-guest: cannot open %s: %s\n", path,
                strerror(errno));
        free(buf);
        return 1;
    }
    while ((n = read(fd, buf, CHUNK)) > 0) {
        size_t words = n / 8;
        size_t i = pattern_check(buf, words, seed, offset / 8, &bad);

        if (i < words && first_bad == UINT64_MAX) {
            first_bad = offset + i * 8;
        }
        if (n % 8 != 0) {
            fprintf(stderr, "fph-guest: %s is not a whole number of words\n",
                    path);
            bad++;
        }
        offset += n;
    }
    if (n < 0) {
        fprintf(stderr, "fph-guest: reading %s: %s\n", path, strerror(errno));
        bad++;
    }
    close(fd);
    free(buf);
    if (bad != 0 || offset == 0) {
        fprintf(stderr, "fph-guest: pattern MISMATCH in %s: %zu bad words of "
                "%" PRIu64 ", first at byte offset %" PRIu64 "\n", path, bad,
                offset / 8, first_bad == UINT64_MAX ? 0 : first_bad);
        printf("verified=0 bad_words=%zu first_bad=%" PRIu64 "\n", bad,
               first_bad == UINT64_MAX ? 0 : first_bad);
        return 2;
    }
    printf("verified=%" PRIu64 " bad_words=0 seconds=%.2f\n", offset,
           now() - t0);
    return 0;
}

static int
cmd_corrupt(const char *path, uint64_t offset)
{
    unsigned char c;
    int fd = open(path, O_RDWR);

    if (fd < 0) {
        fprintf(stderr, "fph-guest: cannot open %s: %s\n", path,
                strerror(errno));
        return 1;
    }
    if (pread(fd, &c, 1, offset) != 1) {
        fprintf(stderr, "fph-guest: offset %" PRIu64 " is outside %s\n",
                offset, path);
        close(fd);
        return 1;
    }
    c ^= 0xff;
    if (pwrite(fd, &c, 1, offset) != 1) {
        fprintf(stderr, "fph-guest: writing %s: %s\n", path, strerror(errno));
        close(fd);
        return 1;
    }
    close(fd);
    printf("corrupted=%" PRIu64 "\n", offset);
    return 0;
}

static uint64_t *
map_anon(uint64_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED) {
        fprintf(stderr, "fph-guest: cannot map %" PRIu64 " MiB: %s\n",
                bytes / MIB, strerror(errno));
        return NULL;
    }
    return p;
}

static int
cmd_dirty_free(uint64_t mib, uint64_t seed)
{
    uint64_t *p = map_anon(mib * MIB);
    double t0 = now();

    if (!p) {
        return 1;
    }
    pattern_fill(p, mib * MIB / 8, seed, 0);
    /* munmap returns every page to the guest kernel, data and all. */
    munmap(p, mib * MIB);
    printf("dirtied_freed=%" PRIu64 " seconds=%.2f\n", mib * MIB,
           now() - t0);
    return 0;
}

static int
cmd_dirty(uint64_t mib, uint64_t rate, uint64_t seconds)
{
    uint64_t *p = map_anon(mib * MIB);
    uint64_t pages = mib * MIB / 4096;
    uint64_t written = 0;
    uint64_t page = 0;
    double t0 = now();
    double elapsed;

    if (!p || rate == 0) {
        if (rate == 0) {
            fprintf(stderr, "fph-guest: the rate must be at least 1 MiB/s\n");
        }
        return 1;
    }
    do {
        /* One word per page dirties the page; the rate counts pages. */
        p[page * 512] = pattern_word(written, page);
        page = (page + 1) % pages;
        written++;
        if (written % 256 == 0) {
            elapsed = now() - t0;
            while ((double)written * 4096 / MIB > rate * elapsed) {
                usleep(1000);
                elapsed = now() - t0;
            }
        }
    } while (seconds == 0 || now() - t0 < seconds);
    munmap(p, mib * MIB);
    printf("dirtied=%" PRIu64 " seconds=%.2f\n", written * 4096, now() - t0);
    return 0;
}

/* Allocate mib MiB, write a pattern to all of it and verify it back */
static int
alloc_check(uint64_t mib, uint64_t avail)
{
    uint64_t bytes = mib * MIB;
    uint64_t *p;
    size_t bad = 0;
    size_t first;
    double t0 = now();

    p = map_anon(bytes);
    if (!p) {
        return 1;
    }
    pattern_fill(p, bytes / 8, 0xa110c, 0);
    first = pattern_check(p, bytes / 8, 0xa110c, 0, &bad);
    munmap(p, bytes);
    if (bad != 0) {
        fprintf(stderr, "fph-guest: allocated memory MISMATCH: %zu bad words, "
                "first at byte offset %zu\n", bad, first * 8);
        return 2;
    }
    printf("alloc_verified=%" PRIu64 " MemAvailable=%" PRIu64
           " seconds=%.2f\n", bytes, avail, now() - t0);
    return 0;
}

static int
cmd_alloc(uint64_t mib)
{
    uint64_t total, free_kb, avail;

    if (!read_meminfo(&total, &free_kb, &avail)) {
        return 1;
    }
    return alloc_check(mib, avail);
}

static int
cmd_alloc_verify(uint64_t reserve_mib)
{
    uint64_t total, free_kb, avail;

    if (!read_meminfo(&total, &free_kb, &avail)) {
        return 1;
    }
    if (avail / 1024 <= reserve_mib) {
        fprintf(stderr, "fph-guest: MemAvailable %" PRIu64 " MiB is not more "
                "than the reserve of %" PRIu64 " MiB\n", avail / 1024,
                reserve_mib);
        return 1;
    }
    return alloc_check(avail / 1024 - reserve_mib, avail);
}

static volatile sig_atomic_t workload_stop;

static void
workload_on_term(int sig)
{
    (void)sig;
    workload_stop = 1;
}

static bool
write_file_atomic(const char *path, const char *text)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, "fph-guest: cannot write %s: %s\n", path,
                strerror(errno));
        return false;
    }
    return true;
}

/*
 * The benchmark's workload, our analogue of the seed's kernel compile: a
 * fixed rate of dirtied memory and of allocations, and as much computing
 * as the CPU left over allows.  Each slice of 10 ms first catches up with
 * the two rates, then computes until the slice ends; "work" counts units
 * of computing, so work per second is what the guest got done.
 */
static int
cmd_workload(const char *path, uint64_t ws_mib, uint64_t dirty_rate,
             uint64_t churn_rate)
{
    const uint64_t ws_pages = ws_mib * MIB / 4096;
    uint64_t *ws = map_anon(ws_mib * MIB);
    uint64_t dirtied = 0, churned = 0, work = 0, sink = 0, page = 0;
    double t0 = now(), next_report = t0, t, slice_end;
    char line[256];
    struct sigaction sa = { .sa_handler = workload_on_term };

    if (!ws || ws_pages == 0) {
        fprintf(stderr, "fph-guest: the working set must be at least 1 MiB\n");
        return 1;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    snprintf(line, sizeof(line), "%d\n", (int)getpid());
    {
        char pidfile[4096];

        snprintf(pidfile, sizeof(pidfile), "%s.pid", path);
        if (!write_file_atomic(pidfile, line)) {
            return 1;
        }
    }
    while (!workload_stop) {
        t = now();
        slice_end = t + 0.01;
        while ((double)dirtied * 4096 < (t - t0) * dirty_rate * MIB) {
            ws[page * 512] = pattern_word(dirtied, page);
            page = (page + 1) % ws_pages;
            dirtied++;
        }
        while ((double)churned < (t - t0) * churn_rate * MIB) {
            uint64_t *c = map_anon(CHUNK);
            size_t i;

            if (!c) {
                return 1;
            }
            for (i = 0; i < CHUNK / 8; i += 512) {
                c[i] = i;
            }
            munmap(c, CHUNK);
            churned += CHUNK;
        }
        while (now() < slice_end) {
            uint64_t i;

            for (i = 0; i < 1024; i++) {
                sink += pattern_word(sink, i);
            }
            work++;
        }
        t = now();
        if (t >= next_report) {
            snprintf(line, sizeof(line),
                     "t=%.6f work=%" PRIu64 " dirtied=%" PRIu64
                     " churned=%" PRIu64 " sink=%" PRIu64 "\n",
                     t, work, dirtied * 4096, churned, sink & 0xff);
            if (!write_file_atomic(path, line)) {
                return 1;
            }
            next_report = t + 0.1;
        }
    }
    munmap(ws, ws_mib * MIB);
    printf("work=%" PRIu64 " seconds=%.2f\n", work, now() - t0);
    return 0;
}

#define RT_RUNTIME "/proc/sys/kernel/sched_rt_runtime_us"

/* Write VALUE to the sysctl file PATH */
static bool
write_sysctl(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY);
    ssize_t len = (ssize_t)strlen(value);
    bool ok = fd >= 0 && write(fd, value, len) == len;

    if (!ok) {
        fprintf(stderr, "fph-guest: cannot write %s to %s: %s\n", value, path,
                strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static int
cmd_hog(uint64_t delay, uint64_t seconds)
{
    struct sched_param param = { .sched_priority = sched_get_priority_max(SCHED_FIFO) };
    char old[32] = "";
    FILE *f = fopen(RT_RUNTIME, "r");
    pid_t pid;
    double end;

    if (!f || !fgets(old, sizeof(old), f)) {
        fprintf(stderr, "fph-guest: cannot read %s\n", RT_RUNTIME);
        if (f) {
            fclose(f);
        }
        return 1;
    }
    fclose(f);
    old[strcspn(old, "\n")] = '\0';
    pid = fork();
    if (pid < 0) {
        perror("fph-guest: fork");
        return 1;
    }
    if (pid > 0) {
        printf("pid=%d delay=%" PRIu64 " seconds=%" PRIu64 "\n", (int)pid,
               delay, seconds);
        return 0;
    }

    /* the guest agent waits for the output pipes to close */
    setsid();
    if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout) ||
        !freopen("/dev/null", "w", stderr)) {
        _exit(1);
    }
    sleep((unsigned int)delay);
    if (!write_sysctl(RT_RUNTIME, "-1")) {
        _exit(1);
    }
    if (sched_setscheduler(0, SCHED_FIFO, &param) < 0) {
        write_sysctl(RT_RUNTIME, old);
        _exit(1);
    }
    end = now() + (double)seconds;
    while (now() < end) {
        /* spin */
    }
    param.sched_priority = 0;
    sched_setscheduler(0, SCHED_OTHER, &param);
    write_sysctl(RT_RUNTIME, old);
    _exit(0);
}

static int
usage(void)
{
    fprintf(stderr,
            "usage: fph-guest meminfo\n"
            "       fph-guest fill FILE MIB SEED\n"
            "       fph-guest verify FILE SEED\n"
            "       fph-guest corrupt FILE OFFSET\n"
            "       fph-guest dirty-free MIB SEED\n"
            "       fph-guest dirty MIB RATE_MIB_S SECONDS\n"
            "       fph-guest alloc-verify RESERVE_MIB\n"
            "       fph-guest alloc MIB\n"
            "       fph-guest workload FILE WS_MIB DIRTY_MIB_S CHURN_MIB_S\n"
            "       fph-guest hog DELAY SECONDS\n");
    return 64;
}

int
main(int argc, char **argv)
{
    uint64_t a, b, c;
    const char *cmd = argc > 1 ? argv[1] : "";

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(cmd, "meminfo") == 0 && argc == 2) {
        return cmd_meminfo();
    }
    if (strcmp(cmd, "fill") == 0 && argc == 5) {
        if (!parse_u64(argv[3], "MIB", &a) || !parse_u64(argv[4], "SEED", &b)) {
            return 64;
        }
        return cmd_fill(argv[2], a, b);
    }
    if (strcmp(cmd, "verify") == 0 && argc == 4) {
        if (!parse_u64(argv[3], "SEED", &a)) {
            return 64;
        }
        return cmd_verify(argv[2], a);
    }
    if (strcmp(cmd, "corrupt") == 0 && argc == 4) {
        if (!parse_u64(argv[3], "OFFSET", &a)) {
            return 64;
        }
        return cmd_corrupt(argv[2], a);
    }
    if (strcmp(cmd, "dirty-free") == 0 && argc == 4) {
        if (!parse_u64(argv[2], "MIB", &a) || !parse_u64(argv[3], "SEED", &b)) {
            return 64;
        }
        return cmd_dirty_free(a, b);
    }
    if (strcmp(cmd, "dirty") == 0 && argc == 5) {
        if (!parse_u64(argv[2], "MIB", &a) ||
            !parse_u64(argv[3], "RATE_MIB_S", &b) ||
            !parse_u64(argv[4], "SECONDS", &c)) {
            return 64;
        }
        return cmd_dirty(a, b, c);
    }
    if (strcmp(cmd, "alloc-verify") == 0 && argc == 3) {
        if (!parse_u64(argv[2], "RESERVE_MIB", &a)) {
            return 64;
        }
        return cmd_alloc_verify(a);
    }
    if (strcmp(cmd, "alloc") == 0 && argc == 3) {
        if (!parse_u64(argv[2], "MIB", &a)) {
            return 64;
        }
        return cmd_alloc(a);
    }
    if (strcmp(cmd, "workload") == 0 && argc == 6) {
        uint64_t d;

        if (!parse_u64(argv[3], "WS_MIB", &a) ||
            !parse_u64(argv[4], "DIRTY_MIB_S", &b) ||
            !parse_u64(argv[5], "CHURN_MIB_S", &d)) {
            return 64;
        }
        return cmd_workload(argv[2], a, b, d);
    }
    if (strcmp(cmd, "hog") == 0 && argc == 4) {
        if (!parse_u64(argv[2], "DELAY", &a) || !parse_u64(argv[3], "SECONDS", &b)) {
            return 64;
        }
        return cmd_hog(a, b);
    }
    return usage();
}
