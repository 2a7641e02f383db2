#!/usr/bin/env bash
# packages.sh — the host's package work, done once, early: first repair what a killed dpkg run left behind
# (`dpkg --configure -a`, then reinstall what is half-installed), then one `apt-get update` and one
# `apt-get install --no-install-recommends` of every package this host's steps need. The other steps find
# their packages installed and run no apt (run by hand on a bare host, each still installs its own).
# Daemons that the packages bring are NOT started by their installation (a policy-rc.d answers 101 while
# apt runs): the step that configures a daemon starts it once, with its configuration (docker, registry,
# rsyslog, chrony), instead of a start with defaults and a restart.
#
# Usage:  sudo env HIVE_PACKAGES='ca-certificates curl jq docker.io chrony@time_client' bash packages.sh
# Env:    HIVE_PACKAGES  package entries, space separated: `name` or `name@condition` (conditions: lib.sh
#                        pkg_condition — time_client, apparmor); may be empty (only the repair runs)
# Stdin:  —
# Files:  /usr/sbin/policy-rc.d while apt runs, only when the host has none (removed on every exit; one that
#         a killed run left is removed first)
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
read -r -a entries <<<"${HIVE_PACKAGES-}"
pkg_wanted "${entries[@]}" # validates every entry before anything changes

policy=/usr/sbin/policy-rc.d
marker='# hive packages.sh: no daemon starts while the host step installs packages'
if [[ -e $policy ]] && grep -qxF "$marker" "$policy"; then
    rm -f -- "$policy"
    changed "removed $policy left by a killed run"
fi

missing=()
for p in "${PKG_WANTED[@]}"; do
    pkg_installed "$p" || missing+=("$p")
done
if ((${#missing[@]})) && [[ ! -e $policy ]]; then
    tmp=$(mktemp /usr/sbin/.policy-rc.d.XXXXXX)
    printf '#!/bin/sh\n%s\nexit 101\n' "$marker" >"$tmp"
    chmod 0755 "$tmp"
    at_exit "rm -f -- $policy"
    mv -f -- "$tmp" "$policy"
fi
apt_install "${entries[@]}"
