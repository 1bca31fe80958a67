#!/usr/bin/env bash
# Stops what the quick start started (agent, coordinator with its embedded PostgreSQL, php-fpm, nginx); keeps ./var.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MPANEL_ROOT/var" 2>/dev/null || exit 0
for name in agent coordinator; do
  if [ -f "$name.pid" ] && kill -0 "$(cat "$name.pid")" 2>/dev/null; then
    kill -TERM "$(cat "$name.pid")"
    for _ in $(seq 1 100); do kill -0 "$(cat "$name.pid")" 2>/dev/null || break; sleep 0.1; done
    echo "mpanel: stopped $name"
  fi
done
if [ -f php/run/php-fpm.pid ] && kill -0 "$(cat php/run/php-fpm.pid)" 2>/dev/null; then
  kill -QUIT "$(cat php/run/php-fpm.pid)" && echo "mpanel: stopped php-fpm"
fi
[ -f nginx/logs/nginx.pid ] && nginx -p "$PWD/nginx" -c "$PWD/nginx/conf/nginx.conf" -s quit 2>/dev/null && echo "mpanel: stopped nginx"
exit 0
