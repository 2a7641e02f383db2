#!/usr/bin/env bash
# registry.sh — on the repository server: Debian's docker-registry on :5000 with TLS (the host certificate)
# and htpasswd (bcrypt) user `hive`.
#
# Usage:  printf '%s' "$PASSWORD" | sudo env HIVE_FQDN=s-hive3.pdns bash registry.sh
# Env:    HIVE_FQDN  this host's fully qualified name (the registry's external address is https://FQDN:5000)
# Stdin:  the registry password of user `hive`
# Needs:  docker.sh before it (the host certificate and key in /etc/docker/tls).
# Files:  /etc/docker/registry/{config.yml,htpasswd}, /etc/docker/registry/tls/{cert.pem,key.pem}
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_FQDN
password=''
read_secret password
for f in key.pem cert.pem ca.pem; do
    [[ -s /etc/docker/tls/$f ]] || die "/etc/docker/tls/$f is missing: run docker.sh first"
done

apt_install docker-registry apache2-utils curl
restart=0
conf_dir=/etc/docker/registry

# the registry runs as docker-registry: it reads the key and htpasswd through its group, nobody else can
install -d -m 0750 -o root -g docker-registry "$conf_dir/tls"
install_file_if_changed "$(cat /etc/docker/tls/cert.pem)" "$conf_dir/tls/cert.pem" 0644 && restart=1
install_file_if_changed "$(cat /etc/docker/tls/key.pem)" "$conf_dir/tls/key.pem" 0640 root:docker-registry &&
    restart=1

# htpasswd is rewritten only when the password does not verify (bcrypt salts differ on every run)
if printf '%s\n' "$password" | htpasswd -v -i "$conf_dir/htpasswd" hive >/dev/null 2>&1; then
    install_file_if_changed "$(cat "$conf_dir/htpasswd")" "$conf_dir/htpasswd" 0640 root:docker-registry &&
        restart=1
else
    entry=$(printf '%s\n' "$password" | htpasswd -n -B -i hive) || die "htpasswd failed"
    install_file_if_changed "$entry" "$conf_dir/htpasswd" 0640 root:docker-registry || true
    restart=1
fi
unset password

install_file_if_changed "# managed by hive (hostsetup/registry.sh)
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :5000
  host: https://$HIVE_FQDN:5000
  headers:
    X-Content-Type-Options: [nosniff]
  tls:
    certificate: $conf_dir/tls/cert.pem
    key: $conf_dir/tls/key.pem
auth:
  htpasswd:
    realm: hive
    path: $conf_dir/htpasswd
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3" "$conf_dir/config.yml" 0644 && restart=1

if systemd_running; then
    enable_unit docker-registry.service
    if ((restart)); then
        log "restarting docker-registry"
        systemctl restart docker-registry.service
    elif ! systemctl is-active --quiet docker-registry.service; then
        systemctl start docker-registry.service
        changed "started docker-registry"
    fi
    # ready = the registry answers 401 (auth required) over TLS; probe every 0.1 s, at most 60 s
    start=$SECONDS
    until code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 --cacert /etc/docker/tls/ca.pem \
        --resolve "$HIVE_FQDN:5000:127.0.0.1" https://"$HIVE_FQDN":5000/v2/) && [[ $code == 401 ]]; do
        ((SECONDS - start < 60)) || die "https://$HIVE_FQDN:5000/v2/ (on 127.0.0.1) answers '$code', not 401" \
            "(see: journalctl -u docker-registry)"
        sleep 0.1
    done
    log "registry answers on https://$HIVE_FQDN:5000"
else
    warn "systemd is not running: docker-registry not (re)started"
fi
