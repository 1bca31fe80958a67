#!/usr/bin/env bash
# mPanel coordinator installer for a fresh Debian 12 server (run as root), from a checkout of
# this repository:
#
#   sudo bash install/coordinator.sh --domain panel.example.com --email hostmaster@example.com
#
# It installs Node 24 into /opt/mpanel/node (a system Node is never replaced), copies the checkout
# with its node_modules and built panel into /opt/mpanel/app (running `npm ci` and the panel build
# there when the checkout has not), writes /etc/mpanel/coordinator.env and the unit
# systemd/mpanel-coordinator.service, starts it, applies the migrations, creates the first
# SUPER_ADMIN (its one-time password is printed once) and, with --domain, puts nginx in front as
# the TLS terminator with an ACME (Let's Encrypt by default) certificate.
#
# Options:
#   --domain D            public host name of the panel: nginx serves https://D/ and proxies to the
#                         coordinator (HTTP API, panel, WebSockets); without it the coordinator only
#                         listens on 127.0.0.1 (reach it with ssh -L 8080:127.0.0.1:8080)
#   --email E             ACME account contact (required with --domain)
#   --acme-directory URL  ACME directory (default Let's Encrypt: https://acme-v02.api.letsencrypt.org/directory)
#   --acme-ca-file F      CA certificate of a private ACME server's own HTTPS (e.g. Pebble in tests)
#   --admin-email E       the first SUPER_ADMIN (default admin@D, or admin@mpanel.localhost); created once only
#   --database-url URL    an existing PostgreSQL (postgresql://user:password@host:port/database) instead
#                         of the embedded one in /var/lib/mpanel/pg
#   --redis-url URL       Redis shared by several coordinator replicas (redis:// or rediss://)
#   --grpc-host H         where agents reach the coordinator's gRPC gateway, which also binds to it
#                         (default: --domain, else this server's first address); not proxied by nginx
#   --grpc-port P         the gRPC gateway's port (default 8443; open it to your nodes)
#   --http-port P         the coordinator's HTTP port on 127.0.0.1, behind nginx (default 8080)
#   --nginx-http-port P   nginx's plain HTTP port: ACME challenges, redirect to HTTPS (default 80)
#   --nginx-https-port P  nginx's HTTPS port (default 443)
#   --nginx-address A     make nginx listen on this one IPv4 address only (default: all, IPv4 and IPv6)
#   --source DIR          the mPanel checkout to install (default: the one holding this script)
#   --root DIR            install into DIR as if it were / (images, tests): every path written is
#                         under DIR; apt-get, useradd and systemctl start are skipped there, and
#                         nginx is reloaded only when DIR/etc/nginx/nginx.conf has a running nginx
#   --no-start            enable the unit (systemctl --root enablement) but do not start it
#   --node PATH           a Node 24 binary to use instead of looking for or installing one
#   --uninstall           stop and remove the coordinator (unit, application, nginx site); --purge
#                         also removes its state (embedded database, CA), settings and certificates
#
# Re-running is safe: the application and unit are replaced, settings in coordinator.env keep the
# operator's edits (only the options given are written), a valid certificate is kept, and no second
# administrator is created. Every failure says what went wrong and what to do.
set -euo pipefail

DOMAIN="" EMAIL="" ACME_DIRECTORY="https://acme-v02.api.letsencrypt.org/directory" ACME_CA_FILE="" ADMIN_EMAIL=""
DATABASE_URL_OPT="" REDIS_URL_OPT="" GRPC_HOST="" GRPC_PORT="" HTTP_PORT="" NGINX_HTTP_PORT=80 NGINX_HTTPS_PORT=443
NGINX_ADDRESS="" SOURCE="" ROOT="/" NO_START=0 NODE_BIN="" UNINSTALL=0 PURGE=0

fail() {
  # fail WHAT WHAT_TO_DO
  printf 'mpanel-coordinator install: error: %s\n  what to do: %s\n' "$1" "$2" >&2
  exit 1
}
say() { printf 'mpanel-coordinator install: %s\n' "$*" >&2; }
need_value() { [[ $# -ge 2 && -n $2 && $2 != --* ]] || fail "option $1 needs a value" "run with --help for the options"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --domain|--email|--acme-directory|--acme-ca-file|--admin-email|--database-url|--redis-url|--grpc-host|--grpc-port|--http-port|--nginx-http-port|--nginx-https-port|--nginx-address|--source|--root|--node)
      need_value "$@"
      case $1 in
        --domain) DOMAIN=$2 ;; --email) EMAIL=$2 ;; --acme-directory) ACME_DIRECTORY=$2 ;; --acme-ca-file) ACME_CA_FILE=$2 ;;
        --admin-email) ADMIN_EMAIL=$2 ;; --database-url) DATABASE_URL_OPT=$2 ;; --redis-url) REDIS_URL_OPT=$2 ;;
        --grpc-host) GRPC_HOST=$2 ;; --grpc-port) GRPC_PORT=$2 ;; --http-port) HTTP_PORT=$2 ;;
        --nginx-http-port) NGINX_HTTP_PORT=$2 ;; --nginx-https-port) NGINX_HTTPS_PORT=$2 ;; --nginx-address) NGINX_ADDRESS=$2 ;;
        --source) SOURCE=$2 ;; --root) ROOT=$2 ;; --node) NODE_BIN=$2 ;;
      esac
      shift 2 ;;
    --no-start) NO_START=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) sed -n '2,47p' "${BASH_SOURCE[0]:-/dev/null}" 2>/dev/null || true; exit 0 ;;
    *) fail "unknown option: $1" "run with --help for the options" ;;
  esac
done

# 1. Arguments, all checked before anything is changed.
[[ $ROOT =~ ^/[A-Za-z0-9._/-]*$ ]] || fail "--root must be an absolute path of letters, digits, . _ / - (got '$ROOT')" "pass --root /absolute/dir"
ROOT=${ROOT%/}
FAKE_ROOT=0
[[ -z $ROOT ]] || FAKE_ROOT=1
domain_re='^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$'
email_re='^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'
port_ok() { [[ $1 =~ ^[0-9]{1,5}$ ]] && (( 10#$1 >= 1 && 10#$1 <= 65535 )); }
if [[ -n $DOMAIN ]]; then
  [[ ${#DOMAIN} -le 253 && $DOMAIN =~ $domain_re ]] || fail "bad --domain '$DOMAIN' (expected a lowercase DNS name such as panel.example.com)" "pass the panel's public host name, whose A/AAAA records point at this server"
  [[ -n $EMAIL ]] || fail "--domain needs --email (the ACME account contact for certificate expiry notices)" "add --email you@example.com"
fi
[[ -z $EMAIL || $EMAIL =~ $email_re ]] || fail "bad --email '$EMAIL'" "pass an address such as hostmaster@example.com"
[[ -z $ADMIN_EMAIL || $ADMIN_EMAIL =~ $email_re ]] || fail "bad --admin-email '$ADMIN_EMAIL'" "pass an address such as you@example.com"
[[ $ACME_DIRECTORY =~ ^https://[^[:space:]\']+$ ]] || fail "bad --acme-directory '$ACME_DIRECTORY' (must be an https:// URL)" "omit it for Let's Encrypt, or pass your ACME server's directory URL"
[[ -z $ACME_CA_FILE || ( $ACME_CA_FILE =~ ^/[A-Za-z0-9._/-]+$ && -r $ACME_CA_FILE ) ]] || fail "--acme-ca-file '$ACME_CA_FILE' is not a readable absolute path (letters, digits, . _ / - only)" "pass the PEM file of your ACME server's CA, or omit it"
[[ -z $DATABASE_URL_OPT || $DATABASE_URL_OPT =~ ^postgres(ql)?://[^[:space:]\'\"\\]+$ ]] \
  || fail "bad --database-url (expected postgresql://user:password@host:port/database, without spaces or quotes; percent-encode them in the password)" "pass the URL of an existing PostgreSQL database, or omit it for the embedded one"
[[ -z $REDIS_URL_OPT || $REDIS_URL_OPT =~ ^rediss?://[^[:space:]\'\"\\]+$ ]] || fail "bad --redis-url (expected redis://[:password@]host:port[/db] or rediss://...)" "pass your Redis URL, or omit it (one coordinator needs none)"
for pair in "--grpc-port:$GRPC_PORT" "--http-port:$HTTP_PORT" "--nginx-http-port:$NGINX_HTTP_PORT" "--nginx-https-port:$NGINX_HTTPS_PORT"; do
  value=${pair#*:}
  [[ -z $value ]] || port_ok "$value" || fail "bad ${pair%%:*} '$value' (expected a TCP port 1-65535)" "pass a port number"
done
[[ -z $GRPC_HOST || $GRPC_HOST =~ ^[A-Za-z0-9.:-]{1,253}$ ]] || fail "bad --grpc-host '$GRPC_HOST'" "pass a host name or IP address your nodes can reach"
[[ -z $NGINX_ADDRESS || $NGINX_ADDRESS =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || fail "bad --nginx-address '$NGINX_ADDRESS' (expected an IPv4 address)" "pass an address of this server, or omit it to listen on all"
if [[ -z $SOURCE ]]; then
  SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]:-.}")/.." 2>/dev/null && pwd || true)
fi
[[ -n $SOURCE && -f $SOURCE/coordinator/src/server.ts && -f $SOURCE/package-lock.json && -f $SOURCE/systemd/mpanel-coordinator.service ]] \
  || fail "'${SOURCE:-?}' is not an mPanel checkout (coordinator/src/server.ts, package-lock.json or systemd/ missing)" "run this script from a clone of the mPanel repository, or pass --source /path/to/checkout"
SOURCE=$(cd "$SOURCE" && pwd)

OPT="$ROOT/opt/mpanel"
APP="$OPT/app"
ETC="$ROOT/etc/mpanel"
CONFIG="$ETC/coordinator.env"
TLS_DIR="$ETC/tls"
STATE="$ROOT/var/lib/mpanel"
WEBROOT="$ROOT/var/lib/mpanel-acme"
UNIT_DIR="$ROOT/etc/systemd/system"
NGINX_CONF="$ROOT/etc/nginx/nginx.conf"
SITE="$ROOT/etc/nginx/sites-available/mpanel-coordinator.conf"
SITE_LINK="$ROOT/etc/nginx/sites-enabled/mpanel-coordinator.conf"

[[ $(id -u) -eq 0 ]] || fail "this installer must run as root" "run it with sudo"

systemctl_root() { systemctl --root="${ROOT:-/}" "$@"; }
running_systemd() { [[ $FAKE_ROOT -eq 0 && -d /run/systemd/system ]]; }

# nginx: check the configuration, then reload the nginx that serves it (the system's; in a fake
# root, the one started with DIR/etc/nginx/nginx.conf, if any).
reload_nginx() {
  if [[ $FAKE_ROOT -eq 1 ]]; then
    [[ -f $NGINX_CONF ]] || { say "--root $ROOT: no $NGINX_CONF, not checking or reloading nginx"; return 0; }
    nginx -t -q -c "$NGINX_CONF" 2>"$work/nginx-t" || { rm -f "$SITE_LINK"; fail "nginx rejects the configuration (the mPanel site is disabled again): $(tr '\n' ' ' <"$work/nginx-t")" "fix $SITE or $NGINX_CONF, then re-run"; }
    nginx -c "$NGINX_CONF" -s reload 2>/dev/null || say "--root $ROOT: no nginx running with $NGINX_CONF, not reloaded"
    return 0
  fi
  nginx -t -q 2>"$work/nginx-t" || { rm -f "$SITE_LINK"; fail "nginx rejects the configuration (the mPanel site is disabled again): $(tr '\n' ' ' <"$work/nginx-t")" "fix the files under /etc/nginx (this installer wrote $SITE), then re-run"; }
  if running_systemd; then
    systemctl enable nginx.service >/dev/null 2>&1 || true
    systemctl reload-or-restart nginx.service || fail "nginx did not (re)start" "run 'journalctl -u nginx -n 50' to see why (is port $NGINX_HTTP_PORT or $NGINX_HTTPS_PORT taken?)"
  else
    nginx -s reload 2>/dev/null || nginx || fail "nginx did not start" "see /var/log/nginx/error.log"
  fi
}

if [[ $UNINSTALL -eq 1 ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  for unit in mpanel-coordinator.service mpanel-front-cert.timer; do
    if running_systemd; then systemctl disable --now "$unit" >/dev/null 2>&1 || true
    else systemctl_root disable "$unit" >/dev/null 2>&1 || true; fi
  done
  rm -rf "$UNIT_DIR/mpanel-coordinator.service" "$UNIT_DIR/mpanel-coordinator.service.d" "$UNIT_DIR/mpanel-front-cert.service" "$UNIT_DIR/mpanel-front-cert.timer" \
    "$APP" "$ROOT/usr/local/sbin/mpanel" "$ROOT/usr/local/sbin/mpanel-front-cert"
  running_systemd && systemctl daemon-reload || true
  if [[ -e $SITE || -L $SITE_LINK ]]; then
    rm -f "$SITE" "$SITE_LINK"
    if [[ $FAKE_ROOT -eq 0 ]] && command -v nginx >/dev/null 2>&1; then reload_nginx; fi
  fi
  if [[ $PURGE -eq 1 ]]; then
    rm -rf "$STATE" "$WEBROOT" "$TLS_DIR" "$CONFIG"
    say "removed the coordinator with its embedded database, CA, settings and certificate (an external --database-url database is left alone)"
  else
    say "removed the coordinator; its state ($STATE), settings ($CONFIG) and certificate ($TLS_DIR) stay (remove with --uninstall --purge)"
  fi
  exit 0
fi

# 2. The operating system: Debian 12.
if [[ $FAKE_ROOT -eq 0 ]]; then
  # shellcheck disable=SC1091
  . /etc/os-release 2>/dev/null || fail "cannot read /etc/os-release" "install on Debian 12 (bookworm)"
  [[ ${ID:-} == debian && ${VERSION_ID:-} == 12 ]] \
    || fail "unsupported OS: ${PRETTY_NAME:-unknown} (the installer is written for Debian 12)" "install on Debian 12 (bookworm)"
fi
[[ $(uname -m) == x86_64 || $(uname -m) == aarch64 ]] || fail "unsupported CPU architecture $(uname -m)" "use an x86_64 or arm64 server"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 3. Debian packages: nginx for the TLS front, rsync for the copy; build tools only when
#    node_modules must be built here (node-pty and argon2 are native add-ons).
packages=(ca-certificates curl rsync)
[[ -z $DOMAIN ]] || packages+=(nginx)
[[ -f $SOURCE/node_modules/.package-lock.json ]] || packages+=(npm build-essential python3)
if [[ $FAKE_ROOT -eq 1 ]]; then
  say "--root $ROOT: skipping apt-get (would install: ${packages[*]})"
else
  missing=()
  for pkg in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg"); done
  if [[ ${#missing[@]} -gt 0 ]]; then
    say "installing ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
      || fail "apt-get could not install ${missing[*]}" "check the server's APT sources and network, then re-run this command"
  fi
fi
command -v rsync >/dev/null 2>&1 || fail "rsync is missing" "apt-get install rsync, then re-run"
[[ -z $DOMAIN ]] || command -v nginx >/dev/null 2>&1 || fail "nginx is missing" "apt-get install nginx, then re-run"

# 4. Node 24: the one given, a Node 24 already there, else npm's `node@24` package into
#    /opt/mpanel/node. A system Node is never replaced: the unit runs /opt/mpanel/node/bin/node.
node_major() { "$1" --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }
if [[ -z $NODE_BIN ]]; then
  candidates=("$OPT/node/bin/node" "$(command -v node || true)")
  # The checkout's own Node (install/env.sh) is linked into a fake root only: on a real server it may
  # sit under a home directory the service user cannot enter.
  [[ $FAKE_ROOT -eq 0 ]] || candidates+=("$SOURCE/.node/node_modules/node/bin/node")
  for candidate in "${candidates[@]}"; do
    if [[ -n $candidate && -x $candidate && $(node_major "$candidate") -ge 24 ]]; then NODE_BIN=$candidate; break; fi
  done
fi
mkdir -p "$OPT/node/bin"
if [[ -z $NODE_BIN ]]; then
  command -v npm >/dev/null 2>&1 || fail "no Node 24 and no npm to fetch it with" "pass --node /path/to/node24"
  say "installing Node 24 into $OPT/node (the system's node, if any, is left alone)"
  npm install --prefix "$OPT/node" --no-save --no-audit --no-fund --loglevel=error node@24 >/dev/null \
    || fail "could not install Node 24 from the npm registry" "check access to registry.npmjs.org, or pass --node /path/to/node24"
  NODE_BIN="$OPT/node/node_modules/node/bin/node"
fi
[[ $(node_major "$NODE_BIN") -ge 24 ]] || fail "$NODE_BIN is not Node 24 or newer" "pass --node with a Node 24 binary"
NODE_REAL=$(readlink -f "$NODE_BIN")
if [[ $NODE_REAL != "$(readlink -f "$OPT/node/bin/node" 2>/dev/null || true)" ]]; then
  if [[ $FAKE_ROOT -eq 1 ]]; then
    # A link out of the fake root would dangle inside it: hard link (same filesystem) or copy.
    ln -f "$NODE_REAL" "$OPT/node/bin/node.new" 2>/dev/null || cp "$NODE_REAL" "$OPT/node/bin/node.new"
    mv -f "$OPT/node/bin/node.new" "$OPT/node/bin/node"
  else
    ln -sfn "$NODE_REAL" "$OPT/node/bin/node"
  fi
fi
NODE="$OPT/node/bin/node"

# 5. Service user and directories. The coordinator runs as `mpanel` and keeps its state (embedded
#    PostgreSQL, CA) in /var/lib/mpanel; the ACME webroot is world-readable for nginx.
if [[ $FAKE_ROOT -eq 1 ]]; then
  say "--root $ROOT: skipping useradd mpanel"
elif ! getent passwd mpanel >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/mpanel --no-create-home --shell /usr/sbin/nologin \
    --comment "mPanel coordinator" mpanel || fail "useradd mpanel failed" "check /etc/passwd is writable, then re-run"
fi
install -d -m 0755 "$OPT" "$ETC" "$UNIT_DIR"
install -d -m 0700 "$STATE"
[[ $FAKE_ROOT -eq 1 ]] || chown mpanel:mpanel "$STATE"

# 6. The application: this checkout (without .git and local state) with its node_modules and built
#    panel, copied to /opt/mpanel/app (in a fake root, node_modules files are hard-linked when
#    unchanged, which keeps image builds and tests cheap).
say "copying $SOURCE to $APP"
install -d -m 0755 "$APP"
rsync_args=(-a --delete --chmod=Dgo+rx,Fgo+r --exclude=/.git --exclude=/.node --exclude=/var --exclude=/coverage --exclude='*.log' --exclude=/bench/dispatch/.scratch --exclude=/node_modules)
[[ $FAKE_ROOT -eq 1 ]] || rsync_args+=(--chown=0:0)
rsync "${rsync_args[@]}" "$SOURCE/" "$APP/" || fail "could not copy $SOURCE to $APP" "check free space under $OPT, then re-run"
if [[ -f $SOURCE/node_modules/.package-lock.json && ! $SOURCE/package-lock.json -nt $SOURCE/node_modules/.package-lock.json ]]; then
  modules_args=(-a --delete --chmod=Dgo+rx,Fgo+r)
  if [[ $FAKE_ROOT -eq 1 ]]; then modules_args+=(--link-dest="$SOURCE/node_modules/"); else modules_args+=(--chown=0:0); fi
  rsync "${modules_args[@]}" "$SOURCE/node_modules/" "$APP/node_modules/" || fail "could not copy $SOURCE/node_modules" "check free space under $OPT, then re-run"
else
  say "the checkout has no up-to-date node_modules: running npm ci in $APP (native add-ons are built for Node 24)"
  headers=$(ls -d "$OPT"/node/node_modules/node/node_modules/node-linux-*/ 2>/dev/null | head -1 || true)
  (cd "$APP" && env PATH="$(dirname "$NODE_REAL"):$PATH" ${headers:+"npm_config_nodedir=${headers%/}"} npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || fail "npm ci failed in $APP" "check access to registry.npmjs.org and that build-essential and python3 are installed, then re-run"
fi
if [[ ! -d $APP/coordinator/src/generated/prisma ]]; then
  (cd "$APP" && PATH="$(dirname "$NODE_REAL"):$APP/node_modules/.bin:$PATH" npm run --silent generate >/dev/null) \
    || fail "could not generate the database client in $APP" "run 'npm run generate' in the checkout to see why, then re-run"
fi
if [[ ! -f $APP/panel/dist/index.html ]]; then
  say "building the panel"
  (cd "$APP" && PATH="$(dirname "$NODE_REAL"):$APP/node_modules/.bin:$PATH" npm run --silent build -w panel >/dev/null) \
    || fail "could not build the panel in $APP" "run 'npm run build -w panel' in the checkout to see why, then re-run"
fi

# 7. Settings: /etc/mpanel/coordinator.env (systemd EnvironmentFile, values in single quotes).
#    Created with defaults once; later runs only write the settings given as options.
read_env() {
  # KEY=VALUE lines of the settings file, quotes removed
  [[ -f $CONFIG ]] || return 0
  local line key value
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    if [[ $value =~ ^\'(.*)\'$ || $value =~ ^\"(.*)\"$ ]]; then value=${BASH_REMATCH[1]}; fi
    printf '%s=%s\n' "$key" "$value"
  done <"$CONFIG"
}
get_env() { # get_env KEY DEFAULT
  local line
  line=$(read_env | grep -m1 "^$1=" || true)
  if [[ -n $line ]]; then printf '%s' "${line#*=}"; else printf '%s' "$2"; fi
}
set_env() { # set_env KEY VALUE [only-if-absent]
  local key=$1 value=$2 line found=0 out=()
  if [[ -f $CONFIG.new ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      if [[ $line == "$key="* ]]; then
        found=1
        [[ ${3:-} == only-if-absent ]] && out+=("$line") || out+=("$key='$value'")
      else out+=("$line"); fi
    done <"$CONFIG.new"
  fi
  [[ $found -eq 1 ]] || out+=("$key='$value'")
  printf '%s\n' "${out[@]}" >"$CONFIG.new"
}
first_address() { hostname -I 2>/dev/null | awk '{print $1}'; }
if [[ -f $CONFIG ]]; then
  cp -p "$CONFIG" "$CONFIG.new"
else
  printf '%s\n' "# mPanel coordinator settings (environment variables, see the README's Configuration)." \
    "# Written by install/coordinator.sh; a re-run keeps your edits and only writes the options it is given." >"$CONFIG.new"
fi
default_grpc_host=${DOMAIN:-$(first_address)}
set_env MPANEL_HTTP_HOST 127.0.0.1 only-if-absent
set_env MPANEL_HTTP_PORT "${HTTP_PORT:-8080}" "$([[ -n $HTTP_PORT ]] || echo only-if-absent)"
set_env MPANEL_GRPC_HOST "${GRPC_HOST:-${default_grpc_host:-127.0.0.1}}" "$([[ -n $GRPC_HOST ]] || echo only-if-absent)"
set_env MPANEL_GRPC_PORT "${GRPC_PORT:-8443}" "$([[ -n $GRPC_PORT ]] || echo only-if-absent)"
grpc_host=$(CONFIG="$CONFIG.new" get_env MPANEL_GRPC_HOST 127.0.0.1)
sans=$(CONFIG="$CONFIG.new" get_env MPANEL_GRPC_SANS "")
for name in localhost 127.0.0.1 "$grpc_host" $DOMAIN; do
  [[ ",$sans," == *",$name,"* ]] || sans=${sans:+$sans,}$name
done
set_env MPANEL_GRPC_SANS "$sans"
if [[ -n $DOMAIN ]]; then
  https_suffix=""
  [[ $NGINX_HTTPS_PORT == 443 ]] || https_suffix=":$NGINX_HTTPS_PORT"
  set_env MPANEL_PUBLIC_URL "https://$DOMAIN$https_suffix"
  set_env MPANEL_TRUSTED_PROXIES "127.0.0.1,::1" only-if-absent
fi
[[ -z $DATABASE_URL_OPT ]] || set_env DATABASE_URL "$DATABASE_URL_OPT"
[[ -z $REDIS_URL_OPT ]] || set_env MPANEL_REDIS_URL "$REDIS_URL_OPT"
chmod 0640 "$CONFIG.new"
[[ $FAKE_ROOT -eq 1 ]] || chgrp mpanel "$CONFIG.new"
mv -f "$CONFIG.new" "$CONFIG"
HTTP_PORT=$(get_env MPANEL_HTTP_PORT 8080)
GRPC_PORT=$(get_env MPANEL_GRPC_PORT 8443)
say "settings in $CONFIG"

# The operator CLI as the service user, with the settings file and nothing from this shell.
mapfile -t CLI_ENV < <(read_env)
cli() {
  local as=()
  [[ $FAKE_ROOT -eq 1 ]] || as=(runuser -u mpanel --)
  (cd "$APP" && "${as[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$STATE" "${CLI_ENV[@]}" MPANEL_DATA_DIR="$STATE" NODE_ENV=production \
    "$NODE" --import tsx coordinator/src/cli.ts "$@")
}
why() { # the CLI's own error lines of a captured stderr (else its last lines), on one line
  { grep '^mpanel: ' "$1" | grep -v 'migration applied' || tail -n 3 "$1"; } | tail -n 3 | tr '\n' ' '
}
json_field() { "$NODE" -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8"))[process.argv[1]]; process.stdout.write(v === undefined ? "" : String(v));' "$1"; }

# The `mpanel` command for the operator (/usr/local/sbin/mpanel): the CLI as the service user with
# the settings file (tls-cert as root: it writes /etc/mpanel/tls).
install -d -m 0755 "$ROOT/usr/local/sbin"
as_user="runuser -u mpanel --"
[[ $FAKE_ROOT -eq 0 ]] || as_user=""
cat >"$ROOT/usr/local/sbin/mpanel.new" <<WRAPPER
#!/bin/sh
# mpanel: the mPanel coordinator's operator CLI ('mpanel --help'). Written by install/coordinator.sh.
# Runs as the coordinator's user with its settings ($CONFIG); tls-cert runs as root.
set -eu
[ "\$(id -u)" -eq 0 ] || { echo "mpanel: run it as root (sudo mpanel ...): it reads $CONFIG" >&2; exit 1; }
set -a
. '$CONFIG'
set +a
export MPANEL_DATA_DIR='$STATE' NODE_ENV=production
cd '$APP'
if [ "\${1:-}" = tls-cert ]; then exec '$NODE' --import tsx coordinator/src/cli.ts "\$@"; fi
exec $as_user '$NODE' --import tsx coordinator/src/cli.ts "\$@"
WRAPPER
chmod 0755 "$ROOT/usr/local/sbin/mpanel.new"
mv -f "$ROOT/usr/local/sbin/mpanel.new" "$ROOT/usr/local/sbin/mpanel"

# 8. systemd unit, enabled; started (and waited for) unless --no-start or a fake root.
install -m 0644 "$APP/systemd/mpanel-coordinator.service" "$UNIT_DIR/mpanel-coordinator.service"
if running_systemd && [[ $NO_START -eq 0 ]]; then
  systemctl daemon-reload
  systemctl enable mpanel-coordinator.service >/dev/null 2>&1 || fail "systemctl enable mpanel-coordinator failed" "run 'systemctl status mpanel-coordinator' to see why"
  systemctl restart mpanel-coordinator.service || fail "the coordinator did not start" "run 'journalctl -u mpanel-coordinator -n 50' to see why"
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/api/health/ready" 2>/dev/null && break
    sleep 1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/api/health/ready" 2>/dev/null \
    || fail "the coordinator did not become ready on 127.0.0.1:$HTTP_PORT within 2 minutes" "run 'journalctl -u mpanel-coordinator -n 50' to see why"
  say "coordinator running; follow it with: journalctl -u mpanel-coordinator -f"
else
  systemctl_root enable mpanel-coordinator.service >/dev/null 2>&1 || fail "systemctl --root=${ROOT:-/} enable mpanel-coordinator failed" "check $UNIT_DIR/mpanel-coordinator.service"
  say "coordinator installed and enabled, not started (start it with: systemctl start mpanel-coordinator)"
fi

# 9. Database: migrations (each one printed as it is applied), then the first administrator,
#    created only while there is no SUPER_ADMIN at all.
cli migrate >"$work/migrate.out" 2>"$work/migrate.err" \
  || fail "the database migrations failed: $(why "$work/migrate.err")" "check DATABASE_URL in $CONFIG (reachable? credentials? may it CREATE tables?), then re-run"
sed -n 's/^mpanel: migration applied migration=/mpanel-coordinator install: migration applied: /p' "$work/migrate.err" >&2
admin=${ADMIN_EMAIL:-admin@${DOMAIN:-mpanel.localhost}}
cli create-admin --if-no-admin --email "$admin" --name "Administrator" >"$work/admin.json" 2>"$work/admin.err" \
  || fail "could not create the first administrator: $(why "$work/admin.err")" "fix what the message says, then re-run"
ca_hash=$(cli ca-hash 2>/dev/null | json_field caHash || true)

# 10. nginx in front (with --domain): an HTTP server for ACME challenges (and a redirect), the
#     certificate from the ACME server, then HTTPS proxying to the coordinator. Agents do not pass
#     through nginx: their gRPC stream uses mutual TLS with the coordinator's own CA, which only
#     the coordinator can terminate, so they connect to MPANEL_GRPC_HOST:MPANEL_GRPC_PORT directly.
listens() { # listens PORT [ssl]
  local flags=${2:+ $2}
  if [[ -n $NGINX_ADDRESS ]]; then printf '    listen %s:%s%s;\n' "$NGINX_ADDRESS" "$1" "$flags"
  else printf '    listen %s%s;\n    listen [::]:%s%s;\n' "$1" "$flags" "$1" "$flags"; fi
}
write_site() { # write_site with-https(0|1)
  {
    cat <<EOF
# Written by install/coordinator.sh (a re-run rewrites it): nginx terminates TLS for the mPanel
# coordinator at https://$DOMAIN/ and proxies to it on 127.0.0.1:$HTTP_PORT (API, panel, and the
# WebSockets of /api/live and the terminal). Agents do not come through here: they speak gRPC with
# mutual TLS straight to the coordinator on port $GRPC_PORT.
map \$http_upgrade \$mpanel_connection_upgrade {
    default upgrade;
    ''      close;
}

server {
$(listens "$NGINX_HTTP_PORT")
    server_name $DOMAIN;
    location ^~ /.well-known/acme-challenge/ {
        root $WEBROOT;
        default_type text/plain;
    }
    location / {
        return 301 https://$DOMAIN$([[ $NGINX_HTTPS_PORT == 443 ]] || echo ":$NGINX_HTTPS_PORT")\$request_uri;
    }
}
EOF
    [[ $1 -eq 1 ]] && cat <<EOF

server {
$(listens "$NGINX_HTTPS_PORT" "ssl http2")
    server_name $DOMAIN;
    ssl_certificate $TLS_DIR/fullchain.pem;
    ssl_certificate_key $TLS_DIR/privkey.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:mpanel_coordinator_tls:10m;
    add_header Strict-Transport-Security "max-age=31536000" always;
    client_max_body_size 64m;

    location / {
        proxy_pass http://127.0.0.1:$HTTP_PORT;
        proxy_http_version 1.1;
        proxy_set_header Host \$host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection \$mpanel_connection_upgrade;
        proxy_request_buffering off;
        # Live updates and terminal WebSockets stay open; the coordinator pings them.
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }
}
EOF
    true
  } >"$SITE.new"
  mv -f "$SITE.new" "$SITE"
}
cert_issued=0
if [[ -n $DOMAIN ]]; then
  install -d -m 0755 "$(dirname "$SITE")" "$(dirname "$SITE_LINK")" "$WEBROOT" "$WEBROOT/.well-known" "$WEBROOT/.well-known/acme-challenge"
  install -d -m 0700 "$TLS_DIR"
  have_cert=0
  [[ -s $TLS_DIR/fullchain.pem && -s $TLS_DIR/privkey.pem ]] && have_cert=1
  write_site "$have_cert"
  ln -sfn ../sites-available/mpanel-coordinator.conf "$SITE_LINK"
  reload_nginx
  # nginx must answer the challenge path before the ACME server asks: probe it locally.
  probe=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '%s' "$probe" >"$WEBROOT/.well-known/acme-challenge/mpanel-probe"
  chmod 0644 "$WEBROOT/.well-known/acme-challenge/mpanel-probe"
  probe_host=${NGINX_ADDRESS:-127.0.0.1}
  served=0
  if [[ $FAKE_ROOT -eq 0 || -f $NGINX_CONF ]]; then
    for _ in $(seq 1 50); do
      [[ $(curl -fsS -H "Host: $DOMAIN" "http://$probe_host:$NGINX_HTTP_PORT/.well-known/acme-challenge/mpanel-probe" 2>/dev/null || true) == "$probe" ]] && { served=1; break; }
      sleep 0.2
    done
  fi
  rm -f "$WEBROOT/.well-known/acme-challenge/mpanel-probe"
  [[ $served -eq 1 || $FAKE_ROOT -eq 1 ]] || fail "nginx on port $NGINX_HTTP_PORT does not serve $WEBROOT for $DOMAIN" "check 'nginx -T' for another server claiming $DOMAIN, then re-run"
  cert_args=(tls-cert --domain "$DOMAIN" --email "$EMAIL" --acme-directory "$ACME_DIRECTORY" --webroot "$WEBROOT" --cert-dir "$TLS_DIR")
  [[ -z $ACME_CA_FILE ]] || cert_args+=(--acme-ca-file "$ACME_CA_FILE")
  # As root (not the service user): the key goes to /etc/mpanel/tls, readable by nginx's master only.
  (cd "$APP" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root MPANEL_DATA_DIR="$STATE" LOG_LEVEL=warn "$NODE" --import tsx coordinator/src/cli.ts "${cert_args[@]}") \
    >"$work/cert.json" 2>"$work/cert.err" \
    || fail "could not obtain a certificate for $DOMAIN from $ACME_DIRECTORY: $(why "$work/cert.err")" \
      "make sure $DOMAIN resolves to this server and port $NGINX_HTTP_PORT is reachable from the internet (firewall), then re-run"
  [[ $(json_field issued <"$work/cert.json") == true ]] && cert_issued=1
  say "certificate for $DOMAIN in $TLS_DIR/fullchain.pem ($([[ $cert_issued -eq 1 ]] && echo "issued" || echo "kept"), valid until $(json_field notAfter <"$work/cert.json"))"
  if [[ $have_cert -eq 0 || $cert_issued -eq 1 ]]; then
    write_site 1
    reload_nginx
  fi
  say "nginx site $SITE: https://$DOMAIN$([[ $NGINX_HTTPS_PORT == 443 ]] || echo ":$NGINX_HTTPS_PORT")/ -> 127.0.0.1:$HTTP_PORT"

  # Renewal: a daily timer runs `mpanel tls-cert` (it orders only within 30 days of the end) and
  # reloads nginx when a new certificate came.
  cert_cmd=$(printf "'%s' " "$ROOT/usr/local/sbin/mpanel" "${cert_args[@]}")
  cat >"$ROOT/usr/local/sbin/mpanel-front-cert.new" <<RENEW
#!/bin/sh
# Written by install/coordinator.sh (run by mpanel-front-cert.timer): renews the panel's certificate
# for $DOMAIN when it ends within 30 days, then reloads nginx.
set -eu
out=\$($cert_cmd)
echo "\$out"
case \$out in *'"issued":true'*) systemctl reload nginx.service ;; esac
RENEW
  chmod 0755 "$ROOT/usr/local/sbin/mpanel-front-cert.new"
  mv -f "$ROOT/usr/local/sbin/mpanel-front-cert.new" "$ROOT/usr/local/sbin/mpanel-front-cert"
  cat >"$UNIT_DIR/mpanel-front-cert.service" <<UNIT
# Written by install/coordinator.sh: renews the panel's certificate ($TLS_DIR/fullchain.pem)
# from $ACME_DIRECTORY when it ends within 30 days, then reloads nginx.
[Unit]
Description=mPanel: renew the panel's TLS certificate
After=network-online.target nginx.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/mpanel-front-cert
PrivateTmp=yes
ProtectHome=yes
UNIT
  cat >"$UNIT_DIR/mpanel-front-cert.timer" <<UNIT
# Written by install/coordinator.sh: checks the panel's certificate daily.
[Unit]
Description=mPanel: renew the panel's TLS certificate daily

[Timer]
OnCalendar=daily
RandomizedDelaySec=1h
Persistent=true

[Install]
WantedBy=timers.target
UNIT
  chmod 0644 "$UNIT_DIR/mpanel-front-cert.service" "$UNIT_DIR/mpanel-front-cert.timer"
  if running_systemd; then
    systemctl daemon-reload
    systemctl enable --now mpanel-front-cert.timer >/dev/null 2>&1 || fail "systemctl enable mpanel-front-cert.timer failed" "run 'systemctl status mpanel-front-cert.timer' to see why"
  else
    systemctl_root enable mpanel-front-cert.timer >/dev/null 2>&1 || fail "systemctl --root=${ROOT:-/} enable mpanel-front-cert.timer failed" "check $UNIT_DIR/mpanel-front-cert.timer"
  fi
fi

# 11. What the operator needs now. The one-time password goes to stdout, once.
panel_url="http://127.0.0.1:$HTTP_PORT/"
[[ -z $DOMAIN ]] || panel_url="https://$DOMAIN$([[ $NGINX_HTTPS_PORT == 443 ]] || echo ":$NGINX_HTTPS_PORT")/"
if [[ $(json_field created <"$work/admin.json") == true ]]; then
  printf 'mPanel coordinator installed: %s\n  administrator: %s\n  one-time password: %s\n  (shown only this once: sign in and change it)\n' \
    "$panel_url" "$(json_field email <"$work/admin.json")" "$(json_field oneTimePassword <"$work/admin.json")"
else
  printf 'mPanel coordinator installed: %s\n  administrator: %s exists already (no new password; reset it from the panel if lost)\n' \
    "$panel_url" "$(json_field email <"$work/admin.json")"
fi
printf '  operator CLI: mpanel --help (as root: health, nodes, jobs, drain, join-token, ...)\n'
printf '  add a node: create a join token in the panel (Servers) or with: mpanel join-token --roles web\n'
printf '  then on the node: curl -fsSL %sinstall/agent.sh | sudo bash -s -- --token <token> --ca-hash %s --roles web\n' "$panel_url" "${ca_hash:-<mpanel ca-hash>}"
printf '  agents connect to %s:%s (gRPC, mutual TLS): open that port to your nodes\n' "$(get_env MPANEL_GRPC_HOST 127.0.0.1)" "$GRPC_PORT"
