#!/usr/bin/env bash
# images.sh — keep on this hive the images its services may run, so a task rescheduled here (a hive down, a
# drain, an update) starts without the repository server (issue 16). The program runs it twice per `up`
# whose image set changed: `pull` before the services are created or updated, `prune` after all of them.
#
# Usage:  sudo env HIVE_IMAGES_MODE=pull HIVE_IMAGES='<ref> <ref>…' bash images.sh
#         sudo env HIVE_IMAGES_MODE=prune HIVE_IMAGES='<ref> <ref>…' bash images.sh
# Env:    HIVE_IMAGES_MODE  pull: every reference in HIVE_IMAGES is present afterwards (pulled when missing,
#                           over root's registry login — registry-login.sh);
#                           prune: removes the images this script pulled that are neither in HIVE_IMAGES nor in
#                           the set before it (kept for a rollback), unless a container still uses one
#         HIVE_IMAGES       the references (repo@sha256:… or repo:tag), separated by spaces; may be empty
# Stdin:  —
# Files:  /var/lib/hive/images/{wanted,kept,pulled} — the current set, the set before it, what this script
#         pulled and has not removed (one reference a line)
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_IMAGES_MODE
mode=$HIVE_IMAGES_MODE
[[ $mode == pull || $mode == prune ]] || die "HIVE_IMAGES_MODE '$mode' is not pull or prune"
command -v docker >/dev/null || die "docker is not installed: run docker.sh first"

STATE=/var/lib/hive/images
REF='^[a-z0-9][A-Za-z0-9._/:-]*(@sha256:[0-9a-f]{64})?$'
read -r -a refs <<<"${HIVE_IMAGES:-}"
for ref in "${refs[@]}"; do
    [[ $ref =~ $REF ]] || die "HIVE_IMAGES: '$ref' is not an image reference"
done
want=$(printf '%s\n' "${refs[@]}" | sed '/^$/d' | sort -u)
install -d -m 0755 "$STATE"

# lines FILE — its lines (none when it does not exist)
lines() {
    if [[ -e $1 ]]; then
        sed '/^$/d' -- "$1"
    fi
}
present() { docker image inspect --format '{{.Id}}' "$1" >/dev/null 2>&1; }

if [[ $mode == pull ]]; then
    for ref in "${refs[@]}"; do
        if present "$ref"; then
            continue
        fi
        log "pulling $ref"
        docker pull --quiet "$ref" >/dev/null || die "docker pull $ref failed (is the registry reachable?)"
        printf '%s\n' "$(lines "$STATE/pulled")" "$ref" | sed '/^$/d' | sort -u >"$STATE/pulled.new"
        mv -f "$STATE/pulled.new" "$STATE/pulled"
        changed "pulled $ref"
    done
    current=$(lines "$STATE/wanted")
    if [[ $current != "$want" ]]; then
        # the set before this one stays (a rollback or a task still on it needs its images)
        install_file_if_changed "$current" "$STATE/kept" 0644 || true
        install_file_if_changed "$want" "$STATE/wanted" 0644 || true
    fi
    exit 0
fi

# prune: what this script pulled, minus the current set and the one before it
keep=$(printf '%s\n%s\n%s\n' "$want" "$(lines "$STATE/wanted")" "$(lines "$STATE/kept")" | sed '/^$/d' | sort -u)
remaining=()
while IFS= read -r ref; do
    [[ -n $ref ]] || continue
    if grep -qxF -- "$ref" <<<"$keep"; then
        remaining+=("$ref")
        continue
    fi
    if ! present "$ref"; then
        continue
    fi
    # without --force: an image a container (running or stopped) still uses is refused and kept for later
    if out=$(docker image rm -- "$ref" 2>&1); then
        changed "removed $ref"
    else
        log "kept $ref: ${out##*: }"
        remaining+=("$ref")
    fi
done < <(lines "$STATE/pulled")
install_file_if_changed "$(printf '%s\n' "${remaining[@]}" | sed '/^$/d')" "$STATE/pulled" 0644 || true
