# The lab's hosts: two Debian 13 root file systems, A and B, each made
# with mmdebstrap from the machine's archive, onto which fph's packages
# are installed with apt from the repository ./fph deb makes, as
# docs/deploy.md tells an operator to (its steps 1 and 2: the lines
# marked "deploy step").  The lab (lab/) then runs each host in mount,
# network and UTS namespaces of its own.  Sourced, not run.

FPH_HOSTS=$FPH_BASE_BUILD/hosts
FPH_HOST_NAMES="A B"

# What a host has before fph's packages: what the lab itself uses on it
# (ip and tc for its link, certtool for its TLS certificates, ps for the
# daemon's checks of its children)
FPH_LABHOST_BASE_PACKAGES="iproute2 gnutls-bin procps ca-certificates"

# What docs/deploy.md installs from fph's repository (and Debian's)
FPH_LABHOST_PACKAGES="libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils python3-libvirt"

# Where a host sees fph's repository: an operator copies it there
FPH_LABHOST_REPO=/srv/fph-apt

# host_deploy_script: the commands of docs/deploy.md's steps 1 and 2, run
# in a host (sh -e): add the repository, pin its origin above Debian's,
# install.  The hosts have no init system: the lab starts the daemons
# itself, so the packages' scripts must not try (policy-rc.d, as in any
# chroot).
host_deploy_script() {
    cat <<EOF
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
# deploy step 1: the repository, and fph's packages before Debian's
echo 'deb [trusted=yes] file:$FPH_LABHOST_REPO ./' > /etc/apt/sources.list.d/fph.list
printf 'Package: *\nPin: release o=fph\nPin-Priority: 1001\n' > /etc/apt/preferences.d/fph
# deploy step 2: install
apt-get -q update
DEBIAN_FRONTEND=noninteractive apt-get -q -y install $FPH_LABHOST_PACKAGES
EOF
}

# host_make NAME: the root of host NAME in $FPH_HOSTS/NAME, made anew in
# NAME.new and moved into place when complete
host_make() {
    local name=$1 new=$FPH_HOSTS/$1.new parts
    mapfile -t parts < <(find "$FPH_APT13/parts" -type f | LC_ALL=C sort)
    remove_tree "$new"
    mkdir -p "$FPH_HOSTS"
    log "hosts: making host $name (mmdebstrap, then fph's packages with apt)"
    # shellcheck disable=SC2086
    mmdebstrap --variant=apt --verbose \
        --include="$(echo $FPH_LABHOST_BASE_PACKAGES | tr ' ' ',')" \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --customize-hook='mkdir -p "$1'"$FPH_LABHOST_REPO"'"' \
        --customize-hook='mount --bind "'"$FPH_DEB_REPO"'" "$1'"$FPH_LABHOST_REPO"'"' \
        --customize-hook='chroot "$1" sh -e -c "$(cat "'"$FPH_HOSTS/deploy.sh"'")"; rc=$?; umount "$1'"$FPH_LABHOST_REPO"'"; exit $rc' \
        --customize-hook="echo fph-host-$name > \"\$1/etc/hostname\"" \
        "$FPH_DEBIAN13" "$new" "${parts[@]}" > "$FPH_HOSTS/$name.log" 2>&1 ||
        { tail -30 "$FPH_HOSTS/$name.log" >&2; remove_tree "$new"; die "making host $name failed (log: $FPH_HOSTS/$name.log)"; }
    remove_tree "${FPH_HOSTS:?}/$name"
    mv "$new" "$FPH_HOSTS/$name"
}

# hosts_make: both hosts, made anew when fph's repository or the way they
# are made changed
hosts_make() {
    local want name ok
    need_root "making the lab's hosts"
    [ -f "$FPH_DEB_REPO/Packages" ] || die "no repository in $FPH_DEB_REPO: run ./fph deb first"
    want=$( { declare -f host_make; host_deploy_script; echo "$FPH_LABHOST_BASE_PACKAGES"; \
              cat "$FPH_DEB_REPO/Packages"; } | sha256sum | cut -d' ' -f1)
    if stamp_ok hosts "$want"; then
        ok=1
        for name in $FPH_HOST_NAMES; do
            [ -x "$FPH_HOSTS/$name/usr/sbin/libvirtd" ] || ok=
        done
        [ -z "$ok" ] || return 0
    fi
    # the sources the build root was made from (./fph setup derives them)
    [ -d "$FPH_APT13/parts" ] || die "no Debian 13 sources in $FPH_APT13/parts: run ./fph setup"
    command -v mmdebstrap > /dev/null || die "mmdebstrap is not in the build root (./fph setup installs it)"
    mkdir -p "$FPH_HOSTS"
    host_deploy_script > "$FPH_HOSTS/deploy.sh"
    for name in $FPH_HOST_NAMES; do
        host_make "$name"
    done
    stamp_set hosts "$want"
    for name in $FPH_HOST_NAMES; do
        log "hosts: $name: $(chroot "$FPH_HOSTS/$name" dpkg-query -W -f='${Package} ${Version}\n' libvirt-daemon qemu-system-x86 | tr '\n' ' ')"
    done
}
