#!/usr/bin/env bash
# drbd-install.sh — the DRBD 9 kernel module, built with DKMS from LINBIT's source tarball against the running
# kernel's headers, plus drbd-utils, LVM thin provisioning and the module loaded now and at every boot.
#
# Usage:  sudo env HIVE_DRBD_VERSION=9.2.16 \
#             HIVE_DRBD_URL=https://pkg.linbit.com/downloads/drbd/9/drbd-9.2.16.tar.gz bash drbd-install.sh
#         sudo env HIVE_DRBD_VERSION=9.2.16 HIVE_DRBD_URL=… \
#             HIVE_DRBD_MODULE_URL='https://repo.example/drbd-modules-{kernel}_{version}_amd64.deb' bash drbd-install.sh
# Env:    HIVE_DRBD_VERSION     the DRBD 9 release, e.g. 9.2.16
#         HIVE_DRBD_URL         the release's source tarball (https only); a literal "{version}" in it is replaced by
#                               the version; "-": read it from stdin (a secret URL, e.g. with a token: never
#                               printed, never in ps)
#         HIVE_DRBD_SHA256      (opt) the tarball's SHA-256 (64 hex digits): checked before the tarball is used
#                               (a cached one too); a mismatch removes it and stops. Unset: not checked
#         HIVE_DRBD_MODULE_URL  (opt, https only) a prebuilt module package (.deb, e.g. `dkms mkbmdeb` output made once on one
#                               host) for this kernel, installed instead of building; "{version}" and "{kernel}"
#                               (`uname -r`) in it are replaced. Unset: the DKMS build from HIVE_DRBD_URL.
# Stdin:  the source URL when HIVE_DRBD_URL is "-", else nothing
# Files:  /var/cache/hive/drbd-<version>.tar.gz, /usr/src/drbd-<version>/ (the DKMS source tree),
#         /var/cache/hive/drbd-modules-<version>-<kernel>.deb (the prebuilt package),
#         /etc/modules-load.d/hive-drbd.conf, /etc/drbd.d/global_common.conf, /etc/sysctl.d/90-hive-drbd.conf
# When DRBD <version> is already loaded, nothing is built. When another DRBD version is loaded and in use
# (a resource is up), <version> is installed for the next boot and the step says so: reboot the hives one at a
# time to switch. The kernel headers must exist for `uname -r` (after a kernel upgrade: reboot first).
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_DRBD_VERSION HIVE_DRBD_URL

version=$HIVE_DRBD_VERSION
[[ $version =~ ^9\.[0-9]+\.[0-9]+(-[A-Za-z0-9.]+)?$ ]] || die "HIVE_DRBD_VERSION '$version' is not a DRBD 9 release"
url=$HIVE_DRBD_URL
[[ $url != - ]] || read_secret url
url=${url//\{version\}/$version}
shown=$url
[[ $HIVE_DRBD_URL != - ]] || shown="the DRBD source URL (secret)"
[[ $url =~ ^https://[^[:space:]]+$ ]] || die "HIVE_DRBD_URL '$shown' is not an https URL"
sha256=${HIVE_DRBD_SHA256:-}
sha256=${sha256,,}
[[ -z $sha256 || $sha256 =~ ^[0-9a-f]{64}$ ]] || die "HIVE_DRBD_SHA256 '$sha256' is not 64 hexadecimal digits"
kernel=$(uname -r)
module_url=${HIVE_DRBD_MODULE_URL:-}
module_url=${module_url//\{version\}/$version}
module_url=${module_url//\{kernel\}/$kernel}
[[ -z $module_url || $module_url =~ ^https://[^[:space:]]+$ ]] ||
    die "HIVE_DRBD_MODULE_URL '$module_url' is not an https URL"
src=/usr/src/drbd-$version
cache=/var/cache/hive/drbd-$version.tar.gz

loaded_version() { cat /sys/module/drbd/version 2>/dev/null || true; }
drbd_in_use() { compgen -G '/sys/block/drbd*' >/dev/null; }
dkms_state() { dkms status -m drbd -v "$version" -k "$kernel" 2>/dev/null || true; }
installed_version() { modinfo -k "$kernel" -F version drbd 2>/dev/null || true; }

# --- user space: drbd-utils, LVM thin provisioning, file system tools
apt_install drbd-utils lvm2 thin-provisioning-tools xfsprogs e2fsprogs kmod jq

install_file_if_changed "# managed by hive (hostsetup/drbd-install.sh)
global {
    usage-count no;
}
common {
}" /etc/drbd.d/global_common.conf 0644 || true

# DRBD's resync and replication want large TCP buffers (reference: tcp_rmem/wmem 131072 1048576 16777216)
if install_file_if_changed "# managed by hive (hostsetup/drbd-install.sh)
net.ipv4.tcp_rmem = 131072 1048576 16777216
net.ipv4.tcp_wmem = 131072 1048576 16777216" /etc/sysctl.d/90-hive-drbd.conf 0644; then
    sysctl -q -p /etc/sysctl.d/90-hive-drbd.conf || warn "cannot apply /etc/sysctl.d/90-hive-drbd.conf now"
fi

install_file_if_changed "# managed by hive (hostsetup/drbd-install.sh)
drbd
drbd_transport_tcp" /etc/modules-load.d/hive-drbd.conf 0644 || true

current=$(loaded_version)
if [[ $current == "$version" ]]; then
    log "DRBD $version is loaded: nothing to build"
    exit 0
fi

# --- the kernel module: a prebuilt package when the stage names one, else DKMS from the source tarball
# package_has_module DEB — true when DEB holds drbd.ko (maybe compressed) for this kernel (a literal match:
# a release like 6.12.118+deb13-amd64 is no regular expression)
package_has_module() {
    local line
    while IFS= read -r line; do
        [[ $line == *" ./"?(usr/)"lib/modules/$kernel/"*/drbd.ko?(.gz|.xz|.zst) ]] && return 0
    done < <(dpkg-deb -c "$1" 2>/dev/null)
    return 1
}

install_package() {
    local deb=/var/cache/hive/drbd-modules-$version-$kernel.deb
    apt_install curl ca-certificates
    download_https "$module_url" "$deb"
    if ! package_has_module "$deb"; then
        rm -f "$deb"
        die "$module_url is no DRBD module package for kernel $kernel (build one for this kernel, e.g. dkms mkbmdeb)"
    fi
    dpkg -i "$deb" >&2 || die "dpkg -i $deb failed"
    [[ $(installed_version) == "$version" ]] || depmod -a "$kernel" # when the package's postinst did not
    [[ $(installed_version) == "$version" ]] ||
        die "$module_url installed DRBD '$(installed_version)' for $kernel, expected $version"
    changed "DRBD $version module package for $kernel"
}

build_with_dkms() {
    headers=linux-headers-$kernel
    pkg_installed "$headers" || log "the running kernel's headers: $headers (when Debian no longer has them," \
        "upgrade, reboot into the newest kernel and run this again)"
    # coccinelle (spatch) generates the kernel compatibility patch locally instead of asking LINBIT's online service
    apt_install "$headers" dkms make gcc curl ca-certificates coccinelle

    if [[ ! -f $src/dkms.conf ]]; then
        download_https "$url" "$cache" "$shown" "$sha256"
        work=$(mktemp -d /var/tmp/hive-drbd.XXXXXX)
        tar -xzf "$cache" -C "$work" || { rm -rf "$work"; die "$cache is not a gzip tarball (remove it to download again)"; }
        top=$work/drbd-$version
        [[ -d $top/drbd ]] || { rm -rf "$work"; die "$shown has no drbd-$version/drbd/ directory"; }
        rm -rf "$src"
        mkdir -p "$src/src"
        cp -a "$top/drbd" "$src/src/drbd"
        if [[ -f $top/misc/dkms.conf ]]; then
            sed "s/#MODULE_VERSION#/$version/" "$top/misc/dkms.conf" >"$src/dkms.conf"
        else
            # what LINBIT's misc/dkms.conf says, without the optional RDMA/handshake modules
            cat >"$src/dkms.conf" <<EOF
PACKAGE_NAME="drbd"
PACKAGE_VERSION="$version"
MAKE="make -C src/drbd KDIR=\$kernel_source_dir"
CLEAN="make -C src/drbd clean KDIR=\$kernel_source_dir"
AUTOINSTALL="yes"
BUILT_MODULE_NAME[0]="drbd"
BUILT_MODULE_LOCATION[0]="./src/drbd/build-current/"
DEST_MODULE_LOCATION[0]="/kernel/drivers/block/drbd"
BUILT_MODULE_NAME[1]="drbd_transport_tcp"
BUILT_MODULE_LOCATION[1]="./src/drbd/build-current/"
DEST_MODULE_LOCATION[1]="/kernel/drivers/block/drbd"
EOF
        fi
        rm -rf "$work"
        changed "DKMS source $src"
    fi

    if [[ -z $(dkms status -m drbd -v "$version" 2>/dev/null || true) ]]; then
        dkms add -m drbd -v "$version" >&2 || die "dkms add drbd/$version failed"
        changed "dkms add drbd/$version"
    fi
    if [[ $(dkms_state) != *installed* ]]; then
        log "building DRBD $version for $kernel (a few minutes)"
        dkms install -m drbd -v "$version" -k "$kernel" >&2 ||
            die "dkms install drbd/$version failed (see /var/lib/dkms/drbd/$version/build/make.log)"
        changed "DRBD $version module for $kernel"
    fi
}

if [[ -n $module_url ]]; then
    if [[ $(installed_version) == "$version" ]]; then
        log "DRBD $version is installed for $kernel"
    else
        install_package
    fi
else
    build_with_dkms
fi

# --- load it
if [[ -n $current ]]; then
    if drbd_in_use; then
        warn "DRBD $current is loaded and in use: DRBD $version is installed and loads at the next boot;" \
            "reboot this hive (one hive at a time) to switch"
        exit 0
    fi
    log "unloading DRBD $current"
    for module in drbd_transport_rdma drbd_transport_lb_tcp drbd_transport_tcp drbd; do
        if [[ -d /sys/module/$module ]]; then
            rmmod "$module" || die "cannot unload $module (DRBD $current)"
        fi
    done
fi
modprobe drbd || die "modprobe drbd failed (see: dmesg)"
modprobe drbd_transport_tcp || die "modprobe drbd_transport_tcp failed (see: dmesg)"
[[ $(loaded_version) == "$version" ]] || die "loaded DRBD '$(loaded_version)', expected $version"
changed "loaded DRBD $version"
