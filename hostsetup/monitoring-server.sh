#!/usr/bin/env bash
# monitoring-server.sh — on the repository server: Debian's Prometheus and Alertmanager. Prometheus scrapes
# every server's node-exporter (job node, :9100) and docker engine (job docker, :9323), evaluates the alert
# rules of monitoring/rules/ (shipped as hostsetup/monitoring-*.rules.yml) and sends alerts to Alertmanager.
# Both listen on 127.0.0.1 only (9090, 9093): reach the UIs with `./hive ssh -L 9090:127.0.0.1:9090 …`.
#
# Usage:  sudo env HIVE_MONITOR_TARGETS='s-hive0.pdns=10.0.0.5 s-hive1.pdns=10.0.0.6' bash monitoring-server.sh
#         [< alertmanager.yml]   (with HIVE_RECEIVERS=1)
# Env:    HIVE_MONITOR_TARGETS  every server as fqdn=private-ip, space separated (the instance label is the fqdn)
#         HIVE_RETENTION (opt)  how long Prometheus keeps samples, default 15d
#         HIVE_RECEIVERS (opt)  1: stdin is Alertmanager's configuration (receivers and their credentials);
#                               else the built-in one without receivers (alerts show in the UI and ./hive doctor)
# Stdin:  the Alertmanager configuration (secret) when HIVE_RECEIVERS=1, else —
# Files:  /etc/prometheus/prometheus.yml, /etc/prometheus/rules/hive/*.rules.yml, /etc/prometheus/alertmanager.yml,
#         /etc/default/prometheus, /etc/default/prometheus-alertmanager
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_MONITOR_TARGETS
retention=${HIVE_RETENTION:-15d}
[[ $retention =~ ^[0-9]+[smhdwy]$ ]] || die "HIVE_RETENTION '$retention' is not a duration like 15d"

alertmanager_conf=''
if [[ ${HIVE_RECEIVERS:-0} == 1 ]]; then
    read_secret alertmanager_conf
fi

apt_install prometheus prometheus-alertmanager

node_targets='' docker_targets=''
for target in $HIVE_MONITOR_TARGETS; do
    fqdn=${target%%=*} ip=${target#*=}
    [[ $fqdn =~ ^[a-z0-9.-]+$ && $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] ||
        die "HIVE_MONITOR_TARGETS entry '$target' is not fqdn=ipv4"
    node_targets+="      - targets: ['$ip:9100']
        labels: {instance: $fqdn}
"
    docker_targets+="      - targets: ['$ip:9323']
        labels: {instance: $fqdn}
"
done

prometheus_conf="# managed by hive (hostsetup/monitoring-server.sh)
global:
  scrape_interval: 15s
  evaluation_interval: 15s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:9093']
rule_files:
  - /etc/prometheus/rules/hive/*.rules.yml
scrape_configs:
  - job_name: node
    static_configs:
$node_targets  - job_name: docker
    static_configs:
$docker_targets  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:9090']
  - job_name: alertmanager
    static_configs:
      - targets: ['127.0.0.1:9093']"

# Stage everything, check it with promtool/amtool, then install: a bad file never reaches the running services.
stage=/run/hive-monitoring-stage # (not a trap: lib.sh's EXIT trap prints the final line)
rm -rf "$stage"
install -d -m 0700 "$stage/rules"
printf '%s\n' "$prometheus_conf" >"$stage/prometheus.yml"
for rules in "$HERE"/monitoring-*.rules.yml; do
    cp -- "$rules" "$stage/rules/${rules##*/monitoring-}"
done
sed -i "s|/etc/prometheus/rules/hive/|$stage/rules/|" "$stage/prometheus.yml"
check=$(promtool check config "$stage/prometheus.yml" 2>&1) || die "promtool rejects the generated configuration: $check"
sed -i "s|$stage/rules/|/etc/prometheus/rules/hive/|" "$stage/prometheus.yml"

if [[ -z $alertmanager_conf ]]; then
    alertmanager_conf='# managed by hive (hostsetup/monitoring-server.sh): no receivers configured, alerts show in the
# Alertmanager UI and in ./hive doctor
route:
  receiver: ui-only
  group_by: [alertname, instance, service]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: ui-only'
fi
(umask 077 && printf '%s\n' "$alertmanager_conf" >"$stage/alertmanager.yml")
if command -v amtool >/dev/null; then
    amtool check-config "$stage/alertmanager.yml" >/dev/null 2>&1 || die "amtool rejects the Alertmanager configuration"
fi

prometheus_reload=0 prometheus_restart=0 alertmanager_restart=0
install -d -m 0755 /etc/prometheus/rules/hive
install_file_if_changed "$(cat "$stage/prometheus.yml")" /etc/prometheus/prometheus.yml 0644 && prometheus_reload=1
for rules in "$stage"/rules/*.rules.yml; do
    install_file_if_changed "$(cat "$rules")" "/etc/prometheus/rules/hive/${rules##*/}" 0644 && prometheus_reload=1
done
for old in /etc/prometheus/rules/hive/*.rules.yml; do
    [[ -e $old && ! -e $stage/rules/${old##*/} ]] || continue
    rm -f -- "$old"
    changed "removed $old"
    prometheus_reload=1
done
install_file_if_changed "# managed by hive (hostsetup/monitoring-server.sh)
ARGS=\"--web.listen-address=127.0.0.1:9090 --storage.tsdb.retention.time=$retention\"" \
    /etc/default/prometheus 0644 && prometheus_restart=1
# the receivers' credentials: readable by Alertmanager's user only
install_file_if_changed "$(cat "$stage/alertmanager.yml")" /etc/prometheus/alertmanager.yml 0640 root:prometheus &&
    alertmanager_restart=1
install_file_if_changed '# managed by hive (hostsetup/monitoring-server.sh): a single Alertmanager, no cluster port
ARGS="--web.listen-address=127.0.0.1:9093 --cluster.listen-address="' \
    /etc/default/prometheus-alertmanager 0644 && alertmanager_restart=1

rm -rf "$stage"

if systemd_running; then
    enable_unit prometheus.service
    enable_unit prometheus-alertmanager.service
    if ((prometheus_restart)) || ! systemctl is-active --quiet prometheus.service; then
        systemctl restart prometheus.service
        changed "restarted prometheus"
    elif ((prometheus_reload)); then
        systemctl reload prometheus.service
        changed "reloaded prometheus"
    fi
    if ((alertmanager_restart)) || ! systemctl is-active --quiet prometheus-alertmanager.service; then
        systemctl restart prometheus-alertmanager.service
        changed "restarted prometheus-alertmanager"
    fi
fi
