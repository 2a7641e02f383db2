#!/usr/bin/env bash
# wait-ready.sh — wait until a fresh host is ready to be provisioned: cloud-init finished (when installed),
# systemd finished booting (running or degraded) and no apt/dpkg run holds its locks.
#
# Usage:  sudo [env HIVE_WAIT_TIMEOUT=600] bash wait-ready.sh
# Env:    HIVE_WAIT_TIMEOUT  seconds allowed for each of the three waits (default 600)
# Stdin:  —
# Runs on every server, first. Changes nothing.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root

timeout=${HIVE_WAIT_TIMEOUT:-600}
[[ $timeout =~ ^[0-9]+$ ]] || die "HIVE_WAIT_TIMEOUT must be a number of seconds, got '$timeout'"

if command -v cloud-init >/dev/null; then
    log "waiting for cloud-init"
    rc=0
    timeout "$timeout" cloud-init status --wait >/dev/null || rc=$?
    case $rc in
    0) ;;
    124) die "cloud-init still running after ${timeout}s (see: cloud-init status --long)" ;;
    2) warn "cloud-init finished with recoverable errors (see: cloud-init status --long)" ;;
    *) warn "cloud-init reports an error (exit $rc; see: cloud-init status --long); going on" ;;
    esac
fi

if systemd_running; then
    log "waiting for systemd to finish booting"
    rc=0
    state=$(timeout "$timeout" systemctl is-system-running --wait 2>/dev/null) || rc=$?
    ((rc != 124)) || die "systemd still starting after ${timeout}s (see: systemctl list-jobs)"
    case $state in
    running) ;;
    degraded) warn "systemd is degraded; failed units: $(systemctl --failed --no-legend --plain |
        awk '{printf "%s ", $1}')" ;;
    *) die "systemd state is '$state' (expected running or degraded)" ;;
    esac
else
    warn "systemd is not running (chroot?): not waiting for boot"
fi

wait_apt_locks "$timeout"
log "host is ready"
