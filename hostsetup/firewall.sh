#!/usr/bin/env bash
# firewall.sh — the HIVE-SERVICE iptables chain: swarm, docker API, registry, monitoring, syslog and DRBD
# ports only from the site's hosts (ssh and the docker API also from the admin CIDRs), persistent across
# reboots through hive-firewall.service (not netfilter-persistent, which would also save docker's rules).
#
# Usage:  sudo env HIVE_SITE_IPS='10.0.0.5 10.0.0.6 10.0.0.7 10.0.0.8' HIVE_ADMIN_CIDRS='203.0.113.0/24' \
#             bash firewall.sh
# Env:    HIVE_SITE_IPS     every server's private (and, when it differs, public) IPv4 address, space separated
#         HIVE_ADMIN_CIDRS  IPv4 CIDRs allowed to reach ssh and the docker API (2376), space separated; may be
#                           empty
# Stdin:  —
# Files:  /usr/local/sbin/hive-firewall (from hive-firewall beside this script), /etc/hive/firewall.env,
#         /etc/systemd/system/hive-firewall.service
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_SITE_IPS
read -r -a site_ips <<<"$HIVE_SITE_IPS"
read -r -a admin_cidrs <<<"${HIVE_ADMIN_CIDRS-}"

octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
ipv4_re="^$octet(\\.$octet){3}(/([0-9]|[12][0-9]|3[0-2]))?\$"
for a in "${site_ips[@]}" "${admin_cidrs[@]}"; do
    [[ $a =~ $ipv4_re ]] || die "'$a' is not an IPv4 address or CIDR"
done
[[ -r $HERE/hive-firewall ]] || die "$HERE/hive-firewall is missing (it is shipped with the step scripts)"

apt_install iptables

mkdir -p /etc/hive
install_file_if_changed "# managed by hive (hostsetup/firewall.sh); read by /usr/local/sbin/hive-firewall
HIVE_SITE_IPS=\"${site_ips[*]}\"
HIVE_ADMIN_CIDRS=\"${admin_cidrs[*]}\"" /etc/hive/firewall.env 0644 || true
install_file_if_changed "$(cat "$HERE/hive-firewall")" /usr/local/sbin/hive-firewall 0755 || true
if install_file_if_changed "# managed by hive (hostsetup/firewall.sh)
[Unit]
Description=hive firewall (iptables chain HIVE-SERVICE)
Before=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/hive-firewall

[Install]
WantedBy=multi-user.target" /etc/systemd/system/hive-firewall.service 0644 && systemd_running; then
    systemctl daemon-reload
fi
enable_unit hive-firewall.service

# chain_state — the HIVE-SERVICE chains and their INPUT jumps as they are now (IPv4, and IPv6 when present).
chain_state() {
    local tool
    for tool in iptables ip6tables; do
        command -v "$tool" >/dev/null || continue
        "$tool" -S HIVE-SERVICE 2>/dev/null || true
        "$tool" -C INPUT -j HIVE-SERVICE 2>/dev/null && echo "$tool INPUT -j HIVE-SERVICE"
    done
    return 0
}

before=$(chain_state)
# apply exactly what the boot-time unit applies: the generator reads /etc/hive/firewall.env
env -u HIVE_SITE_IPS -u HIVE_ADMIN_CIDRS /usr/local/sbin/hive-firewall
[[ $(chain_state) == "$before" ]] || changed "iptables/ip6tables chains HIVE-SERVICE"
