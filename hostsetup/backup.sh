#!/usr/bin/env bash
# backup.sh — on the repository server: the backup agent (hive-backup), its own docker client identity, the
# services' backup_scripts and the nightly timer (01:00, as hive-builder's backup.timer), optionally with
# off-site copies through restic.
#
# Usage:  cat agent.key agent.crt ca.crt [offsite.env] | sudo env HIVE_BACKUP_CONF='{…}' \
#             HIVE_BACKUP_SERVICES='{…}' HIVE_BACKUP_OFFSITE=0 bash backup.sh
# Env:    HIVE_BACKUP_CONF      JSON {"managers": [hive ip…], "backup_dir": dir, "site": name,
#                               "offsite": null | {"repository": restic repository, "keep_days": n}}
#         HIVE_BACKUP_SERVICES  JSON {service: [backup_scripts entries]} (may be {})
#         HIVE_BACKUP_OFFSITE   1: off-site copies with restic (HIVE_BACKUP_CONF has "offsite"), 0: none
# Stdin:  three PEM blocks: the agent's private key, its client certificate, the server CA certificate; then, when
#         HIVE_BACKUP_CONF has "offsite", lines NAME=value: RESTIC_PASSWORD=… and the object store's
#         credentials (AWS_ACCESS_KEY_ID=…, AWS_SECRET_ACCESS_KEY=…, AZURE_ACCOUNT_KEY=…, …)
# Files:  /usr/local/sbin/hive-backup, /etc/hive/backup.conf, /etc/hive/backup-services.json,
#         /etc/hive/backup-tls/{key,cert,ca}.pem, /etc/hive/backup-secrets/offsite.env (0600),
#         /etc/systemd/system/hive-backup.{service,timer}; backups under the configured backup_dir.
# Run by hand: `sudo hive-backup run` backs up now; `systemctl start hive-backup.service` does what the timer does.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
require_root
require_env HIVE_BACKUP_CONF HIVE_BACKUP_SERVICES HIVE_BACKUP_OFFSITE
[[ $HIVE_BACKUP_OFFSITE == [01] ]] || die "HIVE_BACKUP_OFFSITE '$HIVE_BACKUP_OFFSITE' is not 0 or 1"

bundle=""
read_secret bundle
read_pem_blocks < <(printf '%s\n' "$bundle")
((${#PEM_BLOCKS[@]} == 3)) || die "expected 3 PEM blocks on stdin (key, certificate, CA), got ${#PEM_BLOCKS[@]}"
offsite_lines=''
while IFS= read -r line; do
    line=${line%$'\r'}
    [[ $line =~ ^[A-Z_][A-Z0-9_]*= ]] && offsite_lines+=$line$'\n'
done < <(printf '%s\n' "$bundle")
unset bundle

offsite=$HIVE_BACKUP_OFFSITE
if ((offsite)); then
    [[ $offsite_lines == *RESTIC_PASSWORD=* ]] || die "off-site backups need RESTIC_PASSWORD=… on stdin"
fi
# The same list as the catalogue's BACKUP_PACKAGES (the packages step installed them; this only checks).
apt_install python3-minimal docker-cli bsdutils restic

# Validate the JSON with the interpreter that will read it (a bad value fails here, not at 01:00).
python3 -c 'import json, sys; c = json.loads(sys.argv[1]); s = json.loads(sys.argv[2]);
assert isinstance(c["managers"], list) and c["backup_dir"].startswith("/") and isinstance(s, dict)' \
    "$HIVE_BACKUP_CONF" "$HIVE_BACKUP_SERVICES" || die "HIVE_BACKUP_CONF or HIVE_BACKUP_SERVICES is not the documented JSON"
backup_dir=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["backup_dir"])' "$HIVE_BACKUP_CONF")

install -d -m 0755 /etc/hive
install -d -m 0700 /etc/hive/backup-tls /etc/hive/backup-secrets
[[ -d $backup_dir ]] || { install -d -m 0750 -o root -g adm "$backup_dir" && changed "created $backup_dir"; }
install_file_if_changed "$(cat "$HERE/hive-backup")" /usr/local/sbin/hive-backup 0755 || true
install_file_if_changed "$HIVE_BACKUP_CONF" /etc/hive/backup.conf 0644 || true
install_file_if_changed "$HIVE_BACKUP_SERVICES" /etc/hive/backup-services.json 0644 || true
install_file_if_changed "${PEM_BLOCKS[0]}" /etc/hive/backup-tls/key.pem 0600 || true
install_file_if_changed "${PEM_BLOCKS[1]}" /etc/hive/backup-tls/cert.pem 0644 || true
install_file_if_changed "${PEM_BLOCKS[2]}" /etc/hive/backup-tls/ca.pem 0644 || true
if ((offsite)); then
    install_file_if_changed "$offsite_lines" /etc/hive/backup-secrets/offsite.env 0600 || true
elif [[ -e /etc/hive/backup-secrets/offsite.env ]]; then
    rm -f /etc/hive/backup-secrets/offsite.env
    changed "removed /etc/hive/backup-secrets/offsite.env (no off-site backups configured)"
fi

units=0
install_file_if_changed '# managed by hive (hostsetup/backup.sh)
[Unit]
Description=hive: back up every service with backup_scripts (hive-backup run)
Wants=network-online.target
After=network-online.target rsyslog.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hive-backup run
TimeoutStartSec=6h' /etc/systemd/system/hive-backup.service 0644 && units=1
install_file_if_changed '# managed by hive (hostsetup/backup.sh)
[Unit]
Description=hive: nightly backups at 01:00 (hive-builder backup.timer)

[Timer]
OnCalendar=*-*-* 01:00:00
Persistent=true

[Install]
WantedBy=timers.target' /etc/systemd/system/hive-backup.timer 0644 && units=1
if systemd_running; then
    ((units)) && systemctl daemon-reload
    enable_unit hive-backup.timer
    if ! systemctl is-active --quiet hive-backup.timer; then
        systemctl start hive-backup.timer
        changed "started hive-backup.timer"
    fi
fi
