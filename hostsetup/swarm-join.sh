#!/usr/bin/env bash
# swarm-join.sh — on every hive but the first: join the swarm as a manager (once), with docker_gwbridge on
# internal_cidr's subnet; then (every run) remove this host's stale node entries: nodes with this host's name
# and another node ID that are down (left behind by a replaced machine).
# The manager join token is read from the manager's docker API (https://<manager ip>:2376/swarm, mutual TLS
# with this host's certificate from docker.sh): it is a secret that never passes through Pulumi, a command
# line or any output of this script, on success or failure.
#
# Usage:  sudo env HIVE_ADVERTISE_ADDR=10.0.0.6 HIVE_MANAGER_ADDR=10.0.0.5:2377 \
#             HIVE_GWBRIDGE_SUBNET=172.31.250.0/23 bash swarm-join.sh
# Env:    HIVE_ADVERTISE_ADDR   this host's private IPv4 address (swarm listens on it, port 2377)
#         HIVE_MANAGER_ADDR     a manager's `ip:2377` (`:2377` is added when missing); its docker API (2376)
#                               gives the join token
#         HIVE_GWBRIDGE_SUBNET  subnet of docker_gwbridge; empty: docker's default
# Stdin:  —
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_ADVERTISE_ADDR HIVE_MANAGER_ADDR
ip_re='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
[[ $HIVE_ADVERTISE_ADDR =~ $ip_re ]] || die "HIVE_ADVERTISE_ADDR '$HIVE_ADVERTISE_ADDR' is not an IPv4 address"
manager=$HIVE_MANAGER_ADDR
[[ $manager == *:* ]] || manager+=:2377
[[ ${manager%:*} =~ $ip_re && ${manager##*:} =~ ^[0-9]+$ ]] || die "HIVE_MANAGER_ADDR '$HIVE_MANAGER_ADDR' is not ip:port"

apt_install jq curl # the packages step installed them
state=$(swarm_state)
case $state in
active) log "already a swarm member" ;;
inactive)
    token=''
    manager_join_token "${manager%:*}" token ||
        die "cannot read the join token from ${manager%:*}:2376 (is swarm-init done there and 2376 open?)"
    swarm_join_api "$manager" "$token"
    unset token
    ;;
*) die "swarm state is '$state' (expected inactive or active): repair by hand" ;;
esac

[[ $(docker info -f '{{.Swarm.ControlAvailable}}') == true ]] || die "this node is in the swarm but not a manager"

# A replaced machine keeps its name and gets a new node ID: drop the entry it left behind.
remove_stale_nodes
