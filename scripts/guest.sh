# The project's own C programs (meson) and the guest images.  Sourced, not
# run.
#
# A guest is a Debian kernel, unpacked from its package (not installed),
# and an initramfs with busybox-static, the virtio modules, Debian's qemu-ga
# with the libraries it links, and our static fph-guest tool.  There are
# two with the same user space (Debian 13's, built in the root): Debian
# 13's kernel (6.12), the default, and Debian 12's (6.1), which the e2e
# suite migrates as well.

FPH_OWN=$FPH_BASE_BUILD/own
FPH_GUEST=$FPH_BASE_BUILD/guest
FPH_GUEST2=$FPH_BASE_BUILD/guest-6.1

# Modules the guest loads; their dependencies are added at build time.
FPH_GUEST_MODULES="virtio_pci virtio_balloon virtio_console"

# guest_specs: "DIR RELEASE KERNEL" for each guest
guest_specs() {
    echo "$FPH_GUEST 13 6.12"
    echo "$FPH_GUEST2 12 6.1"
}

# own_args: the meson options of fph's own programs.  The lab, the e2e
# tests, the demo and the benchmark use the patched libvirt's API.
own_args() {
    printf '%s\n' -Dlab=enabled -Dprefix="$FPH_PREFIX" -Dfph_build="$FPH_BASE_BUILD" \
        -Dsecond_guest="$FPH_GUEST2"
}

build_own() {
    local pc=$FPH_PREFIX/lib/pkgconfig conf args
    mapfile -t args < <(own_args)
    [ -f "$pc/libvirt.pc" ] ||
        die "libvirt is not installed in $FPH_PREFIX (run 'sudo ./fph build')"
    conf=$(printf '%s\n' "${args[@]}" | sha256sum | cut -d' ' -f1)
    if [ ! -f "$FPH_OWN/build.ninja" ] || ! stamp_ok conf-own "$conf"; then
        rm -rf "$FPH_OWN"
        PKG_CONFIG_PATH=$pc meson setup "$FPH_OWN" "$FPH_TOP" "${args[@]}" \
            > "$FPH_BASE_BUILD/own-configure.log" 2>&1 ||
            { tail -30 "$FPH_BASE_BUILD/own-configure.log" >&2; die "meson setup of fph's own programs failed"; }
        stamp_set conf-own "$conf"
    fi
    log "own: building fph's programs"
    PKG_CONFIG_PATH=$pc ninja -C "$FPH_OWN" > "$FPH_BASE_BUILD/own-build.log" 2>&1 ||
        { cat "$FPH_BASE_BUILD/own-build.log" >&2; die "building fph's own programs failed"; }
}

# guest_debs: download the kernel and qemu-guest-agent packages of each
# guest if needed (with the machine's tools and the private apt states:
# outside the root, in setup)
guest_debs() {
    local dir rel ver dl kpkg sfx
    while read -r dir rel ver; do
        dl=$dir/debs
        mkdir -p "$dl"
        if ls "$dl"/linux-image-"$ver".*-amd64_*.deb > /dev/null 2>&1 &&
           ls "$dl"/qemu-guest-agent_*.deb > /dev/null 2>&1; then
            continue
        fi
        # the kernel from its release's apt state, qemu-ga from Debian 13's
        sfx=13
        [ "$rel" = 13 ] || sfx=
        "apt_update$sfx"
        kpkg=$("apt_cache$sfx" depends linux-image-amd64 |
               sed -nE "s/^ *Depends: (linux-image-${ver//./\\.}\\.[^ ]*-amd64)\$/\\1/p" | head -1)
        [ -n "$kpkg" ] || die "no linux-image-$ver.*-amd64 package found in Debian $rel's archive"
        log "guest: downloading $kpkg (Debian $rel) and qemu-guest-agent (Debian 13)"
        (cd "$dl" && "apt_get$sfx" -q download "$kpkg" && apt_get13 -q download qemu-guest-agent) \
            > "$dl/download.log" 2>&1 ||
            { cat "$dl/download.log" >&2; die "downloading the guest packages failed"; }
    done < <(guest_specs)
}

# add_module_with_deps NAME: append NAME and, first, what it depends on,
# to the guest being built ($gdir)
add_module_with_deps() {
    local name=$1 file dep
    local mods=$gdir/kernel/lib/modules
    # Debian 13's packages install below /usr (merged /usr)
    [ -d "$mods" ] || mods=$gdir/kernel/usr/lib/modules
    grep -qx "$name" "$gdir/modules.order" 2>/dev/null && return 0
    file=$(find "$mods" -name "$name.ko" -o -name "$name.ko.xz" | head -1)
    if [ -z "$file" ]; then
        # built into the kernel
        grep -qs "/$name.ko" "$mods"/*/modules.builtin ||
            die "kernel module $name is neither a module nor built in"
        return 0
    fi
    for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
        add_module_with_deps "$dep"
    done
    echo "$name" >> "$gdir/modules.order"
    mkdir -p "$gdir/root/lib/modules/fph"
    case "$file" in
        *.xz) xz -dc "$file" > "$gdir/root/lib/modules/fph/$name.ko" ;;
        *) cp "$file" "$gdir/root/lib/modules/fph/$name.ko" ;;
    esac
}

# build_guest_one DIR KERNEL: the guest in DIR from the packages in DIR/debs
build_guest_one() {
    local gdir=$1 ver=$2 want lib root=$1/root ga stamp
    stamp=guest-$(basename "$gdir")
    want=$(hash_of "$FPH_TOP/guest/init" "$FPH_OWN/guest/fph-guest" /bin/busybox \
           "$FPH_TOP/scripts/guest.sh" "$gdir"/debs/*.deb)
    if stamp_ok "$stamp" "$want" && [ -f "$gdir/initrd.img" ]; then
        return 0
    fi
    log "guest: building the initramfs in $gdir"
    rm -rf "$gdir/kernel" "$gdir/ga" "$root" "$gdir/modules.order"
    dpkg-deb -x "$gdir"/debs/linux-image-"$ver".*-amd64_*.deb "$gdir/kernel"
    dpkg-deb -x "$gdir"/debs/qemu-guest-agent_*.deb "$gdir/ga"
    cp "$gdir"/kernel/boot/vmlinuz-* "$gdir/vmlinuz"

    mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,usr/sbin,lib64,lib/x86_64-linux-gnu}
    cp /bin/busybox "$root/bin/busybox"
    cp "$FPH_TOP/guest/init" "$root/init"
    chmod 0755 "$root/init"
    cp "$FPH_OWN/guest/fph-guest" "$root/bin/fph-guest"

    : > "$gdir/modules.order"
    for m in $FPH_GUEST_MODULES; do
        add_module_with_deps "$m"
    done
    cp "$gdir/modules.order" "$root/etc/fph-modules"

    # qemu-ga and every library it links, from the system it is built on
    # (the Debian 13 root): the package's own release, so the library
    # versions it depends on.
    ga=$gdir/ga/usr/sbin/qemu-ga
    cp "$ga" "$root/usr/sbin/qemu-ga"
    if ldd "$ga" | grep -q 'not found'; then
        ldd "$ga" >&2
        die "qemu-ga needs libraries this system lacks: install the qemu-guest-agent dependencies above"
    fi
    for lib in $(ldd "$ga" | grep -oE '/[^ ]+\.so[^ ]*'); do
        cp -L "$lib" "$root/lib/x86_64-linux-gnu/"
    done
    cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"

    (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) |
        gzip -1 > "$gdir/initrd.img.new"
    mv "$gdir/initrd.img.new" "$gdir/initrd.img"
    stamp_set "$stamp" "$want"
    log "guest: $(basename "$gdir"/kernel/boot/vmlinuz-*), initramfs $(du -h "$gdir/initrd.img" | cut -f1)"
}

# build_guest: every guest (inside the root, whose packages setup has
# downloaded)
build_guest() {
    local dir rel ver
    [ -n "${FPH_IN_ROOT:-}" ] || guest_debs
    while read -r dir rel ver; do
        build_guest_one "$dir" "$ver"
    done < <(guest_specs)
}
