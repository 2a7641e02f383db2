#!/usr/bin/env bash
# service-converge.sh — wait until every task of a swarm service runs the service's current spec.
#
# The convergence proof for GLOBAL services: the docker provider's own wait (converge_config) is refused on
# them (kreuzwerker resource_docker_service.go: mode.0.global ConflictsWith converge_config), so the program
# runs this on the first hive after every change of the service, and `pulumi up` fails when it fails.
#
# usage: sudo env HIVE_SERVICE=<name> [HIVE_TIMEOUT=180] [HIVE_DELAY=7] bash service-converge.sh
#        (the program feeds this file on stdin: `sudo env HIVE_SERVICE=… bash -s`)
# env:   HIVE_SERVICE  the swarm service (required)
#        HIVE_TIMEOUT  seconds to wait in all (opt, default 180); the script always ends by then
#        HIVE_DELAY    seconds the tasks must keep running once all run the current spec (opt, default 7)
# stdin: – (when run by hand); files: none — it only reads (docker service inspect / service ps / inspect)
# out:   progress on stderr, prefixed [service-converge]; last line `unchanged: service-converge` (it never
#        changes anything); exit 0 converged, 1 not converged in time or the update paused/rolled back
#        (the tasks' errors on stderr), 2 missing env.
set -Eeuo pipefail

step='service-converge'
log() { printf '[%s] %s\n' "$step" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }

service=${HIVE_SERVICE:-}
[ -n "$service" ] || die "HIVE_SERVICE is not set" 2
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
  local update ids fresh state err total running=0 detail=
  update=$(docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$service")
  case $update in
    paused | rollback_started | rollback_paused | rollback_completed)
      printf 'fail 0/0 update %s: %s\n' "$update" \
        "$(docker service inspect --format '{{.UpdateStatus.Message}}' "$service")"
      return
      ;;
  esac
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
