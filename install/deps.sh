#!/usr/bin/env bash
# Installs what mPanel needs on this machine: the Debian packages of the real daemons the
# tests and the quick start drive (nginx, PHP-FPM, Postfix, Dovecot, PowerDNS, Pebble, MariaDB,
# PostgreSQL, dig), and the npm dependencies. Safe to re-run.
# A package that cannot be installed is a loud failure, never a skipped test.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MPANEL_ROOT"
# package -> a file it installs; a package is installed when its file is missing.
declare -A packages=(
  [nginx]=/usr/sbin/nginx
  [php8.2-fpm]=/usr/sbin/php-fpm8.2
  [php8.2-cli]=/usr/bin/php8.2
  [postfix]=/usr/sbin/postfix
  [dovecot-imapd]=/usr/lib/dovecot/imap
  [dovecot-lmtpd]=/usr/lib/dovecot/lmtp
  [pdns-server]=/usr/sbin/pdns_server
  [pdns-backend-sqlite3]=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
  [sqlite3]=/usr/bin/sqlite3
  [pebble]=/usr/bin/pebble
  [mariadb-server]=/usr/sbin/mariadbd
  [mariadb-client]=/usr/bin/mariadb
  [postgresql]=/usr/lib/postgresql/15/bin/postgres
  [bind9-dnsutils]=/usr/bin/dig
  [passwd]=/usr/sbin/useradd
  [chromium]=/usr/bin/chromium
  [restic]=/usr/bin/restic
  [redis-server]=/usr/bin/redis-server
  [haproxy]=/usr/sbin/haproxy
  [openssh-server]=/usr/sbin/sshd
  [prometheus]=/usr/bin/prometheus
)
missing=()
for pkg in "${!packages[@]}"; do
  [ -e "${packages[$pkg]}" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "mpanel: installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { echo "mpanel: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi
# As root, the embedded PostgreSQL runs as user `postgres`, which must be able to reach the
# binaries under node_modules: give every parent of the checkout the traverse bit (o+x) it lacks.
if [ "$(id -u)" = 0 ]; then
  d="$MPANEL_ROOT"
  while [ "$d" != "/" ]; do
    if [ "$(( 0$(stat -c %a "$d") & 01 ))" = 0 ]; then
      chmod o+x "$d" && echo "mpanel: made $d traversable (o+x) for the embedded PostgreSQL" >&2
    fi
    d=$(dirname "$d")
  done
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "mpanel: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
