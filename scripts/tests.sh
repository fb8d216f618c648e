# Test tiers, the lab and the demo.  Sourced, not run.

# the QEMU the qtests are given: a wrapper that forces TCG
FPH_QTEST_QEMU=tests/qtest/tcg-only/qemu-system-x86_64

own_env() {
    export FPH_PREFIX FPH_HOSTS_DIR=$FPH_HOSTS FPH_LAB_DIR=$FPH_LAB_RUN FPH_GUEST_DIR=$FPH_GUEST \
        FPH_LAB_LOGS=$FPH_LAB_LOGS_RUN
    export LD_LIBRARY_PATH=$FPH_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}

lab_up() { own_env; "$FPH_OWN/lab/fph-lab" up "$@"; }
lab_down() {
    own_env
    [ -x "$FPH_OWN/lab/fph-lab" ] || die "fph-lab is not built"
    "$FPH_OWN/lab/fph-lab" down "$@"
}
lab_status() { own_env; "$FPH_OWN/lab/fph-lab" status; }
lab_exec() { own_env; "$FPH_OWN/lab/fph-lab" exec "$@"; }

# A lab left running by an interrupted run is stopped (by its recorded PIDs)
# before a new one starts, its logs kept.
lab_cleanup_stale() {
    own_env
    if [ -d "$FPH_LAB_DIR" ]; then
        log "lab: a previous lab state exists; tearing it down (logs kept)"
        "$FPH_OWN/lab/fph-lab" down --keep-logs || true
    fi
}

test_libvirt() {
    log "tests: libvirt's meson test suite"
    meson test -C "$FPH_OBJ/libvirt" --num-processes "$FPH_JOBS" --print-errorlogs \
        > "$FPH_BASE_BUILD/libvirt-test.log" 2>&1 ||
        { tail -40 "$FPH_BASE_BUILD/libvirt-test.log" >&2; die "libvirt's test suite failed (log: $FPH_BASE_BUILD/libvirt-test.log)"; }
    grep -E '^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout):' \
        "$FPH_BASE_BUILD/libvirt-test.log" | tr '\n' ' ' | sed 's/^/[fph] libvirt: /; s/ *$/\n/' >&2
}

# The qtests run under TCG: /dev/kvm exists here but nested KVM hangs the
# guest, and the qtests ask for "-accel kvm -accel tcg".  A wrapper (its
# name must end in -system-x86_64 for libqtest) drops the kvm accelerator.
FPH_QTESTS_MIGRATION_SKIP=(
    # needs a working KVM dirty ring
    -s /x86_64/migration/vcpu_dirty_limit
)

test_qemu() {
    local obj=$FPH_OBJ/qemu wrapper=$FPH_OWN/$FPH_QTEST_QEMU
    local paths p
    [ -x "$wrapper" ] || die "the qtest wrapper $wrapper is not built"
    log "tests: QEMU qtests (virtio-balloon, migration) under TCG"
    export QTEST_QEMU_BINARY=$wrapper FPH_QEMU_BINARY=$FPH_PREFIX/bin/qemu-system-x86_64
    export QTEST_QEMU_STORAGE_DAEMON_BINARY=$obj/storage-daemon/qemu-storage-daemon
    # virtio-balloon: every qos-graph path that goes through the balloon
    # (listed as TAP comments, "# /path")
    paths=$("$obj/tests/qtest/qos-test" -l | sed -nE 's|^# (/.*balloon.*)$|\1|p')
    [ -n "$paths" ] || die "qos-test lists no virtio-balloon test"
    for p in $paths; do
        "$obj/tests/qtest/qos-test" -q -p "$p" >> "$FPH_BASE_BUILD/qtest.log" 2>&1 ||
            { tail -20 "$FPH_BASE_BUILD/qtest.log" >&2; die "qtest $p failed"; }
    done
    log "qemu: $(echo "$paths" | wc -l) virtio-balloon qos-test paths passed"
    # QEMU's own virtio-balloon qtest
    "$obj/tests/qtest/virtio-balloon-test" --tap -k >> "$FPH_BASE_BUILD/qtest.log" 2>&1 ||
        { tail -20 "$FPH_BASE_BUILD/qtest.log" >&2; die "virtio-balloon-test failed"; }
    log "qemu: virtio-balloon-test passed"
    # fph's own (added by QEMU patch 3): the test plays the guest driver of
    # the free page virtqueue.  Only a bisect step before that patch lacks
    # it.
    if [ -f "$FPH_SRC/qemu/tests/qtest/virtio-balloon-hint-test.c" ]; then
        QTEST_BALLOON_FUZZ_REQUESTS=$FPH_FUZZ_REQUESTS \
            "$obj/tests/qtest/virtio-balloon-hint-test" --tap -k \
            > "$FPH_BASE_BUILD/qtest-hint.log" 2>&1 ||
            { grep -E '^not ok|Bail|ERROR' "$FPH_BASE_BUILD/qtest-hint.log" >&2; die "virtio-balloon-hint-test failed (log: $FPH_BASE_BUILD/qtest-hint.log)"; }
        log "qemu: virtio-balloon-hint-test: $(hint_test_counts "$FPH_BASE_BUILD/qtest-hint.log" \
            "")$(grep -E '^# free page vq fuzz: [0-9]+ requests' "$FPH_BASE_BUILD/qtest-hint.log" | sed 's/^# free page vq fuzz: /; fuzz: /')"
    else
        log "qemu: this tree has no virtio-balloon-hint-test yet"
    fi
    "$obj/tests/qtest/migration-test" --tap -k "${FPH_QTESTS_MIGRATION_SKIP[@]}" \
        > "$FPH_BASE_BUILD/qtest-migration.log" 2>&1 ||
        { grep -E '^not ok|Bail' "$FPH_BASE_BUILD/qtest-migration.log" >&2; die "migration-test failed (log: $FPH_BASE_BUILD/qtest-migration.log)"; }
    log "qemu: migration-test: $(grep -c '^ok' "$FPH_BASE_BUILD/qtest-migration.log") passed, $(grep -c '# SKIP' "$FPH_BASE_BUILD/qtest-migration.log") skipped"
}

# The fuzz of the free page vq: 1,000 requests in the hint test of
# test_qemu (./fph test), against the plain build; against the ASan/UBSan
# build with ./fph test-fuzz (test_qemu_asan, 10,000 by default), which
# ./fph test no longer runs: the sanitizer build took 11 of the minutes a
# CI run must fit in (docs/workflow.md).
FPH_FUZZ_REQUESTS=1000

# hint_test_counts LOG WHY: "N passed, M skipped (WHY)" of a hint test log
hint_test_counts() {
    local skipped
    skipped=$(grep -c '# SKIP' "$1" || true)
    printf '%s passed, %s skipped' "$(grep '^ok' "$1" | grep -vc '# SKIP' || true)" "$skipped"
    [ "$skipped" = 0 ] || [ -z "$2" ] || printf ' (%s)' "$2"
}

# fph's hint qtest, its fuzz of the free page virtqueue included, against
# the sanitizer build (build_qemu_asan): a sanitizer report fails the run
# (UBSan halts on its first finding; ASan and LeakSanitizer always do).
# test_qemu_asan [REQUESTS [SEED [TEST-OPTIONS...]]]: the fuzz's number of
# requests and seed (default: 1000, and a seed from GLib's test random
# numbers), and options for the test.
# LeakSanitizer matches its suppressions (tests/qtest/lsan-suppressions.txt)
# against whole allocation stacks, hence the slow unwinder, as in QEMU's CI.
test_qemu_asan() {
    local requests=${1:-1000} seed=${2:-} obj=$FPH_OBJ/qemu-asan
    local log=$FPH_BASE_BUILD/qtest-asan.log
    local -a opts=("${@:3}")
    log "tests: virtio-balloon-hint-test against the ASan/UBSan build"
    env QTEST_QEMU_BINARY="$obj/qemu-system-x86_64" \
        UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
        ASAN_OPTIONS=fast_unwind_on_malloc=0 \
        LSAN_OPTIONS=suppressions="$FPH_TOP/tests/qtest/lsan-suppressions.txt" \
        QTEST_BALLOON_FUZZ_REQUESTS="$requests" \
        ${seed:+QTEST_BALLOON_FUZZ_SEED="$seed"} \
        "$obj/tests/qtest/virtio-balloon-hint-test" --tap -k "${opts[@]}" > "$log" 2>&1 ||
        { grep -E '^not ok|Bail|ERROR|fuzz|runtime error' "$log" >&2; die "virtio-balloon-hint-test failed against the sanitizer build (log: $log)"; }
    if grep -E 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$log" >&2; then
        die "a sanitizer reported an error (log: $log)"
    fi
    log "qemu-asan: virtio-balloon-hint-test: $(hint_test_counts "$log" \
        "")$(grep -E '^# free page vq fuzz: [0-9]+ requests' "$log" | sed 's/^# free page vq fuzz: /; fuzz: /')"
}

# QEMU's scripts/checkpatch.pl over every patch of the QEMU queue: a
# warning is reported, an error fails the tests.
check_qemu_style() {
    local p out bad=0
    log "tests: QEMU's checkpatch.pl over the qemu queue"
    while read -r p; do
        out=$("$FPH_SRC/qemu/scripts/checkpatch.pl" --no-signoff "$p" 2>&1) || true
        case "$out" in
            *"total: 0 errors, 0 warnings"*) ;;
            *"total: 0 errors"*) printf '%s\n' "$out" | grep -A3 '^WARNING' >&2 ;;
            *) printf '%s\n' "$out" >&2; bad=1 ;;
        esac
    done < <(queue_patches qemu)
    [ $bad -eq 0 ] || die "checkpatch.pl reports errors in the qemu queue (see above)"
    log "qemu: checkpatch.pl: no errors in $(queue_patches qemu | wc -l) patch(es)"
}

# test_e2e [MESON-TEST-OPTIONS...]: the e2e suites (./fph test passes
# --no-suite e2e-second-guest)
test_e2e() {
    own_env
    lab_cleanup_stale
    log "tests: e2e suite (lab, real guest, live migration)"
    # meson gives a test it stops 0.5 s before SIGKILL, too little for the
    # lab's teardown: whatever a stopped test left is torn down here
    run_forwarding meson test -C "$FPH_OWN" --suite e2e "$@" --print-errorlogs --verbose ||
        { lab_cleanup_stale; e2e_failed_checks; die "the e2e suite failed (lab logs: $FPH_BASE_BUILD/lab-logs)"; }
}

# e2e_failed_checks: the checks that failed, repeated last.  A run that
# fails prints thousands of lines; whoever sees only the tail of it (a CI
# summary) still learns which check failed and why.
e2e_failed_checks() {
    local log=$FPH_OWN/meson-logs/testlog.txt
    [ -f "$log" ] || return 0
    log "the e2e checks that failed:"
    grep -E '^(not ok|Bail out!)' "$log" | cut -c1-600 >&2 || log "(no failed check in $log: a suite stopped early)"
}

# fph's own tests that need no lab (meson suite "unit" of fph's programs)
test_own() {
    log "tests: fph's own unit tests (the benchmark's report)"
    meson test -C "$FPH_OWN" --suite unit --print-errorlogs ||
        die "fph's unit tests failed"
}

# All tests: the tiers that need no lab, then the e2e suites in the lab
run_tests() {
    local t0=$SECONDS
    test_own
    test_libvirt
    test_qemu
    check_qemu_style
    pq_check
    log "tests without the lab passed in $((SECONDS - t0)) s"
    test_e2e --no-suite e2e-second-guest
    log "all tests passed in $((SECONDS - t0)) s"
}

# What a benchmark measured, for its report and its CSVs (bench/report.h):
# "key: value" lines in DIR/provenance.txt.  A queue's hash is the SHA-256
# of its series file followed by its patches in series order; the package
# versions are those installed in host A (host B has the same).
bench_provenance() {
    local dir=$1 q commit code
    local text=(':!results' ':!docs' ':!*.md')
    mkdir -p "$dir"
    commit=$(git -C "$FPH_TOP" rev-parse --short=12 HEAD 2>/dev/null) || commit=unknown
    # results/ is what the benchmark writes (results/latest moves with
    # every run), not what it measures
    [ -z "$(git -C "$FPH_TOP" status --porcelain --untracked-files=no -- . ':!results' 2>/dev/null)" ] ||
        commit="$commit with uncommitted changes"
    # what measures: the checkout but its texts (a commit of a report or
    # of docs between two parts of a resumed benchmark changes nothing)
    code=$(git -C "$FPH_TOP" ls-files --stage -- . "${text[@]}" | sha256sum | cut -c1-16)
    [ -z "$(git -C "$FPH_TOP" status --porcelain --untracked-files=no -- . "${text[@]}" 2>/dev/null)" ] ||
        code="$code with uncommitted changes"
    {
        echo "fph commit: $commit"
        echo "fph code: sha256 $code (the checkout's files but docs/, results/ and *.md)"
        for q in qemu libvirt qemu-debian; do
            echo "$q queue: sha256 $( (cd "$FPH_TOP/$q" && cat series $(cat series)) |
                sha256sum | cut -c1-16) ($(grep -c . "$FPH_TOP/$q/series") patches)"
        done
        echo "host packages: $(dpkg-query --admindir="$FPH_HOSTS/A/var/lib/dpkg" -W \
            -f='${Package} ${Version}; ' qemu-system-x86 libvirt-daemon-system \
            python3-libvirt 2>/dev/null | sed 's/; $//')"
        echo "guest kernel: $(basename "$FPH_GUEST"/kernel/boot/vmlinuz-* | sed 's/^vmlinuz-//')"
        echo "host kernel: $(uname -r)"
        echo "host CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs"
        echo "started: $(date -u '+%Y-%m-%d %H:%M UTC')"
    } > "$dir/provenance.txt"
}

# bench_provenance_check DIR: the benchmark would measure now with what the
# runs in DIR were measured with: provenance.txt but for the dates, the
# commit (a commit of docs or of a report in between changes nothing: the
# code's hash says what measures) and the hint wait (fph-bench checks it)
bench_provenance_check() {
    local dir=$1 now diff
    local skip='^(started|resumed|hint wait|fph commit):'
    grep -Eq '^fph code: sha256 [0-9a-f]{16} \(' "$dir/provenance.txt" ||
        die "bench: --resume $dir: its provenance.txt has no hash of the code it was measured with, or the code had uncommitted changes: it cannot be resumed"
    now=$(mktemp -d)
    bench_provenance "$now"
    diff=$(diff <(grep -Ev "$skip" "$dir/provenance.txt") <(grep -Ev "$skip" "$now/provenance.txt")) || true
    rm -rf "$now"
    [ -z "$diff" ] ||
        die "bench: --resume $dir: its runs were measured with something else (<) than now (>); resume from a checkout of that code, with those packages:
$diff"
}

# The benchmark (bench/fph-bench.c): its report goes to a new directory
# below results/ (or --out DIR), and results/latest points to the last
# complete one below results/.  --resume DIR goes on with the benchmark in
# DIR, one stopped before its end or a matrix measured in parts: only what
# DIR's CSVs lack is measured, and only with what DIR's runs were measured
# with (provenance.txt: fph's commit, the queues, the packages, kernels, CPU).
run_bench() {
    local out= resume= arg prev= args=()
    own_env
    for arg in "$@"; do
        case "$prev" in
            --out) out=$arg; prev=; continue ;;
            --resume) resume=$arg; prev=; continue ;;
        esac
        case "$arg" in
            --out|--resume) prev=$arg ;;
            --out=*) out=${arg#--out=} ;;
            --resume=*) resume=${arg#--resume=} ;;
            *) args+=("$arg") ;;
        esac
    done
    [ -z "$prev" ] || die "bench: $prev needs a directory"
    [ -z "$out" ] || [ -z "$resume" ] ||
        die "bench: --resume DIR writes to DIR; give it without --out"
    lab_cleanup_stale
    if [ -n "$resume" ]; then
        [ -f "$resume/provenance.txt" ] && [ -f "$resume/runs.csv" ] ||
            die "bench: --resume $resume: no benchmark there (it has no provenance.txt and runs.csv)"
        bench_provenance_check "$resume"
        # fph-bench writes the "resumed:" line once its own checks passed
        FPH_BENCH_RESUMED="fph commit $(git -C "$FPH_TOP" rev-parse --short=12 HEAD)"
        export FPH_BENCH_RESUMED
        out=$resume
        args+=(--resume "$out")
    else
        [ -n "$out" ] || out=$FPH_TOP/results/$(date -u +%Y-%m-%dT%H%MZ)
        bench_provenance "$out"
        args+=(--out "$out")
    fi
    run_forwarding "$FPH_OWN/bench/fph-bench" "${args[@]}"
    if [ "$(dirname "$(realpath "$out")")" = "$(realpath "$FPH_TOP/results")" ]; then
        ln -sfn "$(basename "$(realpath "$out")")" "$FPH_TOP/results/latest"
        log "bench: report in $out/summary.md (results/latest)"
    else
        log "bench: report in $out/summary.md"
    fi
}

# --help and --report: no set-up and no lab.  --report DIR writes the
# report of an earlier benchmark again from its runs.csv with
# fph-bench-report, which needs no libvirt; --help is fph-bench's own.
# Both are built by any command that builds fph's programs.
bench_without_lab() {
    local arg args=() report=
    for arg in "$@"; do
        case "$arg" in
            --report) report=1 ;;
            *) args+=("$arg") ;;
        esac
    done
    if [ -n "$report" ]; then
        [ -x "$FPH_OWN/bench/fph-bench-report" ] ||
            die "fph-bench-report is not built yet: 'sudo ./fph guest' builds fph's programs, then './fph bench --report --out DIR' runs without root"
        "$FPH_OWN/bench/fph-bench-report" "${args[@]}"
        return
    fi
    [ -x "$FPH_OWN/bench/fph-bench" ] ||
        die "the benchmark is not built yet: 'sudo ./fph guest' builds it, then './fph bench --help' runs without root"
    own_env
    "$FPH_OWN/bench/fph-bench" "$@"
}

run_demo() {
    own_env
    lab_cleanup_stale
    run_forwarding "$FPH_OWN/demo/fph-demo"
}
