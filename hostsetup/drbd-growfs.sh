#!/usr/bin/env bash
# drbd-growfs.sh — grow a DRBD volume's file system to its device after the volume grew: online where this
# hive has it mounted (a task uses it here); on the format host also when no hive uses it (a short Primary role
# and a temporary mount). Runs on every hive after drbd-volume.sh ran on the format host (which resized the
# DRBD device); a hive that does not use the volume has nothing to do.
#
# Usage:  sudo env HIVE_VOLUME=pdnsdb_data HIVE_MINOR=1 HIVE_FSTYPE=xfs HIVE_FORMAT=0 bash drbd-growfs.sh
# Env:    HIVE_VOLUME  the volume (= DRBD resource) name
#         HIVE_MINOR   its DRBD minor: the device is /dev/drbd<minor>
#         HIVE_FSTYPE  xfs or ext4
#         HIVE_FORMAT  1 on the format host (it grows an unused file system), else 0
# Stdin:  —
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_VOLUME HIVE_MINOR HIVE_FSTYPE HIVE_FORMAT

vol=$HIVE_VOLUME
minor=$HIVE_MINOR
fstype=$HIVE_FSTYPE
format=$HIVE_FORMAT
[[ $vol =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]] || die "HIVE_VOLUME '$vol' is not a volume name"
if [[ ! $minor =~ ^[0-9]{1,3}$ ]] || ((minor < 1 || minor > 255)); then
    die "HIVE_MINOR '$minor' is not in 1..255"
fi
[[ $fstype == xfs || $fstype == ext4 ]] || die "HIVE_FSTYPE '$fstype' is not xfs or ext4"
[[ $format == [01] ]] || die "HIVE_FORMAT must be 0 or 1"
device=/dev/drbd$minor
SLACK=$((1 << 20)) # XFS cannot use a tail smaller than its minimum allocation group growth

if [[ ! -e /sys/block/drbd$minor ]]; then
    log "$device is not configured on this hive: nothing to grow"
    exit 0
fi

device_bytes() { echo $(($(cat "/sys/block/drbd$minor/size") * 512)); }

# fs_bytes [MOUNTPOINT] — the file system's size (xfs: from the mounted file system; ext4: its superblock)
fs_bytes() {
    local out blocks bsize
    if [[ $fstype == xfs ]]; then
        out=$(xfs_info "$1") || die "xfs_info $1 failed"
        [[ $out =~ data[[:space:]]+=[[:space:]]+bsize=([0-9]+)[[:space:]]+blocks=([0-9]+) ]] ||
            die "cannot read the data size from xfs_info $1"
        bsize=${BASH_REMATCH[1]} blocks=${BASH_REMATCH[2]}
    else
        out=$(dumpe2fs -h "$device" 2>/dev/null) || die "dumpe2fs -h $device failed"
        blocks=$(sed -n 's/^Block count:[[:space:]]*//p' <<<"$out")
        bsize=$(sed -n 's/^Block size:[[:space:]]*//p' <<<"$out")
    fi
    echo $((blocks * bsize))
}

# grow MOUNTPOINT — grow the mounted file system when the device is larger (returns 1 on failure)
grow() {
    local mnt=$1 have want
    have=$(fs_bytes "$mnt") || return 1
    want=$(device_bytes) || return 1
    if ((want - have <= SLACK)); then
        log "the file system of $vol fills $device ($have of $want bytes)"
        return 0
    fi
    if [[ $fstype == xfs ]]; then
        xfs_growfs "$mnt" >&2 || return 1
    else
        resize2fs "$device" >&2 || return 1
    fi
    changed "file system of $vol grown from $have to $(fs_bytes "$mnt") bytes"
}

mnt=$(findmnt -rn -S "$device" -o TARGET | head -n 1 || true)
if [[ -n $mnt ]]; then
    grow "$mnt" || die "growing the file system of $vol on $mnt failed"
    exit 0
fi
if ((!format)); then
    log "$vol is not mounted on this hive: nothing to grow here"
    exit 0
fi

# only a successful run's JSON (drbdsetup prints brackets before failing on an unknown resource)
status=$(drbdsetup status "$vol" --json 2>/dev/null) || status='[]'
roles=$(jq -r '[.[0].role?, (.[0].connections[]? | .["peer-role"])] | join(" ")' <<<"$status")
disk=$(jq -r '.[0].devices[0]["disk-state"] // "Unconfigured"' <<<"$status")
if [[ " $roles " == *" Primary "* ]]; then
    log "$vol is in use on another hive: that hive grows its file system"
    exit 0
fi
if [[ $disk != UpToDate ]]; then
    log "$vol is $disk here: its file system is grown where it is used next (run this step again there)"
    exit 0
fi

# nobody uses it: mount it here for a moment (DRBD 9 promotes on the mount and demotes on the unmount)
tmp=$(mktemp -d /run/hive-growfs-XXXXXX)
mount -t "$fstype" "$device" "$tmp" || {
    rmdir "$tmp"
    die "cannot mount $device (is it in use elsewhere?)"
}
rc=0
grow "$tmp" || rc=$?
umount "$tmp" || warn "cannot unmount $tmp"
rmdir "$tmp" || true
((rc == 0)) || die "growing the file system of $vol failed"
