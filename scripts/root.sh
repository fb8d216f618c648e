# The Debian 13 build root: a Debian 13 ("trixie") root file system below
# $FPH_BUILD/root, made with mmdebstrap from the machine's own archive
# (sources derived in scripts/apt.sh), with the build dependencies of
# Debian 13's qemu and libvirt source packages installed inside it.  QEMU
# and libvirt are built and tested in it, and the lab runs them there, so
# they link Debian 13's libraries, whatever release the machine runs.  Sourced, not
# run.

FPH_ROOT=$FPH_BUILD/root

# What the root has besides the two build dependency sets: what fph's own
# steps run inside it (its own C programs, the guest image, the queue
# tools, QEMU's test runner, the benchmark's plots, and for the lab's
# libvirtd the firewall tool its network driver needs to start at all, as
# Debian's package has it; for ./fph deb, the repository tools and
# lintian; mmdebstrap for the lab's hosts).  A package added here is installed into an
# existing root (root_packages); the root is made anew only when root_make
# itself changes.
FPH_ROOT_PACKAGES="
    build-essential git meson ninja-build pkg-config python3
    python3-pycotap
    libglib2.0-dev libjson-glib-dev
    busybox-static cpio xz-utils kmod
    seabios ipxe-qemu qemu-system-data
    nftables
    gnuplot-nox
    apt-utils lintian
    mmdebstrap
"

# root_make: make the root, or keep it when what it is made from is
# unchanged.  It is made in a new directory and moved into place when
# complete, so an interrupted run leaves no half root behind.
root_make() {
    local want new=$FPH_ROOT.new parts
    want=$(declare -f root_make | sha256sum | cut -d' ' -f1)
    if stamp_ok root "$want" && [ -x "$FPH_ROOT/usr/bin/apt-get" ]; then
        root_packages
        return 0
    fi
    need_root "making the Debian 13 build root"
    command -v mmdebstrap > /dev/null ||
        die "mmdebstrap is not installed (./fph setup installs it)"
    apt_update13
    mapfile -t parts < <(find "$FPH_APT13/parts" -type f | LC_ALL=C sort)
    log "root: making the Debian 13 build root in $FPH_ROOT (mmdebstrap, then the build dependencies of qemu and libvirt)"
    remove_tree "$new"
    # --variant=apt: essential packages and apt, the rest named here.  The
    # root's apt sources are the derived ones (with deb-src, for
    # build-dep); manual pages and documentation are left out.  It runs
    # in a mount namespace of its own: the /proc, /sys and /dev mounts it
    # makes in the new root end with it, also when it is killed, instead
    # of staying on the machine below the checkout.
    # shellcheck disable=SC2086
    unshare --mount --propagation private -- mmdebstrap --variant=apt --verbose \
        --include="$(echo $FPH_ROOT_PACKAGES | tr ' ' ',')" \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --customize-hook='chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends build-dep qemu libvirt' \
        "$FPH_DEBIAN13" "$new" "${parts[@]}" > "$FPH_BUILD/root.log" 2>&1 ||
        { tail -30 "$FPH_BUILD/root.log" >&2; remove_tree "$new"; die "making the Debian 13 root failed (log: $FPH_BUILD/root.log)"; }
    remove_tree "$FPH_ROOT"
    mv "$new" "$FPH_ROOT"
    stamp_set root "$want"
    log "root: $(du -sh "$FPH_ROOT" | cut -f1), $(chroot "$FPH_ROOT" dpkg-query -W | wc -l) packages"
}

# root_packages: install what FPH_ROOT_PACKAGES names and the root lacks
root_packages() {
    local missing=() p
    # shellcheck disable=SC2086
    for p in $FPH_ROOT_PACKAGES; do
        chroot "$FPH_ROOT" dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    log "root: installing ${missing[*]}"
    (in_root /bin/sh -c 'apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends install "$@"' \
        sh "${missing[@]}") > "$FPH_BUILD/root-install.log" 2>&1 ||
        { tail -20 "$FPH_BUILD/root-install.log" >&2; die "installing ${missing[*]} in the root failed"; }
}

# in_root CMD...: run CMD inside the root, in a mount namespace of its own
# with /proc, /sys and /dev of the machine and the checkout at the same
# path as outside, so that every path fph uses means the same in both;
# besides, the install of QEMU and libvirt and the lab's state at their
# short paths (FPH_PREFIX, FPH_RUN: see scripts/common.sh).
# The environment is a clean one plus what selects fph's base and jobs.
# The calling shell becomes CMD (exec all the way down), so that a signal
# run_forwarding passes on reaches CMD itself: call it in a subshell.
#
# Run by a user other than root (./fph bench --help, --report), it maps
# that user to root in a user namespace of its own, which may bind but not
# mount a new /proc: CMD then sees the machine's.
in_root() {
    local -a userns=()
    [ -x "$FPH_ROOT/usr/bin/apt-get" ] || die "there is no Debian 13 root in $FPH_ROOT (sudo ./fph setup makes it)"
    [ "$(id -u)" = 0 ] || userns=(--user --map-root-user)
    exec unshare "${userns[@]}" --mount --propagation private -- /bin/sh -c '
        set -e
        r=$1 top=$2 prefix=$3 short_prefix=$4 run=$5 short_run=$6 userns=$7
        shift 7
        # the root a mount point of its own, as / is (the lab makes the
        # mounts of its hosts private from there)
        mount --bind "$r" "$r"
        if [ -n "$userns" ]; then
            mount --rbind /proc "$r/proc"
        else
            mount -t proc proc "$r/proc"
        fi
        mount --rbind /sys "$r/sys"
        mount --make-rslave "$r/sys"
        mount --rbind /dev "$r/dev"
        mount --make-rslave "$r/dev"
        mkdir -p "$r$top"
        mount --bind "$top" "$r$top"
        mkdir -p "$prefix" "$r$short_prefix" "$run" "$r$short_run"
        mount --bind "$prefix" "$r$short_prefix"
        mount --bind "$run" "$r$short_run"
        # pivot_root, not chroot: the root becomes the root of the mount
        # namespace, so that a process entering a namespace made from this
        # one (setns(2) gives it that namespace'"'"'s root) lands in the
        # root, and in a lab host'"'"'s namespace in that host'"'"'s root: libvirt
        # makes the device nodes of each QEMU'"'"'s /dev that way
        cd "$r"
        pivot_root . .
        umount -l .
        cd /
        exec "$@"
    ' sh "$FPH_ROOT" "$FPH_TOP" "$FPH_PREFIX_DIR" "$FPH_PREFIX" \
        "$FPH_RUN_DIR" "$FPH_RUN" "${userns[*]}" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LC_ALL=C.UTF-8 TERM="${TERM:-dumb}" \
        FPH_IN_ROOT=1 FPH_JOBS="$FPH_JOBS" \
        ${CI:+CI="$CI"} "$@"
}
