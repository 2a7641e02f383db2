#!/bin/sh
# The site's own zone in PowerDNS's database: SOA, an NS record per hive and their glue A records, so the
# name servers answer for exactly what the stack output dns_delegation tells the parent zone.
#
# Run by hive's `initialize` (services/powerdns.yml) inside the pdnsdb task as `sh -s`, once after the service
# first converges and again when the hives change; safe to run again by hand:
#     docker exec -i -e HIVE_ZONE=pdns.example.com. -e HIVE_NAME_SERVERS='s-hive0.pdns.example.com.=10.0.0.5' \
#         <pdnsdb container> sh -s < initialize-zone.sh
# Env: HIVE_ZONE (with a final dot), HIVE_NAME_SERVERS ("<ns name>=<ipv4>" per hive, space-separated)
set -eu
: "${HIVE_ZONE:?}" "${HIVE_NAME_SERVERS:?}"
zone=${HIVE_ZONE%.}
tries=0
until mariadb-admin ping --silent >/dev/null 2>&1 && mariadb -e 'SELECT 1 FROM pdns.records LIMIT 1' >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 90 ] || { echo "initialize-zone: the pdns database does not answer" >&2; exit 1; }
    sleep 1
done
case $zone in *[!a-z0-9.-]*) echo "initialize-zone: bad zone '$zone'" >&2; exit 1 ;; esac
first=''
records=''
for pair in $HIVE_NAME_SERVERS; do
    ns=${pair%%=*}
    ns=${ns%.}
    ip=${pair#*=}
    case $ns$ip in *[!a-z0-9.-]*) echo "initialize-zone: bad name server '$pair'" >&2; exit 1 ;; esac
    [ -n "$first" ] || first=$ns
    records="$records(@d, '$zone', 'NS', '$ns', 3600, 0, 1), "
    case $ns in *."$zone") records="$records(@d, '$ns', 'A', '$ip', 3600, 0, 1), " ;; esac
done
[ -n "$first" ] || { echo "initialize-zone: no name servers" >&2; exit 1; }
serial=$(date -u +%s)
mariadb pdns <<SQL
START TRANSACTION;
INSERT INTO domains (name, type) SELECT '$zone', 'NATIVE' FROM DUAL
    WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = '$zone');
SET @d = (SELECT id FROM domains WHERE name = '$zone');
DELETE FROM records WHERE domain_id = @d AND (type IN ('SOA', 'NS') AND name = '$zone' OR type = 'A' AND name LIKE '%.$zone' AND name IN (SELECT content FROM (SELECT content FROM records WHERE domain_id = @d AND type = 'NS') AS ns));
INSERT INTO records (domain_id, name, type, content, ttl, prio, auth) VALUES
    $records(@d, '$zone', 'SOA', '$first hostmaster.$zone $serial 10800 3600 604800 3600', 3600, 0, 1);
COMMIT;
SQL
echo "initialize-zone: $zone served by $HIVE_NAME_SERVERS"
