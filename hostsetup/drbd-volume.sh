#!/usr/bin/env bash
# drbd-volume.sh — one DRBD volume on this hive: its resource file, its thin LV, DRBD metadata when there is
# none yet, `drbdadm adjust`, and the drbd-resource@<volume> unit that brings it up at boot before docker.
# On the format host (the first diskful hive, run after every other hive): the file system, created exactly
# once while no hive holds data yet, and `drbdadm resize` after the LVs grew (the file system grows in
# drbd-growfs.sh, where it is mounted).
#
# Usage:  sudo env HIVE_VOLUME=pdnsdb_data HIVE_MINOR=1 HIVE_SIZE=1073741824 HIVE_FSTYPE=xfs HIVE_VG=drbdvg \
#             HIVE_DISKLESS=0 HIVE_FORMAT=0 bash drbd-volume.sh <pdnsdb_data.res
# Env:    HIVE_VOLUME        the volume (= DRBD resource) name
#         HIVE_MINOR         its DRBD minor: the device is /dev/drbd<minor>
#         HIVE_SIZE          its size in bytes; the LV grows when it grew, a smaller size is an error
#         HIVE_FSTYPE        xfs or ext4
#         HIVE_VG            (opt) the volume group holding the thin pool drbdpool, default drbdvg
#         HIVE_DISKLESS      1: this hive holds no copy (disk none), 0: it has the thin LV /dev/<vg>/<volume>
#         HIVE_FORMAT        1 on the format host only
#         HIVE_WAIT_TIMEOUT  (opt) seconds to wait for the peers (format host), default 600
# Stdin:  the resource file /etc/drbd.d/<volume>.res (identical on every hive; not a secret)
# Files:  /etc/drbd.d/<volume>.res, /etc/systemd/system/drbd-resource@.service,
#         /var/lib/hive/drbd/<volume>.formatted (the format host's record of the file system it made)
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_VOLUME HIVE_MINOR HIVE_SIZE HIVE_FSTYPE HIVE_DISKLESS HIVE_FORMAT

vol=$HIVE_VOLUME
minor=$HIVE_MINOR
size=$HIVE_SIZE
fstype=$HIVE_FSTYPE
vg=${HIVE_VG:-drbdvg}
diskless=$HIVE_DISKLESS
format=$HIVE_FORMAT
timeout=${HIVE_WAIT_TIMEOUT:-600}
[[ $vol =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]] || die "HIVE_VOLUME '$vol' is not a volume name"
if [[ ! $minor =~ ^[0-9]{1,3}$ ]] || ((minor < 1 || minor > 255)); then
    die "HIVE_MINOR '$minor' is not in 1..255"
fi
if [[ ! $size =~ ^[0-9]{1,18}$ ]] || ((size < 16 << 20)); then
    die "HIVE_SIZE '$size' is not a size in bytes of at least 16 MiB"
fi
[[ $fstype == xfs || $fstype == ext4 ]] || die "HIVE_FSTYPE '$fstype' is not xfs or ext4"
[[ $vg =~ ^[A-Za-z0-9_][A-Za-z0-9_.+-]*$ ]] || die "HIVE_VG '$vg' is not a volume group name"
[[ $diskless == [01] && $format == [01] ]] || die "HIVE_DISKLESS and HIVE_FORMAT must be 0 or 1"
((!(diskless && format))) || die "the format host must hold a copy (HIVE_DISKLESS=0)"
[[ $timeout =~ ^[0-9]+$ ]] || die "HIVE_WAIT_TIMEOUT '$timeout' is not a number of seconds"
device=/dev/drbd$minor
lv=$vg/$vol
marker=/var/lib/hive/drbd/$vol.formatted

res=''
IFS= read -r -d '' res || true
[[ $res == *"resource $vol {"* ]] || die "stdin is not the resource file of volume $vol"
[[ -d /sys/module/drbd ]] || die "the DRBD kernel module is not loaded (the drbd-install step)"
command -v drbdadm >/dev/null || die "drbdadm is missing (the drbd-install step)"
command -v jq >/dev/null || apt_install jq

# --- drbdsetup's view of the resource (JSON; an unconfigured resource is an empty list)
# (an unknown resource makes drbdsetup print its JSON list's brackets and fail: seen on DRBD 9.2.16 in the VM
#  lab — appending '[]' to that gave jq two documents, so a fresh volume never got its metadata)
status_json() {
    local out
    if out=$(drbdsetup status "$vol" --json 2>/dev/null) && jq -e 'type == "array"' >/dev/null 2>&1 <<<"$out"; then
        printf '%s' "$out"
    else
        printf '[]'
    fi
}
status_query() { jq -r "$1" <<<"$(status_json)"; }
local_disk() { status_query '.[0].devices[0]["disk-state"] // "Unconfigured"'; }
unconnected_peers() { status_query '[.[0].connections[]? | select(.["connection-state"] != "Connected") | .name] | join(" ")'; }
diskful_peer_states() {
    status_query '[.[0].connections[]? | .peer_devices[0]? | select(.["peer-client"] | not) | .["peer-disk-state"]]
        | join(" ")'
}
primary_anywhere() {
    [[ $(status_query '[.[0].role?, (.[0].connections[]? | .["peer-role"])] | index("Primary") != null') == true ]]
}

# --- 1. the resource file, checked by drbdadm's own parser as this host before it is installed
tmp=$(mktemp --suffix=.res /run/hive-drbd-XXXXXX)
printf '%s' "$res" >"$tmp"
if ! out=$(drbdadm -c "$tmp" dump "$vol" 2>&1 >/dev/null); then
    rm -f "$tmp"
    die "drbdadm rejects the resource file of $vol as host $(uname -n): $out"
fi
rm -f "$tmp"
mkdir -p /etc/drbd.d
install_file_if_changed "$res" "/etc/drbd.d/$vol.res" 0644 || true

# --- 2. the thin LV (never shrinks)
if ((!diskless)); then
    vgs "$vg" >/dev/null 2>&1 ||
        die "volume group $vg does not exist (the drbd-pool step; a hive without a mirrored disk is diskless)"
    lvs "$vg/drbdpool" >/dev/null 2>&1 || die "thin pool $vg/drbdpool does not exist (the drbd-pool step)"
    extent=$(vgs --noheadings --units b --nosuffix -o vg_extent_size "$vg" | tr -d '[:space:]')
    want=$(((size + extent - 1) / extent * extent))
    if have=$(lvs --noheadings --units b --nosuffix -o lv_size "$lv" 2>/dev/null); then
        have=${have//[[:space:]]/}
        have=${have%%.*}
        if ((have < want)); then
            lvextend --yes --size "${want}b" "$lv" >&2 || die "lvextend $lv to $want bytes failed"
            changed "$lv grown from $have to $want bytes"
        elif ((have > want)); then
            die "$lv has $have bytes but volume $vol asks for $size: DRBD volumes never shrink (restore the size)"
        fi
    else
        lvcreate --yes --virtualsize "${want}b" --thin "$vg/drbdpool" --name "$vol" >&2 ||
            die "lvcreate of thin LV $lv ($want bytes) failed"
        changed "thin LV $lv of $want bytes"
    fi
fi

# --- 3. DRBD metadata, only when the LV has none (drbdmeta dump-md: exit 0 = valid metadata; on a device
#        without any it prints "No valid meta data found" and exits non-zero; "unclean" metadata exists too)
if ((!diskless)); then
    state=$(local_disk)
    if [[ $state == Unconfigured || $state == Diskless ]]; then
        rc=0
        out=$(drbdadm dump-md "$vol" 2>&1 >/dev/null) || rc=$?
        if ((rc == 0)) || [[ $out == *unclean* ]]; then
            log "DRBD metadata of $vol found on /dev/$lv"
        elif [[ $out == *"No valid meta data found"* ]]; then
            drbdadm create-md --max-peers=7 --force "$vol" >&2 || die "drbdadm create-md $vol failed"
            changed "DRBD metadata on /dev/$lv"
        else
            die "cannot tell whether /dev/$lv has DRBD metadata (drbdadm dump-md exit $rc): $out"
        fi
    fi
fi

# --- 4. bring the running resource in line with the file
plan=$(drbdadm -d adjust "$vol" 2>/dev/null) || die "drbdadm -d adjust $vol failed: $(drbdadm -d adjust "$vol" 2>&1)"
if [[ -n ${plan//[[:space:]]/} ]]; then
    drbdadm adjust "$vol" >&2 || die "drbdadm adjust $vol failed"
    changed "adjusted resource $vol"
fi

# --- 5. up at every boot, before docker starts tasks that mount it
# (a quoted here-document: the text is literal; systemd itself turns $$ into $)
read -r -d '' unit <<'UNIT' || true
# managed by hive (hostsetup/drbd-volume.sh)
[Unit]
Description=DRBD resource %i (hive)
Documentation=file:/etc/drbd.d/%i.res
After=network-online.target systemd-modules-load.service
Wants=network-online.target
Before=docker.service
ConditionPathExists=/etc/drbd.d/%i.res

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=330
ExecStartPre=/sbin/modprobe drbd
ExecStart=/bin/sh -c 'n=0; until /usr/sbin/drbdadm adjust %i; do n=$$((n + 1)); [ $$n -lt 60 ] || exit 1; sleep 5; done'
ExecStop=/usr/sbin/drbdadm down %i

[Install]
WantedBy=multi-user.target docker.service
UNIT
if systemd_running; then
    install_file_if_changed "$unit" /etc/systemd/system/drbd-resource@.service 0644 && systemctl daemon-reload
    enable_unit "drbd-resource@$vol.service"
    if ! systemctl is-active --quiet "drbd-resource@$vol.service"; then
        systemctl start "drbd-resource@$vol.service" || die "cannot start drbd-resource@$vol.service"
        changed "started drbd-resource@$vol.service"
    fi
else
    install_file_if_changed "$unit" /etc/systemd/system/drbd-resource@.service 0644 || true
    warn "systemd is not running: drbd-resource@$vol.service not enabled"
fi

((format)) || exit 0

# --- 6. the format host: the file system, exactly once
wait_for() { # wait_for WHAT TEST — poll TEST every 2 s for at most $timeout seconds
    local what=$1 test=$2 waited=0
    until "$test"; do
        ((waited < timeout)) || return 1
        ((waited % 30)) || log "waiting for $what"
        sleep 2
        waited=$((waited + 2))
    done
}
all_connected() { [[ -z $(unconnected_peers) ]]; }
peers_settled() { all_connected && [[ " $(diskful_peer_states) " != *" DUnknown "* ]]; }
peers_up_to_date() { all_connected && [[ -z $(diskful_peer_states | tr ' ' '\n' | grep -vx UpToDate || true) ]]; }

make_filesystem() {
    log "creating $fstype on $device"
    drbdadm primary --force "$vol" >&2 || die "drbdadm primary --force $vol failed"
    if ! out=$("mkfs.$fstype" -q "$device" 2>&1); then
        drbdadm secondary "$vol" >&2 || true
        die "mkfs.$fstype $device failed: $out"
    fi
    drbdadm secondary "$vol" >&2 || die "drbdadm secondary $vol failed"
    mkdir -p "${marker%/*}"
    printf '%s\n' "$fstype" >"$marker"
    changed "$fstype file system on $device"
}

settled() { [[ $(local_disk) != @(Attaching|Detaching|Negotiating) ]]; }
wait_for "the local disk of $vol to attach" settled || die "the local disk of $vol is still $(local_disk)"
state=$(local_disk)
if [[ -f $marker ]]; then
    log "$vol has its file system ($(cat "$marker"))"
elif [[ $state == Inconsistent ]]; then
    # A fresh volume everywhere, or this hive's copy is new and a peer holds the data: only the peers can say.
    wait_for "every peer of $vol to connect" peers_settled ||
        die "cannot tell whether volume $vol holds data: peers not connected after ${timeout}s: $(unconnected_peers)"
    peers=$(diskful_peer_states)
    if [[ -z $(tr ' ' '\n' <<<"$peers" | grep -vx -e Inconsistent -e '' || true) ]]; then
        make_filesystem # no hive has ever held data: the volume is new
    elif [[ " $peers " == *@(" UpToDate "|" Consistent "|" Outdated ")* ]]; then
        log "a peer holds the data of $vol ($peers): this hive's copy resynchronises from it"
    else
        die "cannot tell whether volume $vol holds data: the peers' disks are $peers (attach them first)"
    fi
elif [[ $state == UpToDate ]] && ! primary_anywhere; then
    # an interrupted first run (promoted, no file system yet) or a replaced format host that has synced
    drbdadm primary "$vol" >&2 || die "drbdadm primary $vol failed"
    rc=0
    found=$(blkid -p -s TYPE -o value "$device" 2>/dev/null) || rc=$?
    drbdadm secondary "$vol" >&2 || die "drbdadm secondary $vol failed"
    if ((rc == 2)); then
        make_filesystem
    elif ((rc == 0)); then
        mkdir -p "${marker%/*}"
        printf '%s\n' "$found" >"$marker"
        log "$vol has a $found file system"
    else
        die "blkid cannot probe $device (exit $rc)"
    fi
else
    log "$vol is $state here (in use or resynchronising): its file system exists"
fi

# --- 7. the format host: grow the DRBD device after every hive's LV grew (run after them)
if ((!diskless)); then
    lv_bytes=$(lvs --noheadings --units b --nosuffix -o lv_size "$lv" | tr -d '[:space:]')
    lv_bytes=${lv_bytes%%.*}
    dev_bytes=$(($(cat "/sys/block/drbd$minor/size") * 512))
    # internal metadata: a bitmap of 1 bit per 4 KiB per peer slot (7), activity log and superblock
    metadata=$((lv_bytes * 8 / 32768 + (4 << 20)))
    if ((lv_bytes - dev_bytes > metadata)); then
        wait_for "the peers of $vol to be in sync before resizing" peers_up_to_date ||
            die "cannot resize $vol: peers not UpToDate after ${timeout}s ($(diskful_peer_states))"
        drbdadm resize "$vol" >&2 || die "drbdadm resize $vol failed"
        grown=$(($(cat "/sys/block/drbd$minor/size") * 512))
        ((grown > dev_bytes)) || die "drbdadm resize $vol did not grow $device (a peer's LV is still smaller?)"
        changed "$device grown from $dev_bytes to $grown bytes"
    fi
fi
