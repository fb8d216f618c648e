# Debian packages of fph's QEMU and libvirt: Debian 13's own source
# packages (the pinned .orig tarball and Debian's debian.tar.xz) with
# fph's queue added as a topic at the end of debian/patches/series, a
# "+fph1" changelog entry, built with dpkg-buildpackage in the build root,
# checked with lintian against Debian's own build of the same version, and
# a local apt repository of the results (docs/packages.md).  Sourced, not
# run.

FPH_DEB=$FPH_BASE_BUILD/deb
FPH_DEB_REPO=$FPH_BUILD/apt-repo
FPH_DEB_SUFFIX=+fph1

# The build profiles of QEMU's package.  By default only what an x86_64
# host installs: pkg.fph.x86-only (fph's, qemu-debian/) drops the system
# emulators of the other architectures and the qemu-system metapackage;
# Debian's own profiles drop the user-mode emulators and the Xen build.
# `./fph deb --full` builds every package of Debian's build.
FPH_DEB_QEMU_PROFILES=pkg.qemu.omit-user,pkg.fph.x86-only,pkg.qemu.omit-system-xen

# Patches of fph's queues the Debian package does not take: QEMU's patch
# 1 makes the pristine tarball build, which Debian's packaging does with
# its own skip-unpack-edk2-blobs.patch.
FPH_DEB_SKIP="qemu/0001-pc-bios-only-unpack-the-edk2-blobs-where-the-tree-ha.patch"

# deb_dir PROJECT: where PROJECT's package is built, and its packages are;
# QEMU's build of every package (--full) has a directory of its own
deb_dir() {
    if [ "$1" = qemu ] && [ -n "${FPH_DEB_FULL:-}" ]; then
        echo "$FPH_DEB/qemu-full"
    else
        echo "$FPH_DEB/$1"
    fi
}

# debian_tarball_of PROJECT: Debian's packaging of PROJECT
debian_tarball_of() {
    case "$1" in
        qemu) echo "$FPH_QEMU_DEBIAN" ;;
        libvirt) echo "$FPH_LIBVIRT_DEBIAN" ;;
        *) die "fph builds no Debian package of '$1' (allowed: qemu, libvirt)" ;;
    esac
}

# packaging_queue_of PROJECT: fph's queue against Debian's debian/ of the
# package, if there is one
packaging_queue_of() {
    case "$1" in
        qemu) echo qemu-debian ;;
        *) ;;
    esac
}

# deb_patches PROJECT: the patches of PROJECT's queue the package takes
deb_patches() {
    local project=$1 p skip
    while read -r p; do
        for skip in $FPH_DEB_SKIP; do
            [ "$project/$(basename "$p")" = "$skip" ] && continue 2
        done
        printf '%s\n' "$p"
    done < <(queue_patches "$project")
}

# deb_check_skips: every patch FPH_DEB_SKIP names is in its queue, so
# that a patch renamed by an export is not taken by the package unseen
deb_check_skips() {
    local skip
    for skip in $FPH_DEB_SKIP; do
        grep -qxF "${skip#*/}" "$FPH_TOP/${skip%%/*}/series" ||
            die "FPH_DEB_SKIP (scripts/deb.sh) names ${skip}, which is not in the ${skip%%/*} queue"
    done
}

# deb_date PROJECT: the date of the changelog entry of PROJECT's
# packages: that of the last commit that changed what they are built from
# (the sources, PROJECT's queue and packaging queue), so that the same
# inputs make the same packages, whenever built, and a change to the other
# project's queue does not rebuild them
deb_date() {
    git -C "$FPH_TOP" log -1 --format=%ct -- sources.sha256 "$1" \
        $(packaging_queue_of "$1")
}

# deb_inputs PROJECT PROFILES: a hash of what the packages are built from
deb_inputs() {
    local project=$1 profiles=$2 pq
    pq=$(packaging_queue_of "$project")
    {
        hash_of "$FPH_TOP/sources.sha256" $(queue_files "$project") \
            ${pq:+$(queue_files "$pq")}
        # how the packages are made, not the rest of this file
        declare -f deb_source deb_build deb_build_type deb_patches
        printf '%s\n' "$profiles" "$FPH_DEB_SKIP" "$FPH_DEB_SUFFIX" "$(deb_date "$project")"
    } | sha256sum | cut -d' ' -f1
}

# deb_source PROJECT: the source tree of the package below $FPH_DEB:
# upstream tarball, Debian's debian/ with fph's packaging queue applied,
# fph's queue in debian/patches/fph/ at the end of the series, and a
# changelog entry with fph's version suffix.
deb_source() {
    local project=$1 top dir orig pq p name version dist rest
    orig=$(orig_of "$project")
    top=$(deb_dir "$project")
    dir=$top/$(topdir_of "$project")
    rm -rf "$top"
    mkdir -p "$top"
    cp "$FPH_DL/$orig" "$top/"
    tar --no-same-owner -C "$top" -xf "$FPH_DL/$orig"
    tar --no-same-owner -C "$dir" -xf "$FPH_DL/$(debian_tarball_of "$project")"
    pq=$(packaging_queue_of "$project")
    if [ -n "$pq" ]; then
        # patch(1), not git apply: the tree is below the checkout's git
        # work tree, where git apply would skip the files as outside
        while read -r p; do
            patch -d "$dir" -p1 -s -F0 --no-backup-if-mismatch < "$p" ||
                die "the $pq queue does not apply to $(debian_tarball_of "$project"): $(basename "$p")"
        done < <(queue_patches "$pq")
    fi
    mkdir -p "$dir/debian/patches/fph"
    {
        printf '\n# fph: free page hinting, not forwarded (fph submits nothing upstream)\n'
        while read -r p; do
            cp "$p" "$dir/debian/patches/fph/"
            printf 'fph/%s\n' "$(basename "$p")"
        done < <(deb_patches "$project")
    } >> "$dir/debian/patches/series"
    # the changelog entry: Debian's version with fph's suffix
    read -r name version dist rest < <(head -1 "$dir/debian/changelog")
    version=${version#(}
    version=${version%)}
    {
        printf '%s (%s%s) %s %s\n\n' "$name" "$version" "$FPH_DEB_SUFFIX" "$dist" "$rest"
        printf '  * fph: free page hinting.  The queue in debian/patches/fph/:\n'
        while read -r p; do
            printf '    - %s\n' "$(sed -n 's/^Subject: \[PATCH\] //p' "$p")"
        done < <(deb_patches "$project")
        if [ -n "$pq" ]; then
            printf '  * fph packaging:\n'
            while read -r p; do
                printf '    - %s\n' "$(sed -n 's/^Subject: \[PATCH\] //p' "$p")"
            done < <(queue_patches "$pq")
        fi
        printf '\n -- %s <%s>  %s\n\n' "$FPH_GIT_NAME" "$FPH_GIT_EMAIL" \
            "$(LC_ALL=C date -u -R -d "@$(deb_date "$project")")"
        cat "$dir/debian/changelog"
    } > "$dir/debian/changelog.new"
    mv "$dir/debian/changelog.new" "$dir/debian/changelog"
}

# deb_build_type PROJECT: what dpkg-buildpackage builds of PROJECT.
# libvirt: every binary package (-b), because libvirt-daemon-system
# depends on the exact version of libvirt-daemon-config-network and
# -nwfilter, which are Architecture: all.  QEMU: the architecture
# dependent ones (-B); qemu-system-x86 asks qemu-system-data (all) only
# for the same upstream version, which Debian's archive has.
deb_build_type() {
    case "$1" in
        libvirt) echo -b ;;
        *) echo -B ;;
    esac
}

# deb_build PROJECT PROFILES: the binary packages of PROJECT, in the root,
# with the build profiles PROFILES (comma-separated)
deb_build() {
    local project=$1 profiles=$2 start top type opts
    top=$(deb_dir "$project")
    type=$(deb_build_type "$project")
    start=$(date +%s)
    log "deb: building the $project packages (dpkg-buildpackage $type${profiles:+ --build-profiles=$profiles})"
    # nocheck: the packages' own test runs are left to Debian's builds
    # (libvirt's suite without its syntax-check, which ./fph test runs in
    # full on the same sources, and QEMU's block suite, which fph's queue
    # does not touch): about 5 minutes of a CI run on a 2-core machine.
    # FPH_DEB_CHECK=1 runs them; the packages are the same either way.
    # noddebs: no -dbgsym packages (their debug info is extracted and
    # compressed on one core); FPH_DEB_DDEBS=1 makes them.
    opts="parallel=$FPH_JOBS terse"
    [ "${FPH_DEB_CHECK:-0}" = 1 ] || opts+=" nocheck"
    [ "${FPH_DEB_DDEBS:-0}" = 1 ] || opts+=" noddebs"
    (cd "$top/$(topdir_of "$project")" &&
        DEB_BUILD_OPTIONS="$opts" \
            dpkg-buildpackage "$type" -us -uc ${profiles:+--build-profiles="$profiles"}) \
        > "$top.log" 2>&1 ||
        { tail -40 "$top.log" >&2; die "dpkg-buildpackage of $project failed (log: $top.log)"; }
    log "deb: $project: $(find "$top" -maxdepth 1 -name '*.deb' ! -name '*-dbgsym_*' | wc -l) packages in $(( $(date +%s) - start )) s"
}

# deb_project PROJECT PROFILES: the packages of PROJECT, rebuilt only when
# their inputs changed
deb_project() {
    local project=$1 profiles=$2 want stamp
    want=$(deb_inputs "$project" "$profiles")
    stamp=deb-$(basename "$(deb_dir "$project")")
    if stamp_ok "$stamp" "$want" &&
       [ -n "$(find "$(deb_dir "$project")" -maxdepth 1 -name '*.deb' -print -quit 2>/dev/null)" ]; then
        log "deb: the $project packages are up to date"
        return 0
    fi
    deb_source "$project"
    deb_build "$project" "$profiles"
    stamp_set "$stamp" "$want"
}

# deb_tools: fph's own programs that the packages need (pkg/), from a
# build of fph's programs without the lab, which needs no patched libvirt
# in the prefix: ./fph deb works without ./fph build
FPH_DEB_TOOLS=$FPH_BASE_BUILD/own-nolab
deb_tools() {
    if [ ! -f "$FPH_DEB_TOOLS/build.ninja" ]; then
        rm -rf "$FPH_DEB_TOOLS"
        meson setup "$FPH_DEB_TOOLS" "$FPH_TOP" -Dlab=disabled \
            -Dfph_build="$FPH_BASE_BUILD" > "$FPH_DEB_TOOLS.log" 2>&1 ||
            { tail -20 "$FPH_DEB_TOOLS.log" >&2; die "meson setup of fph's package tools failed"; }
    fi
    ninja -C "$FPH_DEB_TOOLS" pkg/fph-pyconst >> "$FPH_DEB_TOOLS.log" 2>&1 ||
        { tail -20 "$FPH_DEB_TOOLS.log" >&2; die "building fph-pyconst failed"; }
}

# deb_python: python3-libvirt with the names of fph's libvirt
# (docs/packages.md, "The Python binding").  Debian's archive serves no
# file of the libvirt-python source package, so the binding cannot be
# rebuilt against fph's libvirt-dev.  Debian 13's binary package is taken
# instead, and libvirt.py, which its build generated from Debian's libvirt
# API description, gets the flags and field names that fph's description
# (libvirt-dev's libvirt-api.xml) adds, as the generator writes them
# (fph-pyconst).  The compiled module stays Debian's: fph adds no function
# to libvirt's API.  Version +fph1, a changelog entry, md5sums anew.
deb_python() {
    local dir=$FPH_DEB/python dev deb version py names date
    dev=$(find "$(deb_dir libvirt)" -maxdepth 1 -name 'libvirt-dev_*.deb' -print -quit)
    [ -n "$dev" ] || die "no libvirt-dev package of fph's libvirt in $(deb_dir libvirt): the Python binding takes its API description from it"
    deb_tools
    rm -rf "$dir"
    mkdir -p "$dir/debian-own"
    (cd "$dir/debian-own" && apt-get -q download python3-libvirt) > "$dir.log" 2>&1 ||
        { tail -20 "$dir.log" >&2; die "downloading Debian's python3-libvirt failed"; }
    deb=$(find "$dir/debian-own" -name 'python3-libvirt_*.deb' -print -quit)
    version=$(dpkg-deb -f "$deb" Version)
    dpkg-deb -R "$deb" "$dir/unpack"
    dpkg-deb -x "$dev" "$dir/api"
    py=$dir/unpack/usr/lib/python3/dist-packages/libvirt.py
    "$FPH_DEB_TOOLS/pkg/fph-pyconst" "$dir/api/usr/share/libvirt/api/libvirt-api.xml" "$py" \
        > "$dir/names" 2>> "$dir.log" ||
        { tail -5 "$dir.log" >&2; die "fph-pyconst failed on Debian's libvirt.py"; }
    [ -s "$dir/names" ] || die "Debian's python3-libvirt $version has every name of fph's libvirt: nothing to add"
    {
        printf '\n# Added by fph (%s%s): the names of fph'"'"'s libvirt %s that\n' \
            "$version" "$FPH_DEB_SUFFIX" "$(dpkg-deb -f "$dev" Version)"
        printf '# this module, generated from Debian'"'"'s libvirt, lacks.\n'
        cat "$dir/names"
    } >> "$py"
    sed -i "s/^Version: .*/Version: $version$FPH_DEB_SUFFIX/" "$dir/unpack/DEBIAN/control"
    date=$(LC_ALL=C date -u -R -d "@$(deb_date libvirt)")
    names=$(sed -n 's/ = .*//p' "$dir/names" | tr '\n' ' ')
    {
        printf 'libvirt-python (%s%s) %s; urgency=medium\n\n' "$version" "$FPH_DEB_SUFFIX" \
            "$(zcat "$dir/unpack/usr/share/doc/python3-libvirt/changelog.Debian.gz" | head -1 | cut -d' ' -f3 | tr -d ';')"
        printf '  * fph: libvirt.py gets the names of fph'"'"'s libvirt, from its\n'
        printf '    libvirt-api.xml: %s\n' "$names" | fold -s -w 72 |
            sed -e 's/ *$//' -e '2,$s/^/    /'
        printf '\n -- %s <%s>  %s\n\n' "$FPH_GIT_NAME" "$FPH_GIT_EMAIL" "$date"
        zcat "$dir/unpack/usr/share/doc/python3-libvirt/changelog.Debian.gz"
    } | gzip -9n > "$dir/changelog.gz"
    mv "$dir/changelog.gz" "$dir/unpack/usr/share/doc/python3-libvirt/changelog.Debian.gz"
    (cd "$dir/unpack" && find usr -type f -exec md5sum {} + | LC_ALL=C sort -k2 > DEBIAN/md5sums)
    # the same inputs make the same package (and the hosts are not made
    # again): every file dated as the libvirt packages' changelog entry
    find "$dir/unpack" -exec touch -h -d "$date" {} +
    SOURCE_DATE_EPOCH=$(deb_date libvirt) dpkg-deb --root-owner-group -Zxz -b "$dir/unpack" \
        "$dir/python3-libvirt_$version${FPH_DEB_SUFFIX}_$(dpkg-deb -f "$deb" Architecture).deb" \
        >> "$dir.log" 2>&1 || { tail -5 "$dir.log" >&2; die "packing python3-libvirt failed"; }
    rm -rf "$dir/unpack" "$dir/api"
    log "deb: python3-libvirt $version$FPH_DEB_SUFFIX with $(wc -l < "$dir/names") names of fph's libvirt"
    lintian_tags "$dir"/*.deb | LC_ALL=C sort -u > "$dir/lintian.fph"
    lintian_tags "$deb" | LC_ALL=C sort -u > "$dir/lintian.debian"
    lintian_only_fph python3-libvirt "$dir/lintian.fph" "$dir/lintian.debian" \
        "$dir.lintian"
}

# deb_repo: a flat apt repository of the built packages in $FPH_DEB_REPO,
# unsigned: hosts add it as "deb [trusted=yes] file:DIR ./" and pin its
# origin, fph, above Debian's (docs/packages.md)
deb_repo() {
    rm -rf "$FPH_DEB_REPO"
    mkdir -p "$FPH_DEB_REPO"
    find "$(deb_dir libvirt)" "$(deb_dir qemu)" "$FPH_DEB/python" -maxdepth 1 \
        -name '*.deb' ! -name '*-dbgsym_*' -exec cp -t "$FPH_DEB_REPO" {} +
    (cd "$FPH_DEB_REPO" &&
        dpkg-scanpackages --multiversion . /dev/null > Packages 2> scan.log &&
        gzip -9nk Packages &&
        apt-ftparchive -o APT::FTPArchive::Release::Origin=fph \
            -o APT::FTPArchive::Release::Label=fph \
            -o APT::FTPArchive::Release::Suite=fph-trixie \
            -o APT::FTPArchive::Release::Description="fph: Debian 13's qemu and libvirt with free page hinting" \
            release . > Release) ||
        die "making the apt repository in $FPH_DEB_REPO failed"
    log "deb: $(grep -c '^Package:' "$FPH_DEB_REPO/Packages") packages in $FPH_DEB_REPO"
}

# deb_lintian PROJECT: lintian over the packages of PROJECT and over
# Debian's own build of the same packages at the same version (from the
# archive); fails on an error (E:) that only fph's build has, and lists in
# $FPH_DEB/PROJECT.lintian every tag that only fph's build has.
deb_lintian() {
    local project=$1 dir own
    dir=$(deb_dir "$project")
    own=$dir/debian-own
    local -a debs names
    local f version
    mapfile -t debs < <(find "$dir" -maxdepth 1 -name '*.deb' ! -name '*-dbgsym_*' | LC_ALL=C sort)
    [ ${#debs[@]} -gt 0 ] || die "no $project packages to check in $dir"
    version=$(dpkg-deb -f "${debs[0]}" Version)
    version=${version%"$FPH_DEB_SUFFIX"}
    names=()
    for f in "${debs[@]}"; do
        names+=("$(dpkg-deb -f "$f" Package)=$version")
    done
    rm -rf "$own"
    mkdir -p "$own"
    (cd "$own" && apt-get -q update && apt-get -q download "${names[@]}") \
        > "$dir/debian-own.log" 2>&1 ||
        { tail -20 "$dir/debian-own.log" >&2; die "downloading Debian's own $project packages ($version) failed"; }
    log "deb: lintian over ${#debs[@]} $project packages and Debian's own build of $version"
    lintian_tags "${debs[@]}" | LC_ALL=C sort -u > "$dir/lintian.fph"
    lintian_tags "$own"/*.deb | LC_ALL=C sort -u > "$dir/lintian.debian"
    lintian_only_fph "$project packages" "$dir/lintian.fph" "$dir/lintian.debian" \
        "$dir.lintian"
}

# lintian_only_fph WHAT FPH DEBIAN OUT: the tags in the list FPH that the
# list DEBIAN (Debian's own build) lacks, into OUT, and said; fails on an
# error among them.  A tag of fph's is Debian's too when it is the same
# but for the version suffix in a file name lintian quotes.
lintian_only_fph() {
    local what=$1 fph=$2 debian=$3 out=$4 line
    : > "$out"
    while IFS= read -r line; do
        grep -qxF -- "${line//"$FPH_DEB_SUFFIX"/}" "$debian" ||
            printf '%s\n' "$line" >> "$out"
    done < "$fph"
    if [ -s "$out" ]; then
        log "deb: lintian tags of fph's $what that Debian's own build does not have:"
        sed 's/^/    /' "$out" >&2
    else
        log "deb: lintian: fph's $what: no tag Debian's own build does not have"
    fi
    ! grep -q '^E: ' "$out" ||
        die "lintian: fph's $what: errors Debian's own build does not have (above)"
}

# deb_checked PROJECT PROFILES: deb_lintian once for each build
deb_checked() {
    local want stamp
    want=$(deb_inputs "$1" "$2")
    stamp=lintian-$(basename "$(deb_dir "$1")")
    if stamp_ok "$stamp" "$want"; then
        log "deb: lintian checked these $1 packages before: $(wc -l < "$(deb_dir "$1").lintian") tag(s) only fph's build has"
        return 0
    fi
    deb_lintian "$1"
    stamp_set "$stamp" "$want"
}

# lintian_tags DEB...: lintian's errors, warnings and notes, one per line
lintian_tags() {
    local out
    # --fail-on none: the exit status tells whether lintian itself worked
    out=$(lintian --fail-on none --tag-display-limit 0 --display-info "$@" 2> "$FPH_DEB/lintian.err") ||
        { tail -20 "$FPH_DEB/lintian.err" >&2; die "lintian failed on $*"; }
    grep -E '^[EWI]: ' <<< "$out" || true
}

# build_debs [--full]: both packages and the repository
build_debs() {
    local qemu_profiles=$FPH_DEB_QEMU_PROFILES
    case "${1:-}" in
        --full) qemu_profiles=; FPH_DEB_FULL=1 ;;
        '') ;;
        *) die "deb takes no argument but --full (every package of Debian's QEMU build), not '$1'" ;;
    esac
    deb_check_skips
    deb_project libvirt ""
    deb_project qemu "$qemu_profiles"
    deb_checked libvirt ""
    deb_checked qemu "$qemu_profiles"
    deb_python
    deb_repo
}
