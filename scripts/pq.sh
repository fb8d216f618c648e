# Patch-queue tools: import a queue into a git work tree, export it back,
# check that the committed queue equals a fresh export.  Sourced, not run.
#
# A work tree has one commit holding the pristine upstream tree, tagged
# fph-base, and one commit per patch of the queue, applied with git am.

# Bumped when pq_base lays out a base commit differently, so that trees
# made by an older layout are made afresh.
FPH_BASE_LAYOUT=2

# pq_base DIR PROJECT: create DIR as a git tree holding the pristine source
pq_base() {
    local dir=$1 project=$2 orig tmp sub top
    orig=$(orig_of "$project")
    verify_sources
    [ -e "$dir" ] && die "$dir already exists"
    tmp=$(mktemp -d "$(dirname "$dir")/.import.XXXXXX")
    log "pq: unpacking $orig"
    tar --no-same-owner -C "$tmp" -xf "$FPH_DL/$orig"
    top=$(topdir_of "$project")
    if [ -n "$top" ]; then
        mv "$tmp/$top" "$dir"
        rmdir "$tmp"
    else
        mv "$tmp" "$dir"
    fi
    (
        cd "$dir"
        fph_git init -q -b fph
        fph_git config user.name "$FPH_GIT_NAME"
        fph_git config user.email "$FPH_GIT_EMAIL"
        fph_git config core.abbrev 12
        for sub in $(submodules_of "$project"); do
            [ -d "$sub" ] || die "$orig has no $sub"
            fph_git -C "$sub" init -q -b fph
            fph_git -C "$sub" add -A -f .
            GIT_AUTHOR_DATE=$FPH_BASE_DATE GIT_COMMITTER_DATE=$FPH_BASE_DATE \
                fph_git -C "$sub" commit -q --no-verify -m "$sub from $orig"
        done
        # The tarball is the base as it is: ignore files must not hide any of it.
        fph_git add -A -f -- . $(for sub in $(submodules_of "$project"); do
            printf ':!%s\n' "$sub"; done)
        for sub in $(submodules_of "$project"); do
            fph_git update-index --add --cacheinfo \
                "160000,$(fph_git -C "$sub" rev-parse HEAD),$sub"
        done
        GIT_AUTHOR_DATE=$FPH_BASE_DATE GIT_COMMITTER_DATE=$FPH_BASE_DATE \
            fph_git commit -q --no-verify -m "$orig (pristine upstream base)"
        fph_git tag fph-base
    )
}

# pq_apply DIR PROJECT: apply the queue on top of fph-base (DIR at fph-base)
pq_apply() {
    local dir=$1 project=$2 patches
    mapfile -t patches < <(queue_patches "$project")
    [ ${#patches[@]} -eq 0 ] && return 0
    fph_git -C "$dir" am -q --committer-date-is-author-date "${patches[@]}" ||
        { fph_git -C "$dir" am --abort 2>/dev/null; die "the $project queue does not apply (see above)"; }
}

# pq_sync DIR PROJECT: make DIR equal fph-base + the committed queue,
# touching only the files that differ, so incremental builds stay valid.
pq_sync() {
    local dir=$1 project=$2 want base
    want=$(hash_of "$FPH_TOP/sources.sha256" $(queue_files "$project"))
    # the base commit depends on the tarball and on how pq_base lays it out
    base=$(printf '%s\n' "$(orig_of "$project")" "$FPH_BASE_LAYOUT" \
        $(submodules_of "$project") | sha256sum | cut -d' ' -f1)
    if [ -d "$dir/.git" ] && stamp_ok "base-$project" "$base" &&
       stamp_ok "src-$project" "$want" &&
       [ -z "$(git -C "$dir" status --porcelain --untracked-files=no)" ]; then
        return 0
    fi
    if [ ! -d "$dir/.git" ] || ! stamp_ok "base-$project" "$base"; then
        rm -rf "$dir"
        mkdir -p "$(dirname "$dir")"
        pq_base "$dir" "$project"
        stamp_set "base-$project" "$base"
    fi
    log "pq: applying the $project queue in $dir"
    fph_git -C "$dir" am --abort >/dev/null 2>&1 || true
    fph_git -C "$dir" checkout -q -f -B fph fph-base
    # the tree belongs to ./fph: files left in it (regenerated test data,
    # say) would keep the queue from applying
    fph_git -C "$dir" clean -q -f -d
    pq_apply "$dir" "$project"
    stamp_set "src-$project" "$want"
}

pq_import() {
    local project=$1 dir=${2:-$FPH_WORK/$1}
    orig_of "$project" > /dev/null
    [ -e "$dir" ] && die "$dir exists: export or remove it first (pq export $project, or rm -rf $dir)"
    fetch_sources
    mkdir -p "$(dirname "$dir")"
    pq_base "$dir" "$project"
    pq_apply "$dir" "$project"
    log "pq: $project imported into $dir: commit there, then run './fph pq export $project'"
}

# pq_export_to DIR OUT: write DIR's commits since fph-base as a queue in OUT
pq_export_to() {
    local dir=$1 out=$2 f
    mkdir -p "$out"
    rm -f "$out"/*.patch
    fph_git -C "$dir" format-patch -q --zero-commit --no-signature \
        --no-numbered -o "$out" fph-base..HEAD
    {
        for f in "$out"/*.patch; do
            [ -e "$f" ] && basename "$f"
        done
        true
    } > "$out/series"
}

pq_export() {
    local project=$1 dir=${2:-$FPH_WORK/$1}
    orig_of "$project" > /dev/null
    [ -d "$dir/.git" ] || die "no work tree at $dir (run './fph pq import $project' first)"
    [ -z "$(git -C "$dir" status --porcelain --untracked-files=no)" ] ||
        die "$dir has uncommitted changes: commit them first"
    pq_export_to "$dir" "$FPH_TOP/$project"
    log "pq: exported $(queue_patches "$project" | wc -l) patch(es) to $project/"
}

# pq_check_trailers PROJECT: every patch of the queue says where it comes
# from and where it went (DEP-3 "Origin:" and "Forwarded:" trailers) and
# carries no Signed-off-by: no person certifies the Developer Certificate
# of Origin for fph's patches (docs/workflow.md).
pq_check_trailers() {
    local project=$1 p msg bad=0
    while read -r p; do
        # the commit message: from the headers to the "---" line
        msg=$(sed -n '/^$/,/^---$/p' "$p")
        if grep -q '^Signed-off-by:' <<< "$msg"; then
            log "trailers: $(basename "$p"): has a Signed-off-by; fph's patches carry none"
            bad=1
        fi
        if ! grep -Eq '^Origin: (upstream|backport|vendor|other), .+' <<< "$msg"; then
            log "trailers: $(basename "$p"): no 'Origin: upstream|backport|vendor|other, WHERE' trailer"
            bad=1
        fi
        if ! grep -Eq '^Forwarded: .+' <<< "$msg"; then
            log "trailers: $(basename "$p"): no 'Forwarded:' trailer (fph's patches say 'no' or 'not-needed')"
            bad=1
        fi
    done < <(queue_patches "$project")
    return $bad
}

# pq_check: import each committed queue afresh, export it, compare.
pq_check() {
    local project tmp rc=0
    fetch_sources
    for project in $FPH_PROJECTS; do
        pq_check_trailers "$project" || rc=1
    done
    for project in $FPH_PROJECTS; do
        pq_sync "$FPH_SRC/$project" "$project"
        tmp=$(mktemp -d "$FPH_BUILD/.drift.XXXXXX")
        git -C "$FPH_SRC/$project" worktree add -q --detach "$tmp/tree" fph-base
        pq_apply "$tmp/tree" "$project"
        pq_export_to "$tmp/tree" "$tmp/queue"
        if diff -ru "$tmp/queue" "$FPH_TOP/$project" > "$tmp/diff"; then
            log "drift check: $project queue ($(queue_patches "$project" | wc -l) patches) equals a fresh export"
        else
            cat "$tmp/diff" >&2
            log "drift check: FAILED for $project: the committed queue differs from a fresh export (edit patches only through pq import/export)"
            rc=1
        fi
        git -C "$FPH_SRC/$project" worktree remove --force "$tmp/tree"
        rm -rf "$tmp"
    done
    # A developer's work tree with commits not yet exported is drift too.
    for project in $FPH_PROJECTS; do
        [ -d "$FPH_WORK/$project/.git" ] || continue
        tmp=$(mktemp -d "$FPH_BUILD/.drift.XXXXXX")
        pq_export_to "$FPH_WORK/$project" "$tmp"
        if ! diff -ru "$tmp" "$FPH_TOP/$project" > /dev/null; then
            log "drift check: FAILED: ${FPH_WORK#"$FPH_TOP"/}/$project has commits that are not exported (./fph pq export $project)"
            rc=1
        fi
        rm -rf "$tmp"
    done
    return $rc
}

# pq_bisect PROJECT: in a tree of its own (bisect/ of the base), start from the
# pristine base and apply the queue one patch at a time; after each step
# rebuild incrementally and run PROJECT's tests.  Stops at the first patch
# that does not build or breaks a test.  Not part of CI: run it before
# resolving an issue that changes a queue.
pq_bisect() {
    local project=$1 patches i n src
    case "$project" in
        qemu|libvirt) ;;
        *) die "pq bisect builds and tests qemu or libvirt, not '$project' (./fph deb builds the packages qemu-debian/ is for)" ;;
    esac
    fetch_sources
    [ "$project" = libvirt ] || [ -x "$FPH_OWN/$FPH_QTEST_QEMU" ] ||
        die "build fph's own programs first (./fph test-e2e or ./fph guest)"
    # a tree of its own; the install below it may be at a long
    # path: no lab runs from it
    FPH_SRC=$FPH_BASE_BUILD/bisect/src
    FPH_OBJ=$FPH_BASE_BUILD/bisect/obj
    FPH_PREFIX=$FPH_BASE_BUILD/bisect/prefix
    FPH_STAMPS=$FPH_BASE_BUILD/bisect/stamps
    src=$FPH_SRC/$project
    mkdir -p "$FPH_SRC"
    [ -d "$src/.git" ] || pq_base "$src" "$project"
    fph_git -C "$src" am --abort > /dev/null 2>&1 || true
    fph_git -C "$src" checkout -q -f -B fph fph-base
    mapfile -t patches < <(queue_patches "$project")
    n=${#patches[@]}
    for ((i = 0; i <= n; i++)); do
        # QEMU's DFSG tarball needs patch 1 ([fph downstream]) to configure
        if [ "$project" = qemu ] && [ "$i" -eq 0 ]; then
            log "bisect: [0/$n] pristine base: not built (QEMU needs patch 1 to configure)"
            continue
        fi
        if [ "$i" -gt 0 ]; then
            log "bisect: [$i/$n] $(basename "${patches[i - 1]}")"
            fph_git -C "$src" am -q --committer-date-is-author-date "${patches[i - 1]}" ||
                die "bisect: patch $i/$n does not apply: ${patches[i - 1]}"
        else
            log "bisect: [0/$n] pristine base"
        fi
        build_tree "$project" || die "bisect: the tree does not build after patch $i/$n"
        "test_$project" || die "bisect: tests fail after patch $i/$n"
    done
    log "bisect: all $n patches of the $project queue build and pass the tests one by one"
}
