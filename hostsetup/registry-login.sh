#!/usr/bin/env bash
# registry-login.sh — log root and the admin user in to the private registry (user `hive`), so that both can
# push and pull (docker keeps the credential in ~/.docker/config.json, mode 0600).
#
# Usage:  printf '%s' "$PASSWORD" | sudo env HIVE_REGISTRY=s-hive3.pdns:5000 HIVE_ADMIN_USER=admin \
#             bash registry-login.sh
# Env:    HIVE_REGISTRY    the registry, `fqdn:5000`
#         HIVE_ADMIN_USER  the ssh user, logged in as well as root
# Stdin:  the registry password of user `hive`
# A user whose config.json already holds this credential for HIVE_REGISTRY is left alone.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_REGISTRY HIVE_ADMIN_USER
[[ $HIVE_REGISTRY =~ ^[A-Za-z0-9.-]+(:[0-9]+)?$ ]] || die "HIVE_REGISTRY '$HIVE_REGISTRY' is not host[:port]"
password=''
read_secret password
command -v docker >/dev/null || die "docker is not installed: run docker.sh first"
apt_install jq
want=$(printf '%s' "hive:$password" | base64 -w0)

users=(root)
[[ $HIVE_ADMIN_USER == root ]] || users+=("$HIVE_ADMIN_USER")
for user in "${users[@]}"; do
    home=$(getent passwd "$user" | cut -d: -f6)
    [[ -n $home && -d $home ]] || die "user $user has no home directory"
    config=$home/.docker/config.json
    have=''
    if [[ -r $config ]]; then
        have=$(jq -r --arg r "$HIVE_REGISTRY" '.auths[$r].auth // empty' "$config" 2>/dev/null || true)
    fi
    [[ $have == "$want" ]] && continue
    # the password goes to docker on a pipe, never on a command line
    printf '%s' "$password" |
        runuser -u "$user" -- env HOME="$home" docker login --username hive --password-stdin "$HIVE_REGISTRY" \
            >/dev/null || die "docker login to $HIVE_REGISTRY as $user failed"
    changed "$user logged in to $HIVE_REGISTRY"
done
unset password want
