#!/usr/bin/env bash
# log-collector.sh — on the repository server: rsyslog receives the services' logs — from the other hosts'
# relays (log-relay.sh) over tcp 2514, and from docker's syslog driver on udp 10514 (the repository's
# own tasks send to 127.0.0.1) — and writes each service to /var/log/services/<service>.log, rotated daily,
# kept 14 days.
#
# Usage:  sudo bash log-collector.sh
# Env:    —
# Stdin:  —
# Files:  /etc/rsyslog.d/30-hive-services.conf, /etc/logrotate.d/hive-services,
#         /usr/local/sbin/hive-service-log-writer (from hive-service-log-writer beside this script); the
#         writer's own log /var/log/hive-service-log-writer.log (each copy it dropped)
# The service name is the syslog tag (programname) that the services' log options set; it is made safe for a
# file name by rsyslog's secpath-replace. These messages go nowhere else (their own ruleset).
# The lines are written by hive-service-log-writer (omprog, one instance, each line confirmed): a relayed line
# carries its relay's id (structured data `hive@32473 id`), ends with ` #<id>` in the file and is written once
# — the relays deliver at least once. The relays send RFC 5424, whose tag is `<app>[<pid>]` without the
# colon: the line gets it back, so relayed and local lines look alike.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
[[ -r $HERE/hive-service-log-writer ]] ||
    die "$HERE/hive-service-log-writer is missing (it is shipped with the step scripts)"

apt_install rsyslog logrotate mawk
# setgid: the writer's files (umask 027) get the group adm, as rsyslog's own
if [[ $(stat -c %a:%U:%G /var/log/services 2>/dev/null) != 2755:root:adm ]]; then
    install -d -m 2755 -o root -g adm /var/log/services
    changed "/var/log/services: mode 2755, root:adm"
fi
writer=0
install_file_if_changed "$(cat "$HERE/hive-service-log-writer")" /usr/local/sbin/hive-service-log-writer 0755 && writer=1

conf=/etc/rsyslog.d/30-hive-services.conf
previous=''
file_content "$conf" previous
restart=0
rsyslog_conf=$(cat <<'EOF'
# managed by hive (hostsetup/log-collector.sh): service logs from docker's syslog driver and the hosts' relays
module(load="imudp")
module(load="imtcp")
module(load="omprog")
# "<service> <id or -> <the line>" for hive-service-log-writer; the line is RSYSLOG_FileFormat's
template(name="HiveServiceLine" type="string"
         string="%programname:::secpath-replace% %$.hiveid% %TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%$.tagend%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n")
ruleset(name="hive-services") {
    include(file="/etc/rsyslog.d/hive-service-errors.rules" mode="optional") # monitoring-errors.sh
    set $.hiveid = re_extract($structured-data, 'hive@32473 id="([0-9A-F]+)"', 0, 1, "-");
    if $.hiveid == "-" then {
        set $.tagend = "";
    } else {
        set $.tagend = ":";
    }
    action(type="omprog" binary="/usr/local/sbin/hive-service-log-writer" template="HiveServiceLine"
           confirmMessages="on" forceSingleInstance="on" reportFailures="on"
           output="/var/log/hive-service-log-writer.log" fileCreateMode="0640"
           action.resumeRetryCount="-1" action.resumeInterval="1")
    stop
}
input(type="imudp" address="0.0.0.0" port="10514" ruleset="hive-services") # IPv4 only: the firewall is IPv4
input(type="imtcp" address="0.0.0.0" port="2514" ruleset="hive-services") # from the hosts' relays
EOF
)
install_file_if_changed "$rsyslog_conf" "$conf" 0644 && restart=1

install_file_if_changed '# managed by hive (hostsetup/log-collector.sh)
/var/log/services/*.log /var/log/hive-service-log-writer.log {
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

if ((restart)); then
    rsyslog_apply "$conf" "$previous"
elif ((writer)) && systemd_running && systemctl is-active --quiet rsyslog.service; then
    systemctl restart rsyslog.service || die "cannot restart rsyslog (see: journalctl -u rsyslog)"
    changed "restarted rsyslog (a new hive-service-log-writer)"
fi
if systemd_running; then
    enable_unit rsyslog.service
    ensure_active rsyslog.service # installed without a start by the packages step, or left stopped
fi
