#!/usr/bin/env bash
# Installs what mPanel needs on this machine: the Debian packages of the real daemons the
# tests and the quick start drive (nginx), and the npm dependencies. Safe to re-run.
# A package that cannot be installed is a loud failure, never a skipped test.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MPANEL_ROOT"
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
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
