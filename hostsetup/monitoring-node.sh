#!/usr/bin/env bash
# monitoring-node.sh — on every server: prometheus-node-exporter on the private address (port 9100) with the
# systemd collector and the textfile collector fed by hive-metrics (DRBD state, swarm services, error-log
# lines) every 15 s, and the docker engine's own metrics endpoint on the private address (port 9323).
#
# Usage:  sudo env HIVE_LISTEN_ADDR=10.0.0.5 bash monitoring-node.sh
# Env:    HIVE_LISTEN_ADDR  this host's private address (node-exporter and docker metrics listen there only)
# Stdin:  —
# Files:  /etc/default/prometheus-node-exporter, /usr/local/sbin/hive-metrics (from hostsetup/hive-metrics),
#         /etc/systemd/system/hive-metrics.{service,timer}, /etc/default/docker (DOCKER_OPTS --metrics-addr)
# Runs before docker.sh on a new host (docker.io keeps the existing /etc/default/docker, so dockerd starts
# with its metrics endpoint); on a host whose dockerd already runs without it, dockerd is restarted once.
# Docker volumes are watched (DockerVolumeSpaceLow): node-exporter's default mount-point exclusion drops all
# of /var/lib/docker, this one only the container layers.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_LISTEN_ADDR
[[ $HIVE_LISTEN_ADDR =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "HIVE_LISTEN_ADDR '$HIVE_LISTEN_ADDR' is not an IPv4 address"

apt_install prometheus-node-exporter jq curl

textfile_dir=/var/lib/prometheus/node-exporter
install -d -m 0755 "$textfile_dir"
exporter_restart=0
install_file_if_changed "# managed by hive (hostsetup/monitoring-node.sh)
ARGS=\"--web.listen-address=$HIVE_LISTEN_ADDR:9100 --collector.systemd --collector.textfile.directory=$textfile_dir \\
--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/(overlay2|containers|plugins)/.+|run/docker/netns/.+)(\$|/)\"" \
    /etc/default/prometheus-node-exporter 0644 && exporter_restart=1

timer_changed=0
install_file_if_changed "$(cat "$HERE/hive-metrics")" /usr/local/sbin/hive-metrics 0755 || true
install_file_if_changed '# managed by hive (hostsetup/monitoring-node.sh)
[Unit]
Description=hive metrics for node-exporter (DRBD, swarm services, error log)

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hive-metrics' /etc/systemd/system/hive-metrics.service 0644 && timer_changed=1
install_file_if_changed '# managed by hive (hostsetup/monitoring-node.sh)
[Unit]
Description=hive metrics every 15 seconds

[Timer]
OnBootSec=10s
OnUnitActiveSec=15s
AccuracySec=1s

[Install]
WantedBy=timers.target' /etc/systemd/system/hive-metrics.timer 0644 && timer_changed=1

docker_restart=0
docker_opts="DOCKER_OPTS=\"--metrics-addr $HIVE_LISTEN_ADDR:9323\""
if [[ -e /etc/default/docker ]] && awk '/^# BEGIN hive monitoring$/ {b = 1} /^# END hive monitoring$/ {b = 0}
        !b && /^DOCKER_OPTS=/ {found = 1} END {exit !found}' /etc/default/docker; then
    die "/etc/default/docker sets its own DOCKER_OPTS; merge '--metrics-addr $HIVE_LISTEN_ADDR:9323' into them by hand"
fi
if managed_block /etc/default/docker monitoring "$docker_opts"; then
    docker_restart=1
fi

if systemd_running; then
    if ((timer_changed)); then
        systemctl daemon-reload
    fi
    enable_unit prometheus-node-exporter.service
    if ((exporter_restart)); then
        systemctl restart prometheus-node-exporter.service
        changed "restarted prometheus-node-exporter"
    elif ! systemctl is-active --quiet prometheus-node-exporter.service; then
        systemctl start prometheus-node-exporter.service
        changed "started prometheus-node-exporter"
    fi
    enable_unit hive-metrics.timer
    if ! systemctl is-active --quiet hive-metrics.timer; then
        systemctl start hive-metrics.timer
        changed "started hive-metrics.timer"
    fi
    if ((docker_restart)) && systemctl is-active --quiet docker.service; then
        warn "restarting dockerd for its metrics endpoint (its containers restart)"
        systemctl restart docker.service
        changed "restarted docker"
    fi
fi
