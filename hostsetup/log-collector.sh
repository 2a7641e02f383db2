#!/usr/bin/env bash
# log-collector.sh — on the repository server: rsyslog receives the services' logs — from the other hosts'
# relays (log-relay.sh) over tcp 2514, and from docker's syslog driver on udp 10514 (the repository's
# own tasks send to 127.0.0.1) — and writes each service to /var/log/services/<service>.log, rotated daily,
# kept 14 days.
#
# Usage:  sudo bash log-collector.sh
# Env:    —
# Stdin:  —
# Files:  /etc/rsyslog.d/30-hive-services.conf, /etc/logrotate.d/hive-services
# The service name is the syslog tag (programname) that the services' log options set; it is made safe for a
# file name by rsyslog's secpath-replace. These messages go nowhere else (their own ruleset).
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root

apt_install rsyslog logrotate
install -d -m 0755 -o root -g adm /var/log/services

conf=/etc/rsyslog.d/30-hive-services.conf
previous=''
file_content "$conf" previous
restart=0
rsyslog_conf=$(cat <<'EOF'
# managed by hive (hostsetup/log-collector.sh): service logs from docker's syslog driver
module(load="imudp")
module(load="imtcp")
template(name="HiveServiceFile" type="string"
         string="/var/log/services/%programname:::secpath-replace%.log")
ruleset(name="hive-services") {
    include(file="/etc/rsyslog.d/hive-service-errors.rules" mode="optional") # monitoring-errors.sh
    if $programname == "" then {
        action(type="omfile" file="/var/log/services/unknown.log" template="RSYSLOG_FileFormat"
               fileCreateMode="0640" fileOwner="root" fileGroup="adm")
    } else {
        action(type="omfile" dynaFile="HiveServiceFile" dynaFileCacheSize="100" template="RSYSLOG_FileFormat"
               dirCreateMode="0755" fileCreateMode="0640" fileOwner="root" fileGroup="adm")
    }
    stop
}
input(type="imudp" address="0.0.0.0" port="10514" ruleset="hive-services") # IPv4 only: the firewall is IPv4
input(type="imtcp" address="0.0.0.0" port="2514" ruleset="hive-services") # from the hosts' relays
EOF
)
install_file_if_changed "$rsyslog_conf" "$conf" 0644 && restart=1

install_file_if_changed '# managed by hive (hostsetup/log-collector.sh)
/var/log/services/*.log {
    daily
    rotate 14
    compress
    delaycompress
    missingok
    notifempty
    sharedscripts
    postrotate
        /usr/lib/rsyslog/rsyslog-rotate
    endscript
}' /etc/logrotate.d/hive-services 0644 || true

if ((restart)); then rsyslog_apply "$conf" "$previous"; fi
if systemd_running; then
    enable_unit rsyslog.service
    ensure_active rsyslog.service # installed without a start by the packages step, or left stopped
fi
