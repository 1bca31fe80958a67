#!/usr/bin/env bash
# The README's first command: brings up the coordinator (embedded PostgreSQL), a local web
# agent driving a private nginx on 127.0.0.1, creates a demo tenant and website, and prints
# the URL where the site answers. State lives in ./var; re-running reuses it.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$MPANEL_ROOT/install/deps.sh"
cd "$MPANEL_ROOT"
npm run --silent generate >/dev/null
npm run --silent build -w panel >/dev/null
exec node --import tsx install/quickstart.ts "$@"
