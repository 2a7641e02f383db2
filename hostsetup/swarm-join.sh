#!/usr/bin/env bash
# swarm-join.sh — on every hive: join the swarm as a manager when this hive is not in it yet (a hive of a new
# site, a replaced machine — the first hive too, when its peers still run the swarm), with docker_gwbridge on
# internal_cidr's subnet; then (every run) remove this host's stale node entries: nodes with this host's name
# and another node ID that are down (left behind by a replaced machine).
# The manager join token comes on stdin: the program reads it with its own client certificate (a host's
# certificate is no docker client, components/pki.py) and keeps it a Pulumi secret. It never appears in a
# command line or any output of this script, on success or failure.
#
# Usage:  sudo env HIVE_ADVERTISE_ADDR=10.0.0.6 HIVE_MANAGER_ADDRS="10.0.0.5:2377 10.0.0.7:2377" \
#             HIVE_GWBRIDGE_SUBNET=172.31.250.0/23 bash swarm-join.sh < token
# Env:    HIVE_ADVERTISE_ADDR   this host's private IPv4 address (swarm listens on it, port 2377)
#         HIVE_MANAGER_ADDRS    the other hives' `ip:2377` (`:2377` is added when missing), tried in order
#         HIVE_GWBRIDGE_SUBNET  subnet of docker_gwbridge; empty: docker's default
# Stdin:  the swarm's manager join token
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_ADVERTISE_ADDR HIVE_MANAGER_ADDRS
ip_re='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
[[ $HIVE_ADVERTISE_ADDR =~ $ip_re ]] || die "HIVE_ADVERTISE_ADDR '$HIVE_ADVERTISE_ADDR' is not an IPv4 address"
managers=()
for manager in $HIVE_MANAGER_ADDRS; do
    [[ $manager == *:* ]] || manager+=:2377
    [[ ${manager%:*} =~ $ip_re && ${manager##*:} =~ ^[0-9]+$ ]] ||
        die "HIVE_MANAGER_ADDRS: '$manager' is not ip:port"
    managers+=("$manager")
done
((${#managers[@]})) || die "HIVE_MANAGER_ADDRS names no manager"
token=''
read_secret token
[[ $token =~ ^SWMTKN-[0-9A-Za-z-]+$ ]] || die "stdin holds no swarm join token"

apt_install jq curl # the packages step installed them
state=$(swarm_state)
case $state in
active) log "already a swarm member" ;;
inactive)
    # the first manager that answers on the swarm port takes the join
    for manager in "${managers[@]}"; do
        timeout 3 bash -c "</dev/tcp/${manager%:*}/${manager##*:}" 2>/dev/null && break
    done
    swarm_join_api "$manager" "$token"
    ;;
*) die "swarm state is '$state' (expected inactive or active): repair by hand" ;;
esac
unset token

[[ $(docker info -f '{{.Swarm.ControlAvailable}}') == true ]] || die "this node is in the swarm but not a manager"

# A replaced machine keeps its name and gets a new node ID: drop the entry it left behind.
remove_stale_nodes
