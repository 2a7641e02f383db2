#!/usr/bin/env bash
# base.sh — base setup of every server: packages, hostname, /etc/hosts entries for all servers, sshd without
# passwords, kernel parameters.
#
# Usage:  sudo env HIVE_HOSTNAME=s-hive0 HIVE_FQDN=s-hive0.pdns \
#             HIVE_HOSTS='10.0.0.5 s-hive0.pdns s-hive0;10.0.0.6 s-hive1.pdns s-hive1' \
#             HIVE_ADMIN_USER=admin bash base.sh
# Env:    HIVE_HOSTNAME    this host's name (short); set as its hostname
#         HIVE_FQDN        this host's fully qualified name (must be one of HIVE_HOSTS)
#         HIVE_HOSTS       every server, `ip fqdn short` entries separated by `;`
#         HIVE_ADMIN_USER  the ssh user (must exist)
# Stdin:  —
# Files:  /etc/hosts (block `hive hosts`, edited in place), /etc/hostname, /etc/ssh/sshd_config.d/10-hive.conf,
#         /etc/sysctl.d/90-hive.conf, /etc/modules-load.d/hive.conf, /etc/cloud/cloud.cfg.d/99-hive.cfg
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_HOSTNAME HIVE_FQDN HIVE_HOSTS HIVE_ADMIN_USER

name_re='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
fqdn_re='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'
[[ $HIVE_HOSTNAME =~ $name_re ]] || die "HIVE_HOSTNAME '$HIVE_HOSTNAME' is not a host name"
[[ $HIVE_FQDN =~ $fqdn_re ]] || die "HIVE_FQDN '$HIVE_FQDN' is not a domain name"
id -u "$HIVE_ADMIN_USER" >/dev/null 2>&1 || die "HIVE_ADMIN_USER '$HIVE_ADMIN_USER' does not exist"

# --- packages (the packages step installed them; by hand on a bare host this installs them)
# time must be synchronised (swarm certificates, raft, DRBD): keep whichever client the image has; a
# container shares its host's clock, which is the host's business (lib.sh pkg_condition time_client)
apt_install ca-certificates curl iproute2 iptables conntrack jq sudo chrony@time_client
# the packages step installs daemons without starting them; a crash may have left one stopped
if pkg_installed chrony && systemd_running; then
    enable_unit chrony.service
    ensure_active chrony.service
fi

# --- /etc/hosts: every server
hosts_block=''
self_listed=0
IFS=';' read -r -a entries <<<"$HIVE_HOSTS"
for entry in "${entries[@]}"; do
    read -r ip fqdn short extra <<<"$entry" || true
    [[ -n ${ip-} ]] || continue
    [[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ && $fqdn =~ $fqdn_re && ${short-} =~ $name_re && -z ${extra-} ]] ||
        die "HIVE_HOSTS entry '$entry' is not 'ip fqdn short'"
    [[ $fqdn == "$HIVE_FQDN" ]] && self_listed=1
    hosts_block+="$ip"$'\t'"$fqdn $short"$'\n'
done
((self_listed)) || die "HIVE_FQDN $HIVE_FQDN is not in HIVE_HOSTS"
managed_block /etc/hosts hosts "$hosts_block" || true

# cloud-init must not rewrite /etc/hosts or the hostname at the next boot
if [[ -d /etc/cloud/cloud.cfg.d ]]; then
    install_file_if_changed "# managed by hive (hostsetup/base.sh): the hive provisioner owns these
manage_etc_hosts: false
preserve_hostname: true" /etc/cloud/cloud.cfg.d/99-hive.cfg 0644 || true
fi

# --- hostname
current=
file_content /etc/hostname current
if [[ $current != "$HIVE_HOSTNAME"$'\n' ]]; then
    if systemd_running && hostnamectl set-hostname "$HIVE_HOSTNAME" 2>/dev/null; then
        changed "hostname $HIVE_HOSTNAME (hostnamectl)"
    else
        # in a container /etc/hostname is a bind mount and hostnamed cannot replace it
        write_in_place /etc/hostname "$HIVE_HOSTNAME"$'\n' || true
    fi
fi
if [[ $(hostname) != "$HIVE_HOSTNAME" ]]; then
    if hostname "$HIVE_HOSTNAME"; then
        changed "running hostname $HIVE_HOSTNAME"
    else
        warn "cannot set the running hostname (it is in /etc/hostname for the next boot)"
    fi
fi

# --- sshd: keys only
if command -v sshd >/dev/null; then
    conf=/etc/ssh/sshd_config.d/10-hive.conf
    previous=
    file_content "$conf" previous
    mkdir -p /etc/ssh/sshd_config.d
    if install_file_if_changed "# managed by hive (hostsetup/base.sh)
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password" "$conf" 0644; then
        [[ -d /run/sshd ]] || mkdir -m 0755 /run/sshd
        if ! sshd -t; then
            if [[ -n $previous ]]; then printf '%s' "$previous" >"$conf"; else rm -f "$conf"; fi
            die "sshd -t rejects the configuration with $conf; restored the previous state"
        fi
        if systemd_running; then systemctl try-reload-or-restart ssh.service; fi
    fi
else
    warn "sshd is not installed: no sshd configuration"
fi

# --- kernel parameters (the '-' lines may be missing until nf_conntrack is loaded: never an error)
install_file_if_changed "nf_conntrack" /etc/modules-load.d/hive.conf 0644 || true
sysctl_conf=/etc/sysctl.d/90-hive.conf
if install_file_if_changed "# managed by hive (hostsetup/base.sh)
net.ipv4.ip_forward = 1
net.ipv4.tcp_rmem = 131072 1048576 16777216
net.ipv4.tcp_wmem = 131072 1048576 16777216
-net.netfilter.nf_conntrack_udp_timeout = 30
-net.netfilter.nf_conntrack_udp_timeout_stream = 60" "$sysctl_conf" 0644; then
    modprobe nf_conntrack 2>/dev/null || true
    sysctl -q -p "$sysctl_conf" ||
        warn "some kernel parameters of $sysctl_conf could not be set (normal in a container)"
fi
