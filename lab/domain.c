/*
 * domain: the lab's guest, its domain XML and its start.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include "fphlab.h"
#include "util.h"

#include <string.h>

#include <libvirt/virterror.h>

char *
fph_guest_xml_balloon(FphLab *lab, const char *name, unsigned int mem_mib,
                      FphBalloon balloon)
{
    /* What virt-install makes for a direct kernel boot, less what the
     * lab has no use for (disks, network): machine q35 with ACPI (Debian's
     * cloud kernel flavour hangs at boot without it), the host's QEMU from
     * its package, the guest agent's socket where libvirt puts it.  No <iothreads> and
     * no <driver iothread>: libvirt assigns the IOThread free page hinting
     * needs itself.  A reboot restarts the guest in the same QEMU, as
     * virt-install's default does (e2e-faults reboots and resets guests
     * while they migrate). */
    return g_strdup_printf(
        "<domain type='%s'>\n"
        "  <name>%s</name>\n"
        "  <memory unit='MiB'>%u</memory>\n"
        "  <vcpu>1</vcpu>\n"
        "  <os>\n"
        "    <type arch='x86_64' machine='q35'>hvm</type>\n"
        "    <kernel>" FPH_HOST_GUEST_DIR "/vmlinuz</kernel>\n"
        "    <initrd>" FPH_HOST_GUEST_DIR "/initrd.img</initrd>\n"
        "    <cmdline>console=ttyS0 loglevel=6 mitigations=off%s%s</cmdline>\n"
        "  </os>\n"
        "  <features>\n"
        "    <acpi/>\n"
        "    <apic/>\n"
        "  </features>\n"
        "  <clock offset='utc'/>\n"
        "  <on_poweroff>destroy</on_poweroff>\n"
        "  <on_reboot>restart</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <devices>\n"
        "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
        "    <serial type='file'>\n"
        "      <source path='/var/log/libvirt/qemu/%s.console' append='on'/>\n"
        "    </serial>\n"
        "    <channel type='unix'>\n"
        "      <source mode='bind'/>\n"
        "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
        "    </channel>\n"
        "    <memballoon model='virtio'%s%s/>\n"
        "  </devices>\n"
        "</domain>\n",
        lab->kvm ? "kvm" : "qemu", name, mem_mib,
        lab->guest_append ? " " : "",
        lab->guest_append ? lab->guest_append : "",
        name, balloon & FPH_BALLOON_HINT ? " freePageHint='on'" : "",
        balloon & FPH_BALLOON_REPORTING ? " freePageReporting='on'" : "");
}

char *
fph_guest_xml(FphLab *lab, const char *name, unsigned int mem_mib,
              bool free_page_hint)
{
    return fph_guest_xml_balloon(lab, name, mem_mib,
                                 free_page_hint ? FPH_BALLOON_HINT : 0);
}

bool
fph_guest_boot(FphLab *lab, FphHost *host, const char *name,
               unsigned int mem_mib, bool free_page_hint, GError **error)
{
    return fph_guest_boot_balloon(lab, host, name, mem_mib,
                                  free_page_hint ? FPH_BALLOON_HINT : 0, error);
}

bool
fph_guest_boot_balloon(FphLab *lab, FphHost *host, const char *name,
                       unsigned int mem_mib, FphBalloon balloon, GError **error)
{
    g_autofree char *xml = fph_guest_xml_balloon(lab, name, mem_mib, balloon);
    virConnectPtr conn = fph_host_connect(host, error);
    virDomainPtr dom;
    bool ok;

    if (!conn) {
        return false;
    }
    dom = virDomainCreateXML(conn, xml, 0);
    if (!dom) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot start %s on host %s: %s",
                    name, host->name, virGetLastErrorMessage());
        virConnectClose(conn);
        return false;
    }
    ok = fph_guest_wait_agent(dom, 300, error);
    virDomainFree(dom);
    virConnectClose(conn);
    return ok;
}

bool
fph_guest_start(FphHost *host, const char *name, GError **error)
{
    virConnectPtr conn = NULL;
    virDomainPtr dom = fph_host_domain(host, name, &conn, error);
    bool ok;

    if (!dom) {
        return false;
    }
    ok = virDomainCreate(dom) == 0;
    if (!ok) {
        g_set_error(error, FPH_LAB_ERROR, 0, "cannot start %s on host %s: %s",
                    name, host->name, virGetLastErrorMessage());
    } else {
        ok = fph_guest_wait_agent(dom, 300, error);
    }
    virDomainFree(dom);
    virConnectClose(conn);
    return ok;
}


bool
fph_guest_console_has(FphHost *host, const char *dom, const char *text)
{
    g_autofree char *name = g_strdup_printf("/var/log/libvirt/qemu/%s.console",
                                            dom);
    g_autofree char *path = fph_host_path(host, name);
    g_autofree char *log = NULL;

    return g_file_get_contents(path, &log, NULL, NULL) && strstr(log, text);
}
