#!/bin/sh
# PowerDNS with its two secrets from docker secrets (files under /run/secrets/, named by PDNS_DB_PASSWORD_FILE
# and PDNS_API_KEY_FILE): they go into a config file of this task that only root and pdns can read —
# pdns_server reads it before it drops to user pdns —, never onto a command line or into the environment.
# The service's `command` (the other settings) follows as arguments.
set -eu
: "${PDNS_DB_PASSWORD_FILE:?set PDNS_DB_PASSWORD_FILE}" "${PDNS_API_KEY_FILE:?set PDNS_API_KEY_FILE}"
conf=/etc/powerdns/pdns.d/hive-secrets.conf
umask 027
{
    printf 'gmysql-password=%s\n' "$(cat "$PDNS_DB_PASSWORD_FILE")"
    printf 'api-key=%s\n' "$(cat "$PDNS_API_KEY_FILE")"
} >"$conf"
chgrp pdns "$conf"
exec pdns_server --guardian=no --daemon=no --disable-syslog --write-pid=no --include-dir=/etc/powerdns/pdns.d "$@"
