#!/bin/sh
# First start on a new volume: create the system tables, the pdns database and user, and the schema.
# Every start: the pdns user's password is the one in the docker secret PDNS_DB_PASSWORD_FILE (a file under
# /run/secrets/), so a rotated secret takes effect when the service restarts with it. The password is read from
# that file only: never from the environment, never on a command line.
set -eu
: "${PDNS_DB_PASSWORD_FILE:?set PDNS_DB_PASSWORD_FILE (the docker secret holding the pdns user password)}"
[ -r "$PDNS_DB_PASSWORD_FILE" ] || { echo "pdnsdb: $PDNS_DB_PASSWORD_FILE is not readable" >&2; exit 1; }
# the password as the body of an SQL string literal: backslash and single quote escaped
password=$(sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" "$PDNS_DB_PASSWORD_FILE")
chown -R mysql:mysql /var/lib/mysql
# Debian's mariadb-server already put the system tables into the image (and so into a fresh volume): the
# pdns database is what marks an initialised volume.
if [ ! -d /var/lib/mysql/pdns ]; then
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    until mariadb-admin --socket=/run/mysqld/init.sock ping --silent; do sleep 1; done
    mariadb --socket=/run/mysqld/init.sock <<SQL
CREATE DATABASE pdns;
CREATE USER 'pdns'@'%' IDENTIFIED BY '${password}';
GRANT ALL ON pdns.* TO 'pdns'@'%';
SQL
    mariadb --socket=/run/mysqld/init.sock pdns < /usr/share/pdns-backend-mysql/schema/schema.mysql.sql
    kill "$pid"
    wait "$pid" || true
fi
# mariadbd runs this file at startup (--init-file): the current secret is the password from now on. It lives in
# the task's own /run/mysqld, readable by the server's user only, like the secret file it comes from.
init=/run/mysqld/hive-init.sql
(umask 077 && printf "ALTER USER 'pdns'@'%%' IDENTIFIED BY '%s';\n" "$password" >"$init")
chown mysql:mysql "$init"
unset password
exec mariadbd --user=mysql --bind-address=0.0.0.0 --init-file="$init"
