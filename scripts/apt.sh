# Private apt states: package and source lists derived at run time from
# the machine's own apt sources, kept below $FPH_BUILD.  The system's apt
# configuration is only read, never written.  Sourced, not run.
#
# Two states: $FPH_APT for the machine's own release (its packages), and
# $FPH_APT13 for Debian 13 ("trixie"), whose sources are the machine's with
# the release name replaced in every suite (bookworm -> trixie,
# bookworm-updates -> trixie-updates, bookworm-security ->
# trixie-security).  The Debian 13 state fetches the source packages fph
# builds on and the guest kernels, and is what the build root's apt sources
# are made from (scripts/root.sh).

FPH_APT13=$FPH_BUILD/apt-trixie
FPH_DEBIAN13=trixie

# apt_opts [STATE]: apt options that use the private STATE (default $FPH_APT)
apt_opts() {
    local state=${1:-$FPH_APT}
    printf '%s\n' \
        -o "Dir::Etc::SourceList=/dev/null" \
        -o "Dir::Etc::SourceParts=$state/parts" \
        -o "Dir::State::Lists=$state/lists" \
        -o "Dir::Cache=$state/cache" \
        -o "APT::Sandbox::User=root"
}

# machine_release: the code name of the machine's Debian release
machine_release() {
    local VERSION_CODENAME=
    # shellcheck disable=SC1091
    . /etc/os-release
    [ -n "$VERSION_CODENAME" ] || die "/etc/os-release names no VERSION_CODENAME"
    printf '%s\n' "$VERSION_CODENAME"
}

# apt_write_parts STATE [RELEASE]: copy the machine's deb822 sources with
# every "deb" type widened to "deb deb-src", and the one-line sources.list
# entries with a deb-src twin, into STATE/parts.  With RELEASE, the
# machine's release name in each suite is replaced by RELEASE.
apt_write_parts() {
    local state=$1 to=${2:-} from parts=$1/parts.new f
    from=$(machine_release)
    to=${to:-$from}
    rm -rf "$parts"
    mkdir -p "$parts"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        sed -E -e 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb deb-src/' \
            -e "/^Suites:/s/\\b$from\\b/$to/g" \
            "$f" > "$parts/$(basename "$f")"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -nE -e "s/^(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+)$from(-[^[:space:]]*)?([[:space:]])/\1$to\3\4/" \
            -e 's/^deb([[:space:]])/deb\1/p; s/^deb([[:space:]])/deb-src\1/p' \
            "$f" > "$parts/$(basename "$f")"
    done
    if ! grep -rqs 'deb-src' "$parts"; then
        die "no deb entries found in /etc/apt/sources.list{,.d}: cannot derive deb-src sources"
    fi
    rm -rf "$state/parts"
    mv "$parts" "$state/parts"
}

# apt_update [STATE [RELEASE]]: refresh the private lists of STATE (default
# $FPH_APT, the machine's release) at most once per run of the driver
apt_update() {
    local state=${1:-$FPH_APT} release=${2:-} done_var
    done_var=FPH_APT_UPDATED_$(printf '%s' "$state" | sha256sum | cut -c1-12)
    [ -n "${!done_var:-}" ] && return 0
    need_root "fetching from Debian's archive"
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
    apt_write_parts "$state" "$release"
    log "apt: updating the private package and source lists${release:+ of Debian $release}"
    # shellcheck disable=SC2046
    apt-get $(apt_opts "$state") -q update > "$state/update.log" 2>&1 ||
        { cat "$state/update.log" >&2; die "apt-get update failed (private state in $state)"; }
    printf -v "$done_var" 1
}

apt_update13() { apt_update "$FPH_APT13" "$FPH_DEBIAN13"; }

apt_get() {
    # shellcheck disable=SC2046
    DEBIAN_FRONTEND=noninteractive apt-get $(apt_opts) "$@"
}

apt_cache() {
    # shellcheck disable=SC2046
    apt-cache $(apt_opts) "$@"
}

apt_cache13() {
    # shellcheck disable=SC2046
    apt-cache $(apt_opts "$FPH_APT13") "$@"
}

apt_get13() {
    # shellcheck disable=SC2046
    DEBIAN_FRONTEND=noninteractive apt-get $(apt_opts "$FPH_APT13") "$@"
}

# What the machine itself needs: what makes the build root.  QEMU, libvirt,
# fph's own programs, the guests and the lab are built and run in the root
# (scripts/root.sh).
FPH_HOST_PACKAGES="mmdebstrap"

install_host_packages() {
    local missing=() p
    # shellcheck disable=SC2086
    for p in $FPH_HOST_PACKAGES; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
            missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt_update
        log "apt: installing ${missing[*]}"
        apt_get -y -q --no-install-recommends install "${missing[@]}" \
            > "$FPH_APT/install.log" 2>&1 ||
            { tail -20 "$FPH_APT/install.log" >&2; die "apt-get install failed"; }
    fi
}

# fetch_sources: every file sources.sha256 pins in $FPH_DL, checked
# against it: the two .orig tarballs the queues qemu/ and libvirt/ apply
# to, and the debian.tar.xz of both Debian source packages (the base of
# qemu-debian/ and of fph's Debian packages, scripts/deb.sh).  A file's
# source package is the part of its name before "_".  apt's source
# support names the files of the current Debian revision of each source
# package; only the files pinned are downloaded (with apt's own transport,
# which checks them against the archive's index).  The archive may lack a
# package's .dsc (libvirt 11.3.0's at times) while it has the tarballs:
# that does not matter here.
fetch_sources() {
    local sum file
    mkdir -p "$FPH_DL"
    while read -r sum file; do
        [ -n "$sum" ] || continue
        fetch_source_file "${file%%_*}" "$file"
    done < "$FPH_TOP/sources.sha256"
    verify_sources
}

# fetch_source_file PACKAGE FILE: FILE of the Debian 13 source package
# PACKAGE in $FPH_DL (kept if there), fetched and checked by apt's own
# transport against the archive's index; the caller checks it against
# sources.sha256
fetch_source_file() {
    local pkg=$1 file=$2 line uri sum
    [ -f "$FPH_DL/$file" ] && return 0
    mkdir -p "$FPH_DL"
    apt_update13
    log "apt: downloading $file (source package $pkg of Debian $FPH_BASE_RELEASE)"
    line=$(apt_get13 -q source --print-uris "$pkg" 2>/dev/null |
           awk -v f="$file" '$2 == f { print; exit }')
    [ -n "$line" ] ||
        die "the source package $pkg of Debian $FPH_BASE_RELEASE has no $file (a new Debian revision or upstream version? see sources.sha256)"
    read -r uri _ _ sum <<< "$line"
    uri=${uri#\'}
    uri=${uri%\'}
    /usr/lib/apt/apt-helper download-file "$uri" "$FPH_DL/$file.part" "$sum" \
        > "$FPH_DL/$file.log" 2>&1 ||
        { tail -20 "$FPH_DL/$file.log" >&2; die "downloading $file failed"; }
    mv "$FPH_DL/$file.part" "$FPH_DL/$file"
}

# verify_file FILE: $FPH_DL/FILE matches its checksum in sources.sha256
verify_file() {
    local file=$1 sum actual
    sum=$(awk -v f="$file" '$2 == f { print $1 }' "$FPH_TOP/sources.sha256")
    [ -n "$sum" ] || die "sources.sha256 pins no checksum for $file"
    actual=$(sha256sum "$FPH_DL/$file" | cut -d' ' -f1)
    [ "$actual" = "$sum" ] ||
        die "checksum mismatch for $file: expected $sum (sources.sha256), got $actual; refusing to build from it"
}

# verify_sources: the files sources.sha256 pins are there and match it
verify_sources() {
    local sum file
    while read -r sum file; do
        [ -n "$sum" ] || continue
        verify_file "$file"
    done < "$FPH_TOP/sources.sha256"
}
