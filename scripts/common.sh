# Shared settings and helpers for the fph driver scripts.  Sourced, not run.
#
# Everything fph builds lives below $FPH_BUILD (git-ignored); nothing is
# written outside the checkout except through apt (packages) and the
# kernel's namespaces (the lab).

FPH_TOP=${FPH_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FPH_BUILD=${FPH_BUILD:-$FPH_TOP/build}
FPH_APT=$FPH_BUILD/apt
FPH_DL=$FPH_BUILD/dl
FPH_JOBS=${FPH_JOBS:-3}

# The base the queues apply to: the pristine upstream tarballs inside
# Debian 13's source packages (QEMU 10.0, libvirt 11.3.0), built and run in
# a Debian 13 root (scripts/root.sh).  Everything built for it is below
# FPH_BASE_BUILD.  Until 2026-12 fph was based on Debian 12's QEMU 7.2 and
# libvirt 9.0.0 (docs/workflow.md, "History").
FPH_BASE_RELEASE=13
FPH_BASE_BUILD=$FPH_BUILD/debian13
FPH_WORK=$FPH_TOP/work
FPH_QEMU_ORIG=qemu_10.0.13+ds.orig.tar.xz
FPH_QEMU_DIR=qemu-10.0.13
FPH_LIBVIRT_ORIG=libvirt_11.3.0.orig.tar.xz
FPH_LIBVIRT_DIR=libvirt-11.3.0
# Debian's packaging of the same versions (debian/ of each source package),
# the base of fph's Debian packages (scripts/deb.sh); QEMU's carries a queue
# of fph's own (qemu-debian/: the x86-only build profile)
FPH_QEMU_DEBIAN=qemu_10.0.13+ds-0+deb13u1.debian.tar.xz
FPH_LIBVIRT_DEBIAN=libvirt_11.3.0-3+deb13u3.debian.tar.xz
# The patch queues, each a directory of the checkout named after it
FPH_PROJECTS="qemu libvirt qemu-debian"
FPH_SRC=$FPH_BASE_BUILD/src
FPH_OBJ=$FPH_BASE_BUILD/obj
FPH_STAMPS=$FPH_BASE_BUILD/stamps
# QEMU and libvirt are configured with the prefix FPH_PREFIX, /opt/fph in
# the root, which in_root binds to FPH_PREFIX_DIR below the checkout:
# libvirt derives the paths of its sockets (the daemon's, QEMU's monitors)
# from its prefix, and a unix socket's path must fit in 108 bytes, which a
# prefix inside a checkout at a long path does not leave room for.  For
# the same reason the lab keeps its state (the clients' socket paths) and
# its logs below FPH_RUN, /run/fph in the root, which in_root binds to
# FPH_RUN_DIR (one mount, so the lab can move its state to the logs).
FPH_PREFIX=/opt/fph
FPH_PREFIX_DIR=$FPH_BASE_BUILD/prefix
FPH_RUN=/run/fph
FPH_RUN_DIR=$FPH_BASE_BUILD
FPH_LAB_RUN=$FPH_RUN/lab
FPH_LAB_LOGS_RUN=$FPH_RUN/lab-logs

# Identity of the base commit and of every commit the queue tools create.
# Fixed name and dates make imports reproducible, so that a fresh export
# of an import is byte-identical to the committed queue.
FPH_GIT_NAME="fph project"
FPH_GIT_EMAIL="fph@fph.invalid"
FPH_BASE_DATE="2000-01-01T00:00:00+0000"

log() { printf '[fph] %s\n' "$*" >&2; }
die() { printf '[fph] error: %s\n' "$*" >&2; exit 1; }

# run_forwarding CMD...: run CMD and pass SIGTERM, SIGINT and SIGHUP that
# ./fph gets on to it as SIGTERM, so that the programs that tear the lab
# down on SIGTERM (fph-bench, fph-demo, and meson test, which passes it on
# to the e2e tests) do so when ./fph is stopped: a signal to a shell that
# waits for a foreground command reaches only the shell.  CMD stays in
# ./fph's process group.  Returns CMD's exit status.
run_forwarding() {
    local pid rc
    "$@" &
    pid=$!
    trap 'kill -TERM "$pid" 2>/dev/null' TERM INT HUP
    while :; do
        wait "$pid" && rc=0 || rc=$?
        # wait returns early when a trapped signal arrives
        kill -0 "$pid" 2>/dev/null || break
    done
    trap - TERM INT HUP
    return "$rc"
}

need_root() {
    [ "$(id -u)" = 0 ] || die "$1 needs root (Debian packages, namespaces)"
}

# remove_tree DIR: remove DIR, first unmounting what is mounted below it.
# A root mmdebstrap was making when it was killed (the end of a session,
# ^C) kept the /proc, /sys and /dev/pts mounts mmdebstrap made in it until
# root_make ran it in a mount namespace of its own; a checkout made before
# may still have them, and a plain rm -rf would walk into them.  Deepest mount points first; rm does
# not cross into a mount that is still there.
remove_tree() {
    local dir m
    [ -e "$1" ] || return 0
    dir=$(realpath "$1")
    while read -r m; do
        umount "$m" 2>/dev/null || umount --lazy "$m" ||
            die "cannot unmount $m, which is mounted below $dir"
    done < <(awk '{ print $5 }' /proc/self/mountinfo |
                 while read -r m; do printf '%b\n' "$m"; done |
                 awk -v d="$dir" 'index($0, d "/") == 1' | LC_ALL=C sort -r)
    rm -rf --one-file-system "$dir"
}

# stamp_ok NAME HASH: true if the step NAME last completed with inputs HASH
stamp_ok() { [ -f "$FPH_STAMPS/$1" ] && [ "$(cat "$FPH_STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$FPH_STAMPS"; printf '%s\n' "$2" > "$FPH_STAMPS/$1"; }

# hash_of FILE...: one sha256 over the names and contents of the files
hash_of() {
    local f
    for f in "$@"; do
        printf '%s\n' "${f#"$FPH_TOP"/}"
        if [ -f "$f" ]; then cat "$f"; fi
    done | sha256sum | cut -d' ' -f1
}

# queue_files PROJECT: the series file and the patches it names, in order
queue_files() {
    local q=$FPH_TOP/$1 p
    printf '%s\n' "$q/series"
    while read -r p; do
        case "$p" in ''|'#'*) continue ;; esac
        printf '%s\n' "$q/$p"
    done < "$q/series"
}

queue_patches() { queue_files "$1" | tail -n +2; }

# orig_of PROJECT: the tarball a queue applies to
orig_of() {
    case "$1" in
        qemu) echo "$FPH_QEMU_ORIG" ;;
        libvirt) echo "$FPH_LIBVIRT_ORIG" ;;
        qemu-debian) echo "$FPH_QEMU_DEBIAN" ;;
        *) die "unknown project '$1' (allowed: ${FPH_PROJECTS// /, })" ;;
    esac
}

# topdir_of PROJECT: the directory the tarball holds the tree in; empty
# for Debian's debian.tar.xz, whose one directory, debian/, is what a
# package's patches name (a/debian/rules)
topdir_of() {
    case "$1" in
        qemu) echo "$FPH_QEMU_DIR" ;;
        libvirt) echo "$FPH_LIBVIRT_DIR" ;;
        qemu-debian) echo "" ;;
        *) die "unknown project '$1' (allowed: ${FPH_PROJECTS// /, })" ;;
    esac
}

# submodules_of PROJECT: directories that upstream's git holds as
# submodules.  The tarball carries their files; a work tree keeps each in a
# nested repository recorded as a gitlink, as in upstream's own checkout, so
# tools that list the tree with git (libvirt's syntax-check) see what they
# see upstream.
submodules_of() {
    case "$1" in
        qemu) ;;
        libvirt) echo subprojects/keycodemapdb ;;
        qemu-debian) ;;
        *) die "unknown project '$1' (allowed: ${FPH_PROJECTS// /, })" ;;
    esac
}

# git as the project, with dates that do not depend on the clock
fph_git() {
    GIT_AUTHOR_NAME="$FPH_GIT_NAME" GIT_AUTHOR_EMAIL="$FPH_GIT_EMAIL" \
    GIT_COMMITTER_NAME="$FPH_GIT_NAME" GIT_COMMITTER_EMAIL="$FPH_GIT_EMAIL" \
        git -c core.abbrev=12 -c advice.detachedHead=false "$@"
}
