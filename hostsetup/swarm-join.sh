#!/usr/bin/env bash
# swarm-join.sh — on every hive but the first: join the swarm as a manager (once), with docker_gwbridge on
# internal_cidr's subnet; then (every run) remove this host's stale node entries: nodes with this host's name
# and another node ID that are down (left behind by a replaced machine).
#
# Usage:  printf '%s' "$TOKEN" | sudo env HIVE_ADVERTISE_ADDR=10.0.0.6 HIVE_MANAGER_ADDR=10.0.0.5:2377 \
#             HIVE_GWBRIDGE_SUBNET=172.31.250.0/23 bash swarm-join.sh
# Env:    HIVE_ADVERTISE_ADDR   this host's private IPv4 address (swarm listens on it, port 2377)
#         HIVE_MANAGER_ADDR     a manager's `ip:2377` (`:2377` is added when missing)
#         HIVE_GWBRIDGE_SUBNET  subnet of docker_gwbridge; empty: docker's default
# Stdin:  the swarm's manager join token (read even when already joined)
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
token=
read_secret token
[[ $token =~ ^SWMTKN-[0-9A-Za-z-]+$ ]] || die "stdin does not hold a swarm join token"

state=$(swarm_state)
case $state in
active) log "already a swarm member" ;;
inactive)
    ensure_gwbridge
    log "joining the swarm through $manager"
    # Through the Engine API, not `docker swarm join --token …`: the token goes to the daemon on a pipe and
    # never appears in a command line (the docker CLI only takes it as an argument).
    response=$(printf '{"ListenAddr":"%s:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s"],"JoinToken":"%s"}' \
        "$HIVE_ADVERTISE_ADDR" "$HIVE_ADVERTISE_ADDR" "$manager" "$token" |
        curl -sS --max-time 120 --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' \
            --data-binary @- -w '\n%{http_code}' http://localhost/swarm/join) ||
        die "cannot reach the docker daemon to join the swarm"
    code=${response##*$'\n'}
    [[ $code == 200 ]] || die "swarm join through $manager failed (HTTP $code): ${response%$'\n'*}"
    for ((i = 0; ; i++)); do
        [[ $(swarm_state) == active ]] && break
        ((i < 60)) || die "swarm state is '$(swarm_state)' 120s after joining"
        sleep 2
    done
    changed "joined the swarm through $manager"
    ;;
*) die "swarm state is '$state' (expected inactive or active): repair by hand" ;;
esac
unset token

[[ $(docker info -f '{{.Swarm.ControlAvailable}}') == true ]] || die "this node is in the swarm but not a manager"

# --- stale entries of this host (a replaced machine keeps its name, gets a new node ID)
self_id=$(docker info -f '{{.Swarm.NodeID}}')
self_host=$(docker node inspect -f '{{.Description.Hostname}}' self)
nodes=$(docker node ls --format '{{.ID}}|{{.Hostname}}|{{.Status}}|{{.ManagerStatus}}')
while IFS='|' read -r id host status manager_status; do
    [[ -n $id && $id != "$self_id" && $host == "$self_host" && $status == Down ]] || continue
    if [[ -n $manager_status ]]; then
        docker node demote "$id" >/dev/null
    fi
    docker node rm --force "$id" >/dev/null
    changed "removed stale swarm node $id ($host, down)"
done <<<"$nodes"
