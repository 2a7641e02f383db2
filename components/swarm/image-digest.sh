#!/usr/bin/env bash
# image-digest.sh — the digest a tag points to now: pull it on this host (the first hive) and print the digest
# the registry answered for the tag.
#
# Run by `pulumi up` for every service whose image is a tag (not a build, not pinned by @sha256:): the program
# feeds this file on stdin and runs the service with `<image>@<printed digest>`, so a tag that moved rolls the
# service on the next up (hive-builder's deploy-services re-pulled and updated in the same way). The daemon
# pulls with root's registry login (registry-login.sh) and the site CA, as swarm's own pull does; `docker pull`
# prints `Digest: sha256:…` for the manifest the tag resolved to (also when the image was up to date).
#
# usage: sudo env HIVE_IMAGE=<name:tag> bash image-digest.sh
#        (the program: `sudo env HIVE_IMAGE=… HIVE_RUN=<time of the up> bash -s`)
# env:   HIVE_IMAGE  the image reference with its tag (required)
#        HIVE_RUN    ignored; the program changes it on every up so that the pull runs again
# stdin: – ; files: none (the image stays in the daemon's store, as a swarm task's pull would leave it)
# out:   stdout: exactly one line `sha256:<64 hex>`; progress on stderr, prefixed [image-digest];
#        exit 0, 1 pull failed or no digest in its output, 2 missing env.
set -Eeuo pipefail

step='image-digest'
log() { printf '[%s] %s\n' "$step" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }

image=${HIVE_IMAGE:-}
[[ -n $image ]] || die "HIVE_IMAGE is not set" 2

output=$(docker pull "$image" 2>&1) || die "docker pull $image failed: ${output//$'\n'/ }"
digest=''
while IFS= read -r line; do
    case $line in Digest:\ sha256:*) digest=${line#Digest: } ;; esac
done <<<"$output"
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "docker pull $image printed no digest: ${output//$'\n'/ }"
log "unchanged: $image is $digest"
printf '%s\n' "$digest"
