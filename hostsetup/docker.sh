#!/usr/bin/env bash
# docker.sh — Debian's docker engine with the docker API on tcp 2376 (mutual TLS: the host's server certificate;
# only clients the client CA signed — the program's, the backup agent's — are accepted, never another host's
# certificate), the hive's server CA trusted system-wide, docker0 and local bridge networks inside internal_cidr.
#
# Usage:  cat host.key host.crt ca.crt client-ca.crt | sudo env HIVE_FQDN=s-hive0.pdns HIVE_BIP=172.31.252.1/24 \
#             HIVE_ADDRESS_POOL=172.31.253.0/24 HIVE_ADMIN_USER=admin bash docker.sh
# Env:    HIVE_FQDN          this host's fully qualified name (logging only)
#         HIVE_BIP           docker0's address `a.b.c.d/n` (a network address gets +1); empty: docker default
#         HIVE_ADDRESS_POOL  CIDR for docker's local networks (/24 each, or the pool's own prefix when longer);
#                            empty: docker default
#         HIVE_ADMIN_USER    added to group docker
# Stdin:  four PEM blocks in this order: the host's private key, the host's certificate, the server CA
#         certificate (it signed the host certificates), the client CA certificate (dockerd's tlscacert)
# Files:  /etc/docker/tls/{key.pem,cert.pem,ca.pem,client-ca.pem}, /usr/local/share/ca-certificates/hive-ca.crt,
#         /etc/docker/daemon.json, /etc/systemd/system/docker.service.d/10-hive.conf
# docker is restarted only when one of these files changed.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_FQDN HIVE_ADMIN_USER
bip=${HIVE_BIP-}
pool=${HIVE_ADDRESS_POOL-}
cidr_re='^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]|[12][0-9]|3[0-2])$'
[[ -z $bip || $bip =~ $cidr_re ]] || die "HIVE_BIP '$bip' is not a.b.c.d/n"
[[ -z $pool || $pool =~ $cidr_re ]] || die "HIVE_ADDRESS_POOL '$pool' is not a.b.c.d/n"
id -u "$HIVE_ADMIN_USER" >/dev/null 2>&1 || die "HIVE_ADMIN_USER '$HIVE_ADMIN_USER' does not exist"

# docker0 needs a host address: 10.1.2.0/24 means 10.1.2.1/24
if [[ -n $bip ]]; then
    [[ $bip =~ $cidr_re ]]
    len=${BASH_REMATCH[5]}
    n=$(((BASH_REMATCH[1] << 24) | (BASH_REMATCH[2] << 16) | (BASH_REMATCH[3] << 8) | BASH_REMATCH[4]))
    ((len == 32 || (n & ((1 << (32 - len)) - 1)) != 0)) || n=$((n + 1))
    bip=$(printf '%d.%d.%d.%d/%d' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)) "$len")
fi
pool_size=24
if [[ -n $pool ]]; then
    [[ $pool =~ $cidr_re ]]
    ((BASH_REMATCH[5] <= 24)) || pool_size=${BASH_REMATCH[5]}
fi

# --- TLS material from stdin
read_pem_blocks
((${#PEM_BLOCKS[@]} == 4)) ||
    die "expected 4 PEM blocks on stdin (key, cert, server CA, client CA), got ${#PEM_BLOCKS[@]}"
key=${PEM_BLOCKS[0]} cert=${PEM_BLOCKS[1]} ca=${PEM_BLOCKS[2]} client_ca=${PEM_BLOCKS[3]}
[[ $key == "-----BEGIN "*"PRIVATE KEY-----"* ]] || die "the first PEM block on stdin is not a private key"
[[ $cert == "-----BEGIN CERTIFICATE-----"* && $ca == "-----BEGIN CERTIFICATE-----"* &&
    $client_ca == "-----BEGIN CERTIFICATE-----"* ]] ||
    die "the second to fourth PEM blocks on stdin must be certificates (host, server CA, client CA)"
[[ $ca != "$client_ca" ]] || die "the server CA and the client CA on stdin are the same certificate"

apt_install ca-certificates jq openssl
[[ $(printf '%s' "$key" | openssl pkey -pubout) == "$(printf '%s' "$cert" | openssl x509 -noout -pubkey)" ]] ||
    die "the host key on stdin does not belong to the host certificate"
# only the CA named (not the system store: after the first run it holds the server CA too)
verify_by() { openssl verify -no_check_time -no-CApath -no-CAstore -CAfile <(printf '%s' "$1") >/dev/null 2>&1; }
printf '%s' "$cert" | verify_by "$ca" || die "the host certificate is not signed by the server CA on stdin"
! printf '%s' "$cert" | verify_by "$client_ca" ||
    die "the host certificate is signed by the client CA: a host would be a docker client"

restart=0
mkdir -p /etc/docker/tls
chmod 0755 /etc/docker /etc/docker/tls
install_file_if_changed "$key" /etc/docker/tls/key.pem 0600 && restart=1
install_file_if_changed "$cert" /etc/docker/tls/cert.pem 0644 && restart=1
install_file_if_changed "$ca" /etc/docker/tls/ca.pem 0644 && restart=1
install_file_if_changed "$client_ca" /etc/docker/tls/client-ca.pem 0644 && restart=1
if install_file_if_changed "$ca" /usr/local/share/ca-certificates/hive-ca.crt 0644; then
    update-ca-certificates >&2
    restart=1 # dockerd reads the system trust store (registry access) once, at start
fi

daemon_json=$(jq -n --arg bip "$bip" --arg pool "$pool" --argjson size "$pool_size" '{
    "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"],
    "tls": true,
    "tlsverify": true,
    "tlscacert": "/etc/docker/tls/client-ca.pem",
    "tlscert": "/etc/docker/tls/cert.pem",
    "tlskey": "/etc/docker/tls/key.pem",
    "features": {"containerd-snapshotter": false},
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"}
  }
  + (if $bip != "" then {"bip": $bip} else {} end)
  + (if $pool != "" then {"default-address-pools": [{"base": $pool, "size": $size}]} else {} end)')
install_file_if_changed "$daemon_json" /etc/docker/daemon.json 0644 && restart=1

# Debian's unit starts `dockerd -H fd://`, which conflicts with "hosts" in daemon.json; $DOCKER_OPTS (from the
# unit's EnvironmentFile /etc/default/docker) carries monitoring-node.sh's --metrics-addr
mkdir -p /etc/systemd/system/docker.service.d
unit_changed=0
install_file_if_changed "# managed by hive (hostsetup/docker.sh)
[Unit]
StartLimitIntervalSec=0

[Service]
ExecStart=
ExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock \$DOCKER_OPTS
RestartSec=10s" /etc/systemd/system/docker.service.d/10-hive.conf 0644 && restart=1 && unit_changed=1

# --- packages (after the configuration, so that a fresh install by hand starts docker with it; the packages
# step installs them without starting docker). On Debian 13 docker.io no longer pulls in the docker command;
# without apparmor_parser, docker cannot load its profile on an AppArmor kernel (lib.sh pkg_condition).
apt_install docker.io docker-cli apparmor@apparmor

if systemd_running; then
    daemon_reload_if "$unit_changed"
    enable_unit docker.service
    if ! systemctl is-active --quiet docker.service; then
        # not started yet (installed by the packages step) or left stopped: one start, with the configuration
        systemctl start docker.service || die "docker does not start (see: journalctl -u docker)"
        changed "started docker"
    elif ((restart)); then
        log "restarting docker"
        systemctl restart docker.service || die "docker does not restart (see: journalctl -u docker)"
    fi
    # the unit is Type=notify: started means answering; poll briefly for a socket-activated start
    start=$SECONDS
    until docker info >/dev/null 2>&1; do
        ((SECONDS - start < 180)) || die "docker does not answer after 180s (see: journalctl -u docker)"
        sleep 0.2
    done
else
    warn "systemd is not running: docker not (re)started"
fi

if ! id -nG "$HIVE_ADMIN_USER" | tr ' ' '\n' | grep -qx docker; then
    usermod -aG docker "$HIVE_ADMIN_USER"
    changed "$HIVE_ADMIN_USER in group docker"
fi
log "docker ready on $HIVE_FQDN"
