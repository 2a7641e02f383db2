#!/usr/bin/env bash
# ship.sh — put the host step files that arrived in this script's directory (the program ships a host's files
# in one transfer: a tar on stdin, unpacked into ~/.hive/hostsetup/.incoming/) into the directory above it,
# each written to a temporary file and renamed (a crash leaves every file either old or new, never half
# written), then remove the incoming directory. Files already there with the same content are left alone;
# files that are not shipped (e.g. the swarm layer's drbd-volume.sh) are never touched.
#
# Usage:  rm -rf ~/.hive/hostsetup/.incoming && mkdir -p ~/.hive/hostsetup/.incoming &&
#             base64 -d | tar -xzf - -C ~/.hive/hostsetup/.incoming && bash ~/.hive/hostsetup/.incoming/ship.sh
#         (stdin: the base64 of the tar.gz the program builds — components/provision/host.py `bundle`)
# Env:    —
# Stdin:  —
# Runs as the ssh user (no root): the files belong to it, as the scripts are run with `sudo bash <file>`.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
target=$(dirname -- "$HERE")
[[ $(basename -- "$HERE") == .incoming ]] || die "run from <dir>/.incoming/ship.sh (is: $HERE)"
at_exit "rm -rf -- '$HERE'"
owner="$(id -un):$(id -gn)"
for file in "$HERE"/* "$HERE"/.[!.]*; do
    [[ -f $file ]] || continue
    name=${file##*/}
    content=''
    file_content "$file" content
    install_file_if_changed "$content" "$target/$name" 0644 "$owner" || true
done
