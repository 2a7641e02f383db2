#!/usr/bin/env bash
# Bring up a local Docker engine for the rehearsal tests (idempotent; root; no stdin needed).
#
#   - installs docker.io and debootstrap from the distribution when they are missing;
#   - starts dockerd in the background (log: $HIVE_CI_DOCKERD_LOG) unless an engine already answers on
#     /var/run/docker.sock;
#   - waits (bounded) until `docker info` works and prints the engine version and storage driver.
#
# Environment: HIVE_CI_DOCKERD_LOG (default /var/log/hive-ci-dockerd.log),
#              HIVE_CI_DOCKERD_TIMEOUT seconds (default 60).
set -euo pipefail

log() { printf '[start-dockerd] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

LOG_FILE=${HIVE_CI_DOCKERD_LOG:-/var/log/hive-ci-dockerd.log}
TIMEOUT=${HIVE_CI_DOCKERD_TIMEOUT:-60}
SOCK=/var/run/docker.sock
export DEBIAN_FRONTEND=noninteractive

engine_answers() {
    # The client may be newer than the engine: let it negotiate the API version.
    [ -S "$SOCK" ] && timeout 10 docker info >/dev/null 2>&1 </dev/null
}

# 1. Packages. dockerd/containerd/runc come from docker.io; debootstrap builds the host image.
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    # A third-party source that cannot be reached must not stop us: Debian's own are what we need.
    apt-get update -q </dev/null >&2 || log "apt-get update reported errors; installing anyway"
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2
fi
# The package's own client may be older than one already on PATH; either works (API negotiation).
command -v docker >/dev/null 2>&1 || die "no docker client on PATH"

# 2. Engine.
if engine_answers; then
    log "an engine already answers on $SOCK"
else
    # A stale socket/pid from a previous run whose process is gone blocks a new dockerd.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    if [ -f /var/run/docker.pid ]; then
        log "dockerd (pid $(cat /var/run/docker.pid)) is running but not answering yet; waiting for it"
    else
        # No systemd on a CI runner of this kind: start it directly, detached from this shell.
        log "starting dockerd (log: $LOG_FILE)"
        mkdir -p "$(dirname "$LOG_FILE")"
        # Storage driver overlay2 (the root file system is ext4 here); dockerd picks it by default,
        # naming it makes a silent fallback to vfs an error instead.
        setsid nohup dockerd --storage-driver=overlay2 >>"$LOG_FILE" 2>&1 </dev/null &
    fi
    deadline=$(( $(date +%s) + TIMEOUT ))
    until engine_answers; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "dockerd did not answer within ${TIMEOUT}s; last lines of $LOG_FILE:"
            tail -n 30 "$LOG_FILE" >&2 || true
            exit 1
        fi
        sleep 1
    done
fi

docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}})'
docker info --format 'storage driver {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}, kernel {{.KernelVersion}}'
