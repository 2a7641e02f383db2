#!/usr/bin/env bash
# service-converge.sh — check that swarm services run the specs the program gave them, and wait until every
# task of them runs its spec.
#
# The convergence proof of EVERY service (the docker provider's own wait, converge_config, is not used: when it
# fails the bridge records the new spec anyway and the next `up` passes — docs/provider-notes.md "Update
# policy"). The program runs this once on the first hive after every service (`converge-services`), whenever a
# service's spec changed, and `pulumi up` fails when it fails; because a failed step is not recorded, the next
# `up` runs it again. Each service comes with a key (the program's hash of the service's id and spec); a service
# whose key is the one recorded when it last converged is not checked again. So a service is checked after
# each change of its spec and at every `up` until it converges (the operator's fix); a service whose spec did
# not change is not waited for — as if each service had its own step.
#
# usage: printf '%s %s %s\n' <service> <image|-> [<key>] … | sudo [env HIVE_TIMEOUT=180 HIVE_DELAY=7] \
#            bash service-converge.sh
#        (the program: `sudo env HIVE_DELAY=… HIVE_TIMEOUT=… bash -s`, stdin this file and then the services:
#        bash reads the file up to its last line, `main` reads the rest)
# env:   HIVE_TIMEOUT  seconds to wait in all (opt, default 180); the script always ends by then
#        HIVE_DELAY    seconds the tasks must keep running once all run the current spec (opt, default 7)
#        HIVE_STATE    the record (opt, default /var/lib/hive/converged-services)
# stdin: one service per line: its name, the image its spec must name exactly (`-`: any; after a rollback
#        the spec names the previous one) and its key; a line without a key is always checked, never recorded
# files: HIVE_STATE: `<service> <key>` for each service that converged with that key (rewritten when a
#        checked service converged; other lines kept)
# out:   progress on stderr, prefixed [service-converge], then `changed: <record> (<n> converged)` or
#        `unchanged: service-converge`; exit 0 every checked service converged, 1 one did not — its update
#        was rolled back or paused, its spec is not the desired one, or its tasks did not all run the spec in
#        time (each named with the reason, and its tasks' errors, on stderr) —, 2 bad input.
set -Eeuo pipefail

step='service-converge'
log() { printf '[%s] %s\n' "$step" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }

timeout=${HIVE_TIMEOUT:-180}
delay=${HIVE_DELAY:-7}
record=${HIVE_STATE:-/var/lib/hive/converged-services}
us=$'\x1f'
declare -A image_of=() key_of=() recorded=() verdict=() counts=() reason=()

# One poll of the services "$@": verdict[name] ok|wait|fail, counts[name] "<running>/<tasks>", reason[name]
# (ok: the ids of its tasks, to see them stay the same). Four docker calls, however many services.
# "Current spec": the daemon's task filter _up-to-date=true (moby daemon/cluster/filters.go: "for internal use
# in checking create/update progress", swarmkit's ListTasks UpToDate: tasks whose spec is the service's), the
# same test the docker CLI's own convergence wait makes.
poll() {
    local -A name_of=() update=() message=() spec=() total=() fresh_n=() running=() detail=() tasks=() is_fresh=()
    local id name state msg img tid err inspect_error=''
    local -a present=() ids=() fresh=()
    while IFS=$us read -r id name state msg img; do
        if [[ -z $name ]]; then  # a line of docker's stderr: a service it did not find, or no daemon
            [[ -z $id ]] || inspect_error+="${inspect_error:+; }$id"
            continue
        fi
        name_of[$id]=$name update[$name]=$state message[$name]=$msg spec[$name]=$img
        present+=("$name")
    done < <(docker service inspect --format \
        "{{.ID}}$us{{.Spec.Name}}$us{{if .UpdateStatus}}{{.UpdateStatus.State}}$us{{.UpdateStatus.Message}}{{else}}$us{{end}}$us{{.Spec.TaskTemplate.ContainerSpec.Image}}" \
        "$@" 2>&1)
    if [[ ${#present[@]} -gt 0 ]]; then
        mapfile -t ids < <(docker service ps --no-trunc --quiet --filter desired-state=running "${present[@]}" | sort -u)
        mapfile -t fresh < <(docker service ps --no-trunc --quiet --filter desired-state=running \
            --filter _up-to-date=true "${present[@]}" | sort -u)
    fi
    for tid in "${fresh[@]}"; do is_fresh[$tid]=1; done
    if [[ ${#ids[@]} -gt 0 ]]; then
        while IFS=$us read -r tid id state err; do
            name=${name_of[$id]:-}
            [[ -n $name ]] || continue
            total[$name]=$((${total[$name]:-0} + 1))
            tasks[$name]+="$tid "
            [[ -n ${is_fresh[$tid]:-} ]] || continue
            fresh_n[$name]=$((${fresh_n[$name]:-0} + 1))
            if [[ $state == running ]]; then
                running[$name]=$((${running[$name]:-0} + 1))
            elif [[ -n $err ]]; then
                detail[$name]="$state: $err"
            fi
        done < <(docker inspect --format "{{.ID}}$us{{.ServiceID}}$us{{.Status.State}}$us{{.Status.Err}}" "${ids[@]}")
    fi
    for name in "$@"; do
        local n=${total[$name]:-0} f=${fresh_n[$name]:-0} r=${running[$name]:-0} u=${update[$name]-missing}
        counts[$name]="$r/$n"
        verdict[$name]=fail
        case $u in
            missing) reason[$name]="no such service (docker service inspect: ${inspect_error:-no output})" ;;
            rollback_started | rollback_paused | rollback_completed)
                reason[$name]="update rolled back ($u: ${message[$name]}): swarm runs the previous spec (${spec[$name]}), not this up's; fix the service (its image) and run up again"
                ;;
            paused) reason[$name]="update paused (${message[$name]}): fix the service (its image) and run up again" ;;
            *)
                if [[ ${image_of[$name]} != - && ${spec[$name]} != "${image_of[$name]}" ]]; then
                    reason[$name]="runs ${spec[$name]}, not the desired ${image_of[$name]} (update ${u:-none}): rolled back or changed outside of up; fix the service and run up again"
                elif [[ $n -eq 0 ]]; then
                    verdict[$name]='wait' reason[$name]="no task yet"
                elif [[ $f -eq $n && $r -eq $n && $u != updating ]]; then
                    verdict[$name]=ok reason[$name]=${tasks[$name]}
                else
                    verdict[$name]='wait'
                    reason[$name]="$((n - f)) task(s) of an older spec; update ${u:-none}; ${detail[$name]:-no task error}"
                fi
                ;;
        esac
    done
}

main() {
    [[ $timeout =~ ^[0-9]+$ && $delay =~ ^[0-9]+$ ]] || die "HIVE_TIMEOUT and HIVE_DELAY are whole seconds" 2
    local name image key extra listed=0
    local -a pending=() failed=() converged=()
    while read -r name image key extra; do
        [[ -n $name ]] || continue
        [[ -n $image && -z $extra ]] || die "line '$name $image $key $extra': not '<service> <image|-> [<key>]'" 2
        [[ -z ${image_of[$name]:-} ]] || die "service $name is listed twice" 2
        image_of[$name]=$image key_of[$name]=$key
        listed=$((listed + 1))
    done
    if [[ -r $record ]]; then
        while read -r name key; do [[ -n $name ]] && recorded[$name]=$key; done <"$record"
    fi
    for name in "${!image_of[@]}"; do
        [[ -n ${key_of[$name]} && ${recorded[$name]:-} == "${key_of[$name]}" ]] || pending+=("$name")
    done
    log "$listed service(s) listed, ${#pending[@]} to check (the others converged with this spec before)"
    local -A since=() seen=()
    local started=$SECONDS deadline=$((SECONDS + timeout))
    while [[ ${#pending[@]} -gt 0 ]]; do
        poll "${pending[@]}"
        local -a still=()
        for name in "${pending[@]}"; do
            case ${verdict[$name]} in
                fail)
                    log "ERROR: $name: ${reason[$name]}"
                    failed+=("$name")
                    ;;
                ok)
                    if [[ -z ${since[$name]:-} || ${reason[$name]} != "${seen[$name]}" ]]; then
                        since[$name]=$SECONDS seen[$name]=${reason[$name]}
                        still+=("$name")
                    elif [[ $((SECONDS - since[$name])) -ge $delay ]]; then
                        log "$name: ${counts[$name]} task(s) run the current spec (after $((SECONDS - started))s)"
                        converged+=("$name")
                    else
                        still+=("$name")
                    fi
                    ;;
                *)
                    unset 'since[$name]'
                    still+=("$name")
                    ;;
            esac
        done
        pending=("${still[@]}")
        [[ ${#pending[@]} -gt 0 ]] || break
        if [[ $SECONDS -ge $deadline ]]; then
            for name in "${pending[@]}"; do
                docker service ps --no-trunc --format '{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}' \
                    "$name" 2>&1 | head -n 20 >&2 || true
                log "ERROR: $name: not converged after ${timeout}s: ${counts[$name]} running; ${reason[$name]}"
                failed+=("$name")
            done
            break
        fi
        sleep 1
    done
    local changed=0
    for name in "${converged[@]}"; do
        if [[ -n ${key_of[$name]} ]]; then
            recorded[$name]=${key_of[$name]}
            changed=$((changed + 1))
        fi
    done
    if [[ $changed -gt 0 ]]; then
        mkdir -p "$(dirname "$record")"
        for name in "${!recorded[@]}"; do printf '%s %s\n' "$name" "${recorded[$name]}"; done | sort >"$record.new"
        mv -f "$record.new" "$record"
        log "changed: $record ($changed converged)"
    else
        log "unchanged: $step"
    fi
    [[ ${#failed[@]} -eq 0 ]] || die "${#failed[@]} of ${#image_of[@]} service(s) not converged: ${failed[*]}"
}

main "$@"; exit $?
