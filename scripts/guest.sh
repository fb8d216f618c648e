# The project's own C programs (meson) and the guest image.  Sourced, not run.
#
# The guest is Debian 12's kernel, unpacked from its package (not installed),
# and an initramfs with busybox-static, the virtio modules, Debian's qemu-ga
# with the libraries it links, and our static fph-guest tool.

FPH_OWN=$FPH_BASE_BUILD/own
FPH_GUEST=$FPH_BUILD/guest

# Modules the guest loads; their dependencies are added at build time.
FPH_GUEST_MODULES="virtio_pci virtio_balloon virtio_console"

# The lab, the e2e tests, the demo and the benchmark use the patched
# libvirt's API; on the debian13 base, whose libvirt queue is not there
# yet, only the guest tool and the qtest wrapper are built.
build_own() {
    local pc=$FPH_PREFIX/lib/pkgconfig lab=enabled
    [ "$FPH_BASE" = debian12 ] || lab=disabled
    [ "$lab" = disabled ] || [ -f "$pc/libvirt.pc" ] ||
        die "libvirt is not installed in $FPH_PREFIX (run './fph build')"
    if [ ! -f "$FPH_OWN/build.ninja" ]; then
        PKG_CONFIG_PATH=$pc meson setup "$FPH_OWN" "$FPH_TOP" -Dlab=$lab \
            -Dprefix="$FPH_PREFIX" > "$FPH_BASE_BUILD/own-configure.log" 2>&1 ||
            { tail -30 "$FPH_BASE_BUILD/own-configure.log" >&2; die "meson setup of fph's own programs failed"; }
    fi
    log "own: building fph's programs"
    PKG_CONFIG_PATH=$pc ninja -C "$FPH_OWN" > "$FPH_BASE_BUILD/own-build.log" 2>&1 ||
        { cat "$FPH_BASE_BUILD/own-build.log" >&2; die "building fph's own programs failed"; }
}

# guest_debs: download the kernel and qemu-guest-agent packages if needed
guest_debs() {
    local dl=$FPH_GUEST/debs kpkg
    mkdir -p "$dl"
    if ! ls "$dl"/linux-image-6.1.*-amd64_*.deb > /dev/null 2>&1 ||
       ! ls "$dl"/qemu-guest-agent_*.deb > /dev/null 2>&1; then
        apt_update
        # shellcheck disable=SC2046
        kpkg=$(apt-cache $(apt_opts) depends linux-image-amd64 |
               sed -nE 's/^ *Depends: (linux-image-6\.1\.[^ ]*-amd64)$/\1/p' | head -1)
        [ -n "$kpkg" ] || die "no linux-image-6.1.*-amd64 package found in Debian's archive"
        log "guest: downloading $kpkg and qemu-guest-agent"
        (cd "$dl" && apt_get -q download "$kpkg" qemu-guest-agent) > "$dl/download.log" 2>&1 ||
            { cat "$dl/download.log" >&2; die "downloading the guest packages failed"; }
    fi
}

# add_module_with_deps NAME: append NAME and, first, what it depends on
add_module_with_deps() {
    local name=$1 file dep
    grep -qx "$name" "$FPH_GUEST/modules.order" 2>/dev/null && return 0
    file=$(find "$FPH_GUEST/kernel/lib/modules" -name "$name.ko" -o -name "$name.ko.xz" | head -1)
    if [ -z "$file" ]; then
        # built into the kernel
        grep -qs "/$name.ko" "$FPH_GUEST/kernel/lib/modules"/*/modules.builtin ||
            die "kernel module $name is neither a module nor built in"
        return 0
    fi
    for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
        add_module_with_deps "$dep"
    done
    echo "$name" >> "$FPH_GUEST/modules.order"
    mkdir -p "$FPH_GUEST/root/lib/modules/fph"
    case "$file" in
        *.xz) xz -dc "$file" > "$FPH_GUEST/root/lib/modules/fph/$name.ko" ;;
        *) cp "$file" "$FPH_GUEST/root/lib/modules/fph/$name.ko" ;;
    esac
}

build_guest() {
    local want lib root=$FPH_GUEST/root ga
    guest_debs
    want=$(hash_of "$FPH_TOP/guest/init" "$FPH_OWN/guest/fph-guest" /bin/busybox \
           "$FPH_TOP/scripts/guest.sh" "$FPH_GUEST"/debs/*.deb)
    if stamp_ok guest "$want" && [ -f "$FPH_GUEST/initrd.img" ]; then
        return 0
    fi
    log "guest: building the initramfs"
    rm -rf "$FPH_GUEST/kernel" "$FPH_GUEST/ga" "$root" "$FPH_GUEST/modules.order"
    dpkg-deb -x "$FPH_GUEST"/debs/linux-image-6.1.*-amd64_*.deb "$FPH_GUEST/kernel"
    dpkg-deb -x "$FPH_GUEST"/debs/qemu-guest-agent_*.deb "$FPH_GUEST/ga"
    cp "$FPH_GUEST"/kernel/boot/vmlinuz-* "$FPH_GUEST/vmlinuz"

    mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,usr/sbin,lib64,lib/x86_64-linux-gnu}
    cp /bin/busybox "$root/bin/busybox"
    cp "$FPH_TOP/guest/init" "$root/init"
    chmod 0755 "$root/init"
    cp "$FPH_OWN/guest/fph-guest" "$root/bin/fph-guest"

    : > "$FPH_GUEST/modules.order"
    for m in $FPH_GUEST_MODULES; do
        add_module_with_deps "$m"
    done
    cp "$FPH_GUEST/modules.order" "$root/etc/fph-modules"

    # qemu-ga and every library it links, from the host's Debian 12 (the
    # same release, so the same library versions the package depends on).
    ga=$FPH_GUEST/ga/usr/sbin/qemu-ga
    cp "$ga" "$root/usr/sbin/qemu-ga"
    if ldd "$ga" | grep -q 'not found'; then
        ldd "$ga" >&2
        die "qemu-ga needs libraries this host lacks: install the qemu-guest-agent dependencies above"
    fi
    for lib in $(ldd "$ga" | grep -oE '/[^ ]+\.so[^ ]*'); do
        cp -L "$lib" "$root/lib/x86_64-linux-gnu/"
    done
    cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"

    (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) |
        gzip -1 > "$FPH_GUEST/initrd.img.new"
    mv "$FPH_GUEST/initrd.img.new" "$FPH_GUEST/initrd.img"
    stamp_set guest "$want"
    log "guest: $(basename "$FPH_GUEST"/kernel/boot/vmlinuz-*), initramfs $(du -h "$FPH_GUEST/initrd.img" | cut -f1)"
}
