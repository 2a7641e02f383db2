#!/usr/bin/env bash
# collect.sh — what `./hive doctor` reads on one host: each check's command and its output, nothing changed.
#
# Usage:  sudo bash -s -- [--hive] [--manager] [--repository] [--registry HOST:PORT] < collect.sh
#         (the doctor sends this file on stdin over ssh; runnable by hand as `sudo bash collect.sh --hive`)
# Env:    —
# Stdin:  — (when run by hand)
# Files:  reads only
# Output: on stdout, for every check, a line `### <check> rc=<exit status>` and then the command's stdout, then
#         its stderr. The doctor (components/doctor/) parses each section; this script judges nothing.
# shellcheck disable=SC2317  # the check functions are called through section()
set -Euo pipefail
export LC_ALL=C
hive=0 manager=0 repository=0 registry=''
while (($#)); do
    case $1 in
        --hive) hive=1 ;;
        --manager) manager=1 ;;
        --repository) repository=1 ;;
        --registry) registry=${2:?--registry needs HOST:PORT}; shift ;;
        *) echo "collect.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

# stdout first, then stderr: merged into one pipe, a tool's unbuffered stderr could land inside a stdout line
section() {
    local name=$1 out err rc
    shift
    out=$("$@" 2>"$errors")
    rc=$?
    err=$(<"$errors")
    printf '### %s rc=%s\n' "$name" "$rc"
    [[ -z $out ]] || printf '%s\n' "$out"
    [[ -z $err ]] || printf '%s\n' "$err"
}

underlay_mtu() {
    local dev
    dev=$(ip -o route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
    [[ -n $dev ]] || { echo "no default route"; return 1; }
    printf '%s %s\n' "$dev" "$(cat "/sys/class/net/$dev/mtu")"
}

overlay_mtus() {
    local ids
    mapfile -t ids < <(docker network ls -q --filter driver=overlay) || return 1
    ((${#ids[@]} == 0)) || docker network inspect --format '{{.Name}} {{index .Options "com.docker.network.driver.mtu"}}' "${ids[@]}"
}

all_tasks() {
    local ids
    mapfile -t ids < <(docker service ls -q) || return 1
    ((${#ids[@]} == 0)) || docker service ps --no-trunc --format '{{json .}}' "${ids[@]}"
}

drbd_resources() {
    compgen -G '/etc/drbd.d/*.res' >/dev/null || { echo "no DRBD resources"; return 0; }
    drbdadm status all
}

section timesync timedatectl show -p NTPSynchronized --value
section df df -P -B1 -T
section failed systemctl list-units --failed --no-legend --no-pager --plain
if ((hive)); then
    section drbd drbd_resources
    section underlay-mtu underlay_mtu
    section overlay-mtu overlay_mtus
    section conntrack-udp conntrack -L -p udp
fi
if ((manager)); then
    section nodes docker node ls --format '{{json .}}'
    section services docker service ls --format '{{json .}}'
    # every task of every service, history included (the runbook's `docker service ps --no-trunc`)
    section tasks all_tasks
fi
if [[ -n $registry ]]; then
    section registry curl -sS -o /dev/null -w '%{http_code}\n' --max-time 5 "https://$registry/v2/"
fi
if ((repository)); then
    section alerts curl -sS --max-time 5 'http://127.0.0.1:9093/api/v2/alerts?active=true&silenced=false&inhibited=false'
fi
exit 0
