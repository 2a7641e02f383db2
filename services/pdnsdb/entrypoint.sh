#!/bin/sh
# First start on a new volume: create the system tables, the pdns database and user, and the schema.
set -eu
: "${PDNS_DB_PASSWORD:?set PDNS_DB_PASSWORD}"
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
CREATE USER 'pdns'@'%' IDENTIFIED BY '${PDNS_DB_PASSWORD}';
GRANT ALL ON pdns.* TO 'pdns'@'%';
SQL
    mariadb --socket=/run/mysqld/init.sock pdns < /usr/share/pdns-backend-mysql/schema/schema.mysql.sql
    kill "$pid"
    wait "$pid" || true
fi
exec mariadbd --user=mysql --bind-address=0.0.0.0
