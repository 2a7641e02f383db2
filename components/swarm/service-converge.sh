#!/usr/bin/env bash
# service-converge.sh — check that a swarm service runs the spec the program gave it, and wait until every
# task of it runs that spec.
#
# The convergence proof of EVERY service (the docker provider's own wait, converge_config, is not used: when it
# fails the bridge records the new spec anyway and the next `up` passes — docs/provider-notes.md "Update
# policy"). The program runs this on the first hive after every change of a service's spec, and `pulumi up`
# fails when it fails; because a failed step is not recorded, the next `up` runs it again and fails again
# until the spec changes (the operator's fix).
#
# usage: sudo env HIVE_SERVICE=<name> [HIVE_IMAGE=<ref>] [HIVE_TIMEOUT=180] [HIVE_DELAY=7] bash service-converge.sh
#        (the program feeds this file on stdin: `sudo env HIVE_SERVICE=… bash -s`)
# env:   HIVE_SERVICE  the swarm service (required)
#        HIVE_IMAGE    the image the program's spec runs (opt): the service's spec must name exactly this one
#                      (after a rollback it names the previous one)
#        HIVE_TIMEOUT  seconds to wait in all (opt, default 180); the script always ends by then
#        HIVE_DELAY    seconds the tasks must keep running once all run the current spec (opt, default 7)
# stdin: – (when run by hand); files: none — it only reads (docker service inspect / service ps / inspect)
# out:   progress on stderr, prefixed [service-converge]; last line `unchanged: service-converge` (it never
#        changes anything); exit 0 converged, 1 not converged in time, the update paused or rolled back, or
#        the spec is not the desired one (the reason and the tasks' errors on stderr), 2 missing env.
set -Eeuo pipefail

step='service-converge'
log() { printf '[%s] %s\n' "$step" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }

service=${HIVE_SERVICE:-}
[ -n "$service" ] || die "HIVE_SERVICE is not set" 2
image=${HIVE_IMAGE:-}
timeout=${HIVE_TIMEOUT:-180}
delay=${HIVE_DELAY:-7}
case $timeout$delay in *[!0-9]*) die "HIVE_TIMEOUT and HIVE_DELAY are whole seconds" 2 ;; esac

started=$SECONDS
deadline=$((SECONDS + timeout))
stable_since=-1
stable_tasks=
us=$'\x1f'

# One poll: prints "<ok|wait|fail> <running>/<tasks> <detail>" for the service's current state.
# "Current spec": the daemon's task filter _up-to-date=true (moby daemon/cluster/filters.go: "for internal use
# in checking create/update progress", swarmkit's ListTasks UpToDate: tasks whose spec is the service's), the
# same test the docker CLI's own convergence wait makes.
poll() {
  local inspected update message spec ids fresh state err total running=0 detail=
  if ! inspected=$(docker service inspect --format \
    "{{if .UpdateStatus}}{{.UpdateStatus.State}}$us{{.UpdateStatus.Message}}{{else}}$us{{end}}$us{{.Spec.TaskTemplate.ContainerSpec.Image}}" \
    "$service" 2>&1); then
    printf 'fail 0/0 %s\n' "$inspected"
    return
  fi
  IFS=$us read -r update message spec <<<"$inspected"
  case $update in
    rollback_started | rollback_paused | rollback_completed)
      printf 'fail 0/0 update rolled back (%s: %s): swarm runs the previous spec (%s), not this up'"'"'s; fix the service (its image) and run up again\n' \
        "$update" "$message" "$spec"
      return
      ;;
    paused)
      printf 'fail 0/0 update paused (%s): fix the service (its image) and run up again\n' "$message"
      return
      ;;
  esac
  if [ -n "$image" ] && [ "$spec" != "$image" ]; then
    printf 'fail 0/0 runs %s, not the desired %s (update %s): rolled back or changed outside of up; fix the service and run up again\n' \
      "$spec" "$image" "${update:-none}"
    return
  fi
  mapfile -t ids < <(docker service ps --no-trunc --quiet --filter desired-state=running "$service" | sort)
  total=${#ids[@]}
  if [ "$total" -eq 0 ]; then
    printf 'wait 0/0 no task yet\n'
    return
  fi
  mapfile -t fresh < <(docker service ps --no-trunc --quiet --filter desired-state=running \
    --filter _up-to-date=true "$service" | sort)
  if [ "${#fresh[@]}" -gt 0 ]; then
    while IFS=$us read -r state err; do
      if [ "$state" = running ]; then
        running=$((running + 1))
      elif [ -n "$err" ]; then
        detail="$state: $err"
      fi
    done < <(docker inspect --format "{{.Status.State}}$us{{.Status.Err}}" "${fresh[@]}")
  fi
  if [ "${ids[*]}" = "${fresh[*]}" ] && [ "$running" -eq "$total" ] && [ "$update" != updating ]; then
    printf 'ok %s/%s %s\n' "$running" "$total" "${ids[*]}"
  else
    printf 'wait %s/%s %s task(s) of an older spec; update %s; %s\n' \
      "$running" "$total" "$((total - ${#fresh[@]}))" "${update:-none}" "${detail:-no task error}"
  fi
}

while :; do
  read -r verdict counts rest < <(poll)
  case $verdict in
    fail) die "$service: $rest" ;;
    ok)
      if [ "$stable_since" -lt 0 ] || [ "$rest" != "$stable_tasks" ]; then
        stable_since=$SECONDS
        stable_tasks=$rest
      elif [ $((SECONDS - stable_since)) -ge "$delay" ]; then
        log "$service: $counts task(s) run the current spec (after $((SECONDS - started))s)"
        printf 'unchanged: %s\n' "$step" >&2
        exit 0
      fi
      ;;
    *)
      stable_since=-1
      ;;
  esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    docker service ps --no-trunc --format '{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}' \
      "$service" 2>&1 | head -n 20 >&2 || true
    die "$service: not converged after ${timeout}s: $counts running; $rest"
  fi
  sleep 1
done
