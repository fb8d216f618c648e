# Private apt state: package and source lists derived at run time from the
# machine's own apt sources, kept below $FPH_APT.  The system's apt
# configuration is only read, never written.  Sourced, not run.

apt_opts() {
    printf '%s\n' \
        -o "Dir::Etc::SourceList=/dev/null" \
        -o "Dir::Etc::SourceParts=$FPH_APT/parts" \
        -o "Dir::State::Lists=$FPH_APT/lists" \
        -o "Dir::Cache=$FPH_APT/cache" \
        -o "APT::Sandbox::User=root"
}

# Copy the machine's deb822 sources with every "deb" type widened to
# "deb deb-src", and the one-line sources.list entries with a deb-src twin.
apt_write_parts() {
    local parts=$FPH_APT/parts.new f
    rm -rf "$parts"
    mkdir -p "$parts"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        sed -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb deb-src/' \
            "$f" > "$parts/$(basename "$f")"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -nE 's/^deb([[:space:]])/deb\1/p; s/^deb([[:space:]])/deb-src\1/p' \
            "$f" > "$parts/$(basename "$f")"
    done
    if ! grep -rqs 'deb-src' "$parts"; then
        die "no deb entries found in /etc/apt/sources.list{,.d}: cannot derive deb-src sources"
    fi
    rm -rf "$FPH_APT/parts"
    mv "$parts" "$FPH_APT/parts"
}

# apt_update: refresh the private lists at most once per run of the driver
apt_update() {
    [ -n "${FPH_APT_UPDATED:-}" ] && return 0
    need_root "fetching from Debian's archive"
    mkdir -p "$FPH_APT/lists/partial" "$FPH_APT/cache/archives/partial"
    apt_write_parts
    log "apt: updating the private package and source lists"
    # shellcheck disable=SC2046
    apt-get $(apt_opts) -q update > "$FPH_APT/update.log" 2>&1 ||
        { cat "$FPH_APT/update.log" >&2; die "apt-get update failed (private state in $FPH_APT)"; }
    FPH_APT_UPDATED=1
}

apt_get() {
    # shellcheck disable=SC2046
    DEBIAN_FRONTEND=noninteractive apt-get $(apt_opts) "$@"
}

# Packages the build, the guest image, the lab and the benchmark's plots
# need on the host.
FPH_HOST_PACKAGES="
    build-essential git meson ninja-build pkg-config python3 flex bison
    libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev
    seabios ipxe-qemu qemu-system-data
    busybox-static cpio xz-utils
    libjson-glib-dev
    gnuplot-nox
"

install_host_packages() {
    local missing=() p
    # shellcheck disable=SC2086
    for p in $FPH_HOST_PACKAGES; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
            missing+=("$p")
    done
    if ! stamp_ok host-build-dep "libvirt-9.0.0"; then
        apt_update
        log "apt: installing libvirt's build dependencies"
        apt_get -y -q build-dep libvirt > "$FPH_APT/build-dep.log" 2>&1 ||
            { tail -20 "$FPH_APT/build-dep.log" >&2; die "apt-get build-dep libvirt failed"; }
        stamp_set host-build-dep "libvirt-9.0.0"
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        apt_update
        log "apt: installing ${missing[*]}"
        apt_get -y -q --no-install-recommends install "${missing[@]}" \
            > "$FPH_APT/install.log" 2>&1 ||
            { tail -20 "$FPH_APT/install.log" >&2; die "apt-get install failed"; }
    fi
}

# fetch_sources: the two .orig tarballs in $FPH_DL, checked against
# sources.sha256.  apt's source support picks the current Debian revision;
# the upstream tarball inside it is what is pinned.
fetch_sources() {
    local orig pkg
    mkdir -p "$FPH_DL"
    for pkg in qemu libvirt; do
        orig=$(orig_of $pkg)
        if [ ! -f "$FPH_DL/$orig" ]; then
            apt_update
            log "apt: downloading the Debian 12 source package of $pkg"
            (cd "$FPH_DL" && apt_get -q source --download-only "$pkg") \
                > "$FPH_DL/$pkg.log" 2>&1 ||
                { tail -20 "$FPH_DL/$pkg.log" >&2; die "apt-get source $pkg failed"; }
            [ -f "$FPH_DL/$orig" ] ||
                die "the source package of $pkg did not contain $orig (is this Debian 12?)"
        fi
    done
    verify_sources
}

verify_sources() {
    local sum file actual
    while read -r sum file; do
        actual=$(sha256sum "$FPH_DL/$file" | cut -d' ' -f1)
        if [ "$actual" != "$sum" ]; then
            die "checksum mismatch for $file: expected $sum (sources.sha256), got $actual; refusing to build from it"
        fi
    done < "$FPH_TOP/sources.sha256"
}
