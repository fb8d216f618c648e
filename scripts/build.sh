# Builds of the patched QEMU and libvirt into $FPH_PREFIX (scripts/common.sh).
# Sourced, not run.
#
# Source trees are git trees kept at fph-base + queue by pq_sync, so a change
# to a queue rewrites only the files it touches and ninja rebuilds only what
# depends on them.

FPH_QEMU_FIRMWARE=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu

qemu_configure_args() {
    local a=(
    --prefix="$FPH_PREFIX"
    --target-list=x86_64-softmmu
    --without-default-features
    --enable-tcg
    --enable-kvm
    --disable-docs
    --disable-werror
    --disable-install-blobs
    --firmwarepath="$FPH_QEMU_FIRMWARE"
    )
    printf '%s\n' "${a[@]}"
}

libvirt_setup_args() {
    local a=(
    --prefix="$FPH_PREFIX"
    --libdir=lib
    -Ddriver_qemu=enabled
    -Ddriver_libxl=disabled -Ddriver_lxc=disabled -Ddriver_vbox=disabled
    -Ddriver_esx=disabled -Ddriver_hyperv=disabled -Ddriver_openvz=disabled
    -Ddriver_vmware=disabled -Ddriver_vz=disabled -Ddriver_ch=disabled
    -Ddriver_bhyve=disabled
    -Dstorage_rbd=disabled -Dstorage_gluster=disabled
    -Ddocs=disabled -Dtests=enabled
    # the tree holds its submodule already (see submodules_of); there is
    # nothing to fetch and no network to fetch it from
    -Dno_git=true
    -Dinit_script=none
    # the lab runs QEMU as root; Debian's libvirt-qemu user does not exist here
    -Dqemu_user=root -Dqemu_group=root
    # libvirt puts its runtime state (sockets) in /run whatever the
    # prefix; the lab gives each host its own copy of the prefix's state
    # directories, so keep it in the prefix
    -Drunstatedir="$FPH_PREFIX/var/run"
    )
    printf '%s\n' "${a[@]}"
}

# build_tree PROJECT [NAME [TARGET...]]: configure (when the options
# changed) and build the tree in $FPH_SRC/PROJECT as it is, in
# $FPH_OBJ/NAME (default: PROJECT) with the options ${NAME}_args prints.
# With no TARGET everything is built and installed; with targets only
# those are built, and nothing is installed.
build_tree() {
    local project=$1 name=${2:-$1} src=$FPH_SRC/$1 obj=$FPH_OBJ/${2:-$1} conf args
    local -a targets=("${@:3}")
    mapfile -t args < <("${name//-/_}_args")
    conf=$(printf '%s\n' "${args[@]}" | sha256sum | cut -d' ' -f1)
    if [ ! -f "$obj/build.ninja" ] || ! stamp_ok "conf-$name" "$conf"; then
        log "$name: configuring"
        rm -rf "$obj"
        mkdir -p "$obj"
        if [ "$project" = qemu ]; then
            (cd "$obj" && "$src/configure" "${args[@]}")
        else
            meson setup "$obj" "$src" "${args[@]}"
        fi > "$FPH_BASE_BUILD/$name-configure.log" 2>&1 ||
            { tail -30 "$FPH_BASE_BUILD/$name-configure.log" >&2; die "$name: configure failed (log: $FPH_BASE_BUILD/$name-configure.log)"; }
        stamp_set "conf-$name" "$conf"
    fi
    log "$name: building (ninja -j$FPH_JOBS${targets:+ ${targets[*]}})"
    ninja -C "$obj" -j"$FPH_JOBS" "${targets[@]}" > "$FPH_BASE_BUILD/$name-build.log" 2>&1 ||
        { grep -E 'error|FAILED' "$FPH_BASE_BUILD/$name-build.log" | head -30 >&2; die "$name: build failed (log: $FPH_BASE_BUILD/$name-build.log)"; }
    [ ${#targets[@]} -eq 0 ] || return 0
    meson install -C "$obj" --only-changed --quiet > "$FPH_BASE_BUILD/$name-install.log" 2>&1 ||
        die "$name: install failed (log: $FPH_BASE_BUILD/$name-install.log)"
}

qemu_args() { qemu_configure_args; }
libvirt_args() { libvirt_setup_args; }
# The sanitizer build of the QEMU queue: AddressSanitizer and
# UndefinedBehaviorSanitizer (QEMU's --enable-sanitizers), for the qtests
# that feed the device what a guest may (see docs/reliability.md).
qemu_asan_args() {
    qemu_configure_args
    printf '%s\n' --enable-asan --enable-ubsan
}
FPH_QEMU_ASAN_TARGETS=(qemu-system-x86_64 tests/qtest/virtio-balloon-hint-test)

build_qemu() {
    pq_sync "$FPH_SRC/qemu" qemu
    build_tree qemu
}

# Only the QEMU binary and the qtest that uses it; not installed.  Run
# from its build tree, QEMU looks for firmware below qemu-bundle/ there,
# which only a full build fills: it gets links to Debian's firmware.
build_qemu_asan() {
    local d bundle=$FPH_OBJ/qemu-asan/qemu-bundle
    pq_sync "$FPH_SRC/qemu" qemu
    build_tree qemu qemu-asan "${FPH_QEMU_ASAN_TARGETS[@]}"
    for d in ${FPH_QEMU_FIRMWARE//:/ }; do
        mkdir -p "$bundle$(dirname "$d")"
        ln -sfn "$d" "$bundle$d"
    done
}

build_libvirt() {
    pq_sync "$FPH_SRC/libvirt" libvirt
    build_tree libvirt
}
