#!/usr/bin/env bash
# swarm-init.sh — on the first hive: create the swarm (once), with docker_gwbridge and the ingress network on
# internal_cidr's subnets. It prints no join token: the program reads it with its own client certificate and
# gives it to swarm-join on stdin (a host's certificate is no docker client, components/pki.py).
#
# Usage:  sudo env HIVE_ADVERTISE_ADDR=10.0.0.5 HIVE_INGRESS_SUBNET=172.31.248.0/22 \
#             HIVE_GWBRIDGE_SUBNET=172.31.250.0/23 HIVE_OVERLAY_MTU=1450 bash swarm-init.sh
# Env:    HIVE_ADVERTISE_ADDR   this host's private IPv4 address (swarm listens on it, port 2377)
#         HIVE_INGRESS_SUBNET   subnet of the ingress network `apiarist-ingress` (replaces docker's `ingress`);
#                               empty: keep docker's default ingress
#         HIVE_GWBRIDGE_SUBNET  subnet of docker_gwbridge; empty: docker's default
#         HIVE_OVERLAY_MTU      MTU of the ingress overlay; empty: docker's default
#         HIVE_PEER_MANAGERS    the other hives' addresses (space separated). A replaced first hive that finds
#                               a peer listening on the swarm port (2377) founds no second swarm: it leaves
#                               the join to its swarm-join step (the token comes on that step's stdin).
# Stdin:  —
# Stdout: —
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_ADVERTISE_ADDR
ingress_subnet=${HIVE_INGRESS_SUBNET-}
mtu=${HIVE_OVERLAY_MTU-}
[[ $HIVE_ADVERTISE_ADDR =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] ||
    die "HIVE_ADVERTISE_ADDR '$HIVE_ADVERTISE_ADDR' is not an IPv4 address"
[[ -z $mtu || $mtu =~ ^[1-9][0-9]{2,4}$ ]] || die "HIVE_OVERLAY_MTU '$mtu' is not an MTU"

# existing_swarm — the first peer that listens on the swarm port (a manager of a running swarm: this host is a
# replaced first hive) into PEER, or fail when none does (a new site).
existing_swarm() {
    local p
    for p in ${HIVE_PEER_MANAGERS-}; do
        if timeout 3 bash -c "</dev/tcp/$p/2377" 2>/dev/null; then
            peer=$p
            return 0
        fi
    done
    return 1
}

apt_install jq curl # the packages step installed them
state=$(swarm_state)
case $state in
active) log "swarm already active" ;;
inactive)
    peer=''
    if existing_swarm; then
        log "peer $peer runs the swarm: swarm-join joins this hive to it (no second swarm)"
        exit 0
    else
        ensure_gwbridge
        log "initialising the swarm on $HIVE_ADVERTISE_ADDR"
        docker swarm init --advertise-addr "$HIVE_ADVERTISE_ADDR" --listen-addr "$HIVE_ADVERTISE_ADDR:2377" >/dev/null
        changed "swarm initialised"
    fi
    ;;
*) die "swarm state is '$state' (expected inactive or active): repair by hand" ;;
esac

# --- ingress network: apiarist-ingress on HIVE_INGRESS_SUBNET
if [[ -n $ingress_subnet ]]; then
    current='' current_id=''
    for id in $(docker network ls -q --filter driver=overlay); do
        read -r is_ingress net_id net_name net_subnet net_mtu < <(docker network inspect -f \
            '{{.Ingress}} {{.ID}} {{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{index .Options "com.docker.network.driver.mtu"}}' "$id")
        if [[ $is_ingress == true ]]; then
            current_id=$net_id
            current="$net_name $net_subnet${net_mtu:+ mtu $net_mtu}"
            [[ $net_name == apiarist-ingress && $net_subnet == "$ingress_subnet" && ${mtu:-$net_mtu} == "$net_mtu" ]] &&
                current=ok
        fi
    done
    if [[ $current != ok ]]; then
        want="apiarist-ingress $ingress_subnet${mtu:+ mtu $mtu}"
        if [[ -n $current_id ]]; then
            for svc in $(docker service ls -q); do
                if docker service inspect -f '{{range .Endpoint.VirtualIPs}}{{.NetworkID}} {{end}}' "$svc" |
                    grep -qw -- "$current_id"; then
                    die "the ingress network is '$current', want '$want', but service $svc uses it:" \
                        "remove the services that publish ports in ingress mode first"
                fi
            done
            log "replacing ingress network '$current' with '$want'"
            printf 'y\n' | docker network rm "$current_id" >/dev/null
            for ((i = 0; i < 150; i++)); do # at most 30 s
                docker network inspect "$current_id" >/dev/null 2>&1 || break
                sleep 0.2
            done
        fi
        opts=(--driver overlay --ingress --subnet "$ingress_subnet")
        [[ -z $mtu ]] || opts+=(--opt "com.docker.network.driver.mtu=$mtu")
        start=$SECONDS
        until docker network create "${opts[@]}" apiarist-ingress >/dev/null; do
            ((SECONDS - start < 30)) || die "cannot create the ingress network apiarist-ingress"
            sleep 0.5 # the old ingress network may still be going away
        done
        changed "ingress network $want"
    fi
fi

# the other hives read the join token from this host's docker API: it must answer for them
[[ $(docker info -f '{{.Swarm.ControlAvailable}}') == true ]] || die "this node is in the swarm but not a manager"
