#!/usr/bin/env bash
# monitoring-errors.sh — on the repository server: the services' monitor_error/ignore_error as rsyslog rules.
# A service's log line that matches one of its monitor_error patterns and none of its ignore_error patterns is
# copied to /var/log/service-error.log (as hive-builder does); hive-metrics counts those lines per service for
# the alert ServiceErrorLogged.
#
# Usage:  sudo env HIVE_ERROR_RULES="$(cat rules)" HIVE_ERROR_SERVICES='powerdns' bash monitoring-errors.sh
# Env:    HIVE_ERROR_RULES (opt)     the RainerScript rules (components/monitoring/error_rules.py), empty: none
#         HIVE_ERROR_SERVICES (opt)  the watched services, space separated
# Stdin:  —
# Files:  /etc/rsyslog.d/hive-service-errors.rules (included inside log-collector.sh's ruleset: not a .conf,
#         so rsyslog does not load it at top level), /etc/hive/monitor-error-services, /etc/logrotate.d/hive-service-errors
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
rules=${HIVE_ERROR_RULES:-# managed by hive (hostsetup/monitoring-errors.sh): no service has monitor_error}
read -r -a services <<<"${HIVE_ERROR_SERVICES:-}"
for service in "${services[@]}"; do
    [[ $service =~ ^[a-z0-9][a-z0-9_.-]*$ ]] || die "HIVE_ERROR_SERVICES: '$service' is not a service name"
done

apt_install rsyslog logrotate
install -d -m 0755 /etc/hive
conf=/etc/rsyslog.d/hive-service-errors.rules
previous=''
file_content "$conf" previous
restart=0
install_file_if_changed "$rules" "$conf" 0644 && restart=1
watched=''
((${#services[@]} == 0)) || watched=$(printf '%s\n' "${services[@]}")
install_file_if_changed "$watched" /etc/hive/monitor-error-services 0644 || true
install_file_if_changed '# managed by hive (hostsetup/monitoring-errors.sh)
/var/log/service-error.log {
    weekly
    rotate 8
    compress
    delaycompress
    missingok
    notifempty
    postrotate
        /usr/lib/rsyslog/rsyslog-rotate
    endscript
}' /etc/logrotate.d/hive-service-errors 0644 || true

if ((restart)); then rsyslog_apply "$conf" "$previous"; fi
