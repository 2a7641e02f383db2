#!/usr/bin/env bash
# log-relay.sh — on every server but the repository: a local rsyslog relay for the services' logs. docker's
# syslog driver sends to udp 127.0.0.1:10514 on the host itself (the repository's own log collector listens
# there too), so a task starts and logs whether or not the repository is up; rsyslog forwards each line over
# TCP (in order: one queue, one worker) to the repository's collector on tcp 2514, through a disk-assisted
# queue that keeps what the repository cannot take — across restarts too — and delivers it when the
# repository is back. Plain TCP, not RELP: omfwd checks the connection before each send (rsyslog
# plugins/omfwd/omfwd.c TCPSendBufUncompressed: `netstrm.CheckConnection` first), so a collector that went
# away is noticed and the line stays queued.
# Delivery is still at least once: the rehearsal saw the first line logged after the collector stopped arrive
# twice (with omrelp and with omfwd). So each line goes as RFC 5424 with the structured data
# `[hive@32473 id="<16 hex digits, upper case>"]`, the first half of rsyslog's `uuid` property: made once per message and kept
# with it in the disk queue (runtime/msg.c MsgSerialize/MsgDeserialize `pszUUID`), so a line sent again carries
# the same id, and the collector (log-collector.sh, hive-service-log-writer) writes each id once.
#
# Usage:  sudo env HIVE_LOG_COLLECTOR=10.0.0.8 bash log-relay.sh
# Env:    HIVE_LOG_COLLECTOR  the repository's private IPv4 address (its collector listens on tcp 2514)
# Stdin:  —
# Files:  /etc/rsyslog.d/20-hive-relay.conf; the queue in /var/spool/rsyslog/hive-relay*
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_LOG_COLLECTOR
[[ $HIVE_LOG_COLLECTOR =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] ||
    die "HIVE_LOG_COLLECTOR '$HIVE_LOG_COLLECTOR' is not an IPv4 address"

apt_install rsyslog
install -d -m 0700 /var/spool/rsyslog

conf=/etc/rsyslog.d/20-hive-relay.conf
previous=''
file_content "$conf" previous
restart=0
relay_conf=$(cat <<EOF
# managed by hive (hostsetup/log-relay.sh): services' logs → the repository, queued on disk
module(load="imudp")
# RFC 5424 with the line's id (the collector writes each id once); APP-NAME/PROCID are the tag's name and pid
template(name="HiveRelayFormat" type="list") {
    constant(value="<") property(name="pri") constant(value=">1 ")
    property(name="timestamp" dateFormat="rfc3339") constant(value=" ")
    property(name="hostname") constant(value=" ") property(name="app-name") constant(value=" ")
    property(name="procid") constant(value=" ") property(name="msgid")
    constant(value=" [hive@32473 id=\"") property(name="uuid" position.from="1" position.to="16")
    constant(value="\"] ") property(name="msg" spifno1stsp="on") property(name="msg")
}
ruleset(name="hive-relay") {
    action(type="omfwd" target="$HIVE_LOG_COLLECTOR" port="2514" protocol="tcp" template="HiveRelayFormat"
           queue.type="LinkedList" queue.filename="hive-relay" queue.spoolDirectory="/var/spool/rsyslog"
           queue.maxDiskSpace="1g" queue.saveOnShutdown="on" queue.workerThreads="1"
           action.resumeRetryCount="-1" action.resumeInterval="2")
    stop
}
input(type="imudp" address="127.0.0.1" port="10514" ruleset="hive-relay")
EOF
)
install_file_if_changed "$relay_conf" "$conf" 0644 && restart=1

if ((restart)); then rsyslog_apply "$conf" "$previous"; fi
if systemd_running; then
    enable_unit rsyslog.service
    ensure_active rsyslog.service # installed without a start by the packages step, or left stopped
fi
