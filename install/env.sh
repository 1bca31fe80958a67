# Sourced by the other scripts: puts Node 24 LTS first on PATH for this shell only.
# The project brings its own Node into .node/ (npm's `node` package) and never replaces the
# system's /usr/bin/node. Needs npm once; on a machine without it, Debian's npm is installed.
set -euo pipefail
MPANEL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MPANEL_ROOT
NODE_DIR="$MPANEL_ROOT/.node"
NODE_BIN="$NODE_DIR/node_modules/node/bin"
if ! "$NODE_BIN/node" --version 2>/dev/null | grep -q '^v24\.'; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "mpanel: npm not found; installing Debian's nodejs + npm to bootstrap Node 24" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null \
      || { echo "mpanel: could not install npm (apt-get failed); install npm and re-run" >&2; exit 1; }
  fi
  echo "mpanel: installing Node 24 LTS into $NODE_DIR" >&2
  mkdir -p "$NODE_DIR"
  npm install --prefix "$NODE_DIR" --no-save --no-audit --no-fund --loglevel=error node@24 >/dev/null \
    || { echo "mpanel: could not install Node 24 from the npm registry" >&2; exit 1; }
fi
export PATH="$NODE_BIN:$MPANEL_ROOT/node_modules/.bin:$PATH"
# Native add-ons (node-pty, argon2 when it has no prebuild) are compiled against Node 24's own
# headers, which the node package ships: node-gyp must not try to download them (no internet).
NODE_HEADERS=$(ls -d "$NODE_DIR"/node_modules/node/node_modules/node-linux-*/ 2>/dev/null | head -1 || true)
if [ -n "$NODE_HEADERS" ]; then export npm_config_nodedir="${NODE_HEADERS%/}"; fi
