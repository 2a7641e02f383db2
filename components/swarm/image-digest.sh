#!/usr/bin/env bash
# image-digest.sh — the digest each tag points to now: pull the tags on this host (the first hive) and print,
# per tag, the digest the registry answered.
#
# Run by `pulumi up` for the services whose image is a tag (not a build, not pinned by @sha256:): the program
# feeds this file and then the tags on stdin and runs each service with `<tag>@<printed digest>`, so a tag that
# moved rolls its services on the next up (hive-builder's deploy-services re-pulled and updated in the same
# way). The daemon pulls with root's registry login (registry-login.sh) and the site CA, as swarm's own pull
# does; `docker pull` prints `Digest: sha256:…` for the manifest the tag resolved to (also when the image was
# up to date). Up to HIVE_PARALLEL pulls run at once.
#
# usage: printf '%s\n' <name:tag>… | sudo [env HIVE_PARALLEL=4] bash image-digest.sh
#        (the program: `sudo env HIVE_RUN=<time of the up> bash -s`, stdin this file and then the tags: bash
#        reads the file up to its last line, `main` reads the rest)
# env:   HIVE_RUN       ignored; the program changes it on every up so that the pulls run again
#        HIVE_PARALLEL  pulls at once (opt, default 4)
# stdin: the image references with their tags, one per line (blank lines ignored)
# files: a temporary directory (removed); the images stay in the daemon's store, as a swarm task's pull would
#        leave them
# out:   stdout: one line `<tag> sha256:<64 hex>` per tag, in the order given; progress on stderr, prefixed
#        [image-digest]; exit 0, 1 a pull failed or printed no digest (each named on stderr), 2 bad input.
set -Eeuo pipefail

step='image-digest'
work=''
trap '[[ -z $work ]] || rm -rf "$work"' EXIT
log() { printf '[%s] %s\n' "$step" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }

# The digest of one tag into "$2": the line `<tag> sha256:…`, or `! <error>`.
resolve() {
    local image=$1 out=$2 output digest='' line
    if ! output=$(docker pull "$image" 2>&1); then
        printf '! docker pull %s failed: %s\n' "$image" "${output//$'\n'/ }" >"$out"
        return
    fi
    while IFS= read -r line; do
        case $line in Digest:\ sha256:*) digest=${line#Digest: } ;; esac
    done <<<"$output"
    if [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]]; then
        printf '%s %s\n' "$image" "$digest" >"$out"
    else
        printf '! docker pull %s printed no digest: %s\n' "$image" "${output//$'\n'/ }" >"$out"
    fi
}

main() {
    local parallel=${HIVE_PARALLEL:-4} image i=0 failed=0 line
    [[ $parallel =~ ^[1-9][0-9]*$ ]] || die "HIVE_PARALLEL must be a positive whole number, not '$parallel'" 2
    local -a images=()
    while IFS= read -r image; do
        image=${image//[[:space:]]/}
        [[ -n $image ]] && images+=("$image")
    done
    [[ ${#images[@]} -gt 0 ]] || die "no image on stdin" 2
    work=$(mktemp -d)  # global: the EXIT trap runs after main has returned
    for image in "${images[@]}"; do
        while [[ $(jobs -rp | wc -l) -ge $parallel ]]; do wait -n || true; done
        resolve "$image" "$work/$i" &
        i=$((i + 1))
    done
    wait
    for ((i = 0; i < ${#images[@]}; i++)); do
        line=$(<"$work/$i")
        if [[ $line == '!'* ]]; then
            log "ERROR: ${line#! }"
            failed=$((failed + 1))
        else
            log "unchanged: ${line/ / is }"
            printf '%s\n' "$line"
        fi
    done
    [[ $failed -eq 0 ]] || die "$failed of ${#images[@]} tag(s) not resolved"
}

main "$@"; exit $?
