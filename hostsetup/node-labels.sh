#!/usr/bin/env bash
# node-labels.sh — set swarm node labels on this (manager) node: adds missing labels and corrects differing
# values; labels not listed are left alone.
#
# Usage:  sudo env HIVE_NODE_LABELS='hives=true az=ap-northeast-1a' bash node-labels.sh
# Env:    HIVE_NODE_LABELS  `key=value` pairs separated by spaces (may be empty: nothing to do)
# Stdin:  —
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
read -r -a wanted <<<"${HIVE_NODE_LABELS-}"

[[ $(swarm_state) == active ]] || die "this node is not in a swarm"
node_id=$(docker info -f '{{.Swarm.NodeID}}')
current=$(docker node inspect -f '{{range $k, $v := .Spec.Labels}}{{$k}}={{$v}}{{"\n"}}{{end}}' "$node_id")
declare -A have=()
while IFS= read -r kv; do
    [[ -z $kv ]] || have[${kv%%=*}]=${kv#*=}
done <<<"$current"

args=()
for kv in "${wanted[@]}"; do
    [[ $kv =~ ^[A-Za-z0-9][A-Za-z0-9._-]*=[^[:space:]]*$ ]] || die "HIVE_NODE_LABELS entry '$kv' is not key=value"
    key=${kv%%=*}
    if [[ -z ${have[$key]+set} || ${have[$key]} != "${kv#*=}" ]]; then
        args+=(--label-add "$kv")
    fi
done
if ((${#args[@]})); then
    docker node update "${args[@]}" "$node_id" >/dev/null
    for ((i = 1; i < ${#args[@]}; i += 2)); do changed "node label ${args[i]}"; done
fi
