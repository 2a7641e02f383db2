#!/usr/bin/env bash
# drbd-pool.sh — the LVM volume group and thin pool that hold this hive's copies of the DRBD volumes: VG
# `drbdvg` on the mirrored disk, thin pool `drbdvg/drbdpool` filling it (reference §4 drbd).
#
# Usage:  sudo env HIVE_MIRRORED_DEVICE=/dev/nvme1n1 bash drbd-pool.sh
#         sudo env HIVE_DISKLESS=1 bash drbd-pool.sh       # a hive without a mirrored disk (no_mirrored_device)
# Env:    HIVE_MIRRORED_DEVICE  (opt) the mirrored disk when the provider knows its name; tried first
#         HIVE_VG               (opt) the volume group, default drbdvg
#         HIVE_DISKLESS         (opt) 1: this hive holds no DRBD data (it reaches volumes over the network)
# Stdin:  —
# Device: the first *empty* disk (no partitions, no signature, not mounted) of HIVE_MIRRORED_DEVICE,
#         /dev/disk/azure/scsi1/lun0, /dev/sdc, /dev/sdb, /dev/vdc, /dev/vdb, /dev/xvdb, /dev/nvme1n1, /dev/xvdf, /dev/sdf (AWS Xen types).
# Pool:   ((free MiB − 8) · 8192 ÷ 8193) ÷ 16 · 16 MiB (room for the pool metadata and its spare),
#         --chunksize 1024K --zero n. An existing VG/pool is left as it is.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root

vg=${HIVE_VG:-drbdvg}
pool=drbdpool
[[ $vg =~ ^[A-Za-z0-9_][A-Za-z0-9_.+-]*$ ]] || die "HIVE_VG '$vg' is not a volume group name"
case ${HIVE_DISKLESS:-0} in
1)
    log "this hive is diskless (no mirrored disk): it holds no DRBD data, nothing to do"
    exit 0
    ;;
0) ;;
*) die "HIVE_DISKLESS must be 0 or 1, not '${HIVE_DISKLESS}'" ;;
esac

apt_install lvm2 thin-provisioning-tools util-linux

# empty_disk DEV — true when DEV is a whole disk without partitions, signatures, holders or mounts.
empty_disk() {
    local dev=$1 type children
    [[ -b $dev ]] || return 1
    type=$(lsblk -dno TYPE "$dev" 2>/dev/null) || return 1
    [[ $type == disk ]] || return 1
    [[ $(lsblk -dno RO "$dev") == 0 ]] || return 1
    children=$(lsblk -no NAME "$dev" | wc -l)
    ((children == 1)) || return 1
    [[ -z $(lsblk -no MOUNTPOINTS "$dev" | tr -d '[:space:]') ]] || return 1
    # blkid exits 2 when it finds no signature at all
    local rc=0
    blkid -p "$dev" >/dev/null 2>&1 || rc=$?
    ((rc == 2))
}

if vgs "$vg" >/dev/null 2>&1; then
    log "volume group $vg exists ($(vgs --noheadings -o pv_name "$vg" | tr -s ' ' | xargs))"
else
    candidates=()
    [[ -n ${HIVE_MIRRORED_DEVICE-} ]] && candidates+=("$HIVE_MIRRORED_DEVICE")
    candidates+=(/dev/disk/azure/scsi1/lun0 /dev/sdc /dev/sdb /dev/vdc /dev/vdb /dev/xvdb /dev/nvme1n1 /dev/xvdf /dev/sdf)
    device=''
    for candidate in "${candidates[@]}"; do
        real=$(readlink -f -- "$candidate" 2>/dev/null) || continue
        if empty_disk "$real"; then
            device=$real
            break
        fi
        [[ $candidate == "${HIVE_MIRRORED_DEVICE-}" && -e $candidate ]] &&
            warn "$candidate (the provider's mirrored disk) is not empty: looking further"
    done
    [[ -n $device ]] || die "no empty disk for the DRBD pool among ${candidates[*]}" \
        "(attach one, or mark this host no_mirrored_device to make it diskless)"
    log "using $device for volume group $vg"
    pvcreate --yes "$device" >&2 || die "pvcreate $device failed"
    vgcreate "$vg" "$device" >&2 || die "vgcreate $vg $device failed"
    changed "volume group $vg on $device"
fi

if lvs "$vg/$pool" >/dev/null 2>&1; then
    [[ $(lvs --noheadings -o segtype "$vg/$pool" | tr -d ' ') == thin-pool ]] ||
        die "$vg/$pool exists but is not a thin pool"
    log "thin pool $vg/$pool exists"
else
    free=$(vgs --noheadings --units m --nosuffix -o vg_free "$vg" | tr -d ' ')
    free=${free%%.*}
    size=$((((free - 8) * 8192 / 8193) / 16 * 16))
    ((size >= 64)) || die "volume group $vg has only ${free} MiB free: too small for a thin pool"
    lvcreate --yes --type thin-pool --size "${size}m" --chunksize 1024K --zero n --name "$pool" "$vg" >&2 ||
        die "lvcreate of thin pool $vg/$pool (${size} MiB) failed"
    changed "thin pool $vg/$pool of ${size} MiB"
fi
