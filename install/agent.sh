#!/usr/bin/env bash
# mPanel agent installer: adds this server to a coordinator as a node (kubeadm-join style).
#
#   curl -fsSL https://<coordinator>/install/agent.sh | sudo bash -s -- \
#     --token <join token> --ca-hash sha256:<hex> --roles web,mail
#
# Options:
#   --token T            single-use join token (`POST /api/admin/join-tokens`, or the CLI's
#                        `join-token`); not needed when this node is already enrolled
#   --ca-hash sha256:H   the coordinator CA's fingerprint (`cli.ts ca-hash`); the agent refuses
#                        a coordinator whose CA does not match BEFORE it sends the token
#   --roles a,b          node roles: web, mail, db, dns (default: web)
#   --coordinator H:P    the coordinator's gRPC address (default: filled in by the coordinator
#                        that served this script)
#   --url URL            where the agent bundle is downloaded from (default: likewise)
#   --root DIR           install into DIR as if it were / (images, tests): every path written is
#                        under DIR; apt-get, useradd and systemctl start are skipped there
#   --no-start           enable the unit (systemctl --root enablement) but do not start it
#   --node PATH          a Node 24 binary to use instead of looking for or installing one
#   --insecure-http      allow an http:// --url (tests on loopback only)
#   --backup-ssh-key F   the private key (OpenSSH, no passphrase) this node logs in to an SFTP
#                        backup host with; copied to <state>/backup/sftp-key (mode 0600). The
#                        host itself goes in agent.json: backup.repository.sftp {host, port, user,
#                        path, hostKeys}
#   --uninstall          stop and remove the agent (unit, every bundle version, config); --purge also removes
#                        its state (key, certificate, job journal): the node must enroll again
#
# Re-running is safe: files are replaced, an existing config keeps the operator's edits, an
# enrolled node is not enrolled again. Every failure says what went wrong and what to do.
set -euo pipefail

DEFAULT_URL='@@MPANEL_URL@@'
DEFAULT_COORDINATOR='@@MPANEL_COORDINATOR@@'
BUNDLE_SHA256='@@MPANEL_BUNDLE_SHA256@@'

TOKEN="" CA_HASH="" ROLES="web" COORDINATOR="" URL="" ROOT="/" NO_START=0 NODE_BIN="" INSECURE=0 UNINSTALL=0 PURGE=0 BACKUP_SSH_KEY=""

fail() {
  # fail WHAT WHAT_TO_DO
  printf 'mpanel-agent install: error: %s\n  what to do: %s\n' "$1" "$2" >&2
  exit 1
}
say() { printf 'mpanel-agent install: %s\n' "$*" >&2; }
placeholder() { [[ $1 == @@*@@ ]]; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --token) TOKEN=${2:-}; shift 2 ;;
    --ca-hash) CA_HASH=${2:-}; shift 2 ;;
    --roles) ROLES=${2:-}; shift 2 ;;
    --coordinator) COORDINATOR=${2:-}; shift 2 ;;
    --url) URL=${2:-}; shift 2 ;;
    --root) ROOT=${2:-}; shift 2 ;;
    --node) NODE_BIN=${2:-}; shift 2 ;;
    --no-start) NO_START=1; shift ;;
    --insecure-http) INSECURE=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    --backup-ssh-key) BACKUP_SSH_KEY=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,29p' "${BASH_SOURCE[0]:-/dev/null}" 2>/dev/null || true; exit 0 ;;
    *) fail "unknown option: $1" "run with --help for the options" ;;
  esac
done

[[ -n $URL ]] || placeholder "$DEFAULT_URL" || URL=$DEFAULT_URL
[[ -n $COORDINATOR ]] || placeholder "$DEFAULT_COORDINATOR" || COORDINATOR=$DEFAULT_COORDINATOR
[[ $ROOT == /* ]] || fail "--root must be an absolute path (got '$ROOT')" "pass --root /absolute/dir"
ROOT=${ROOT%/}
FAKE_ROOT=0
[[ -z $ROOT ]] || FAKE_ROOT=1

OPT="$ROOT/opt/mpanel"
ETC="$ROOT/etc/mpanel"
UNIT_DIR="$ROOT/etc/systemd/system"
STATE_DIR="$ROOT/var/lib/mpanel-agent"
CACHE_DIR="$ROOT/var/cache/mpanel-agent"
CONFIG="$ETC/agent.json"

[[ $(id -u) -eq 0 ]] || fail "this installer must run as root" "run it with sudo (… | sudo bash -s -- …)"

systemctl_root() { systemctl --root="${ROOT:-/}" "$@"; }
running_systemd() { [[ $FAKE_ROOT -eq 0 && -d /run/systemd/system ]]; }

if [[ $UNINSTALL -eq 1 ]]; then
  if running_systemd; then systemctl disable --now mpanel-agent.service >/dev/null 2>&1 || true
  else systemctl_root disable mpanel-agent.service >/dev/null 2>&1 || true; fi
  rm -rf "$UNIT_DIR/mpanel-agent.service" "$UNIT_DIR/mpanel-agent.service.d" "$OPT/agent" "$OPT/agent.new" "$OPT/versions" "$CONFIG" "$CACHE_DIR"
  running_systemd && systemctl daemon-reload || true
  if [[ $PURGE -eq 1 ]]; then
    rm -rf "$STATE_DIR"
    say "removed the agent and its state; revoke the node in the panel (Servers) if it still shows"
  else
    say "removed the agent; its identity stays in $STATE_DIR (remove with --uninstall --purge)"
  fi
  exit 0
fi

# 1. The operating system: Debian 12 (what the roles' package names and paths are written for).
if [[ $FAKE_ROOT -eq 0 ]]; then
  # shellcheck disable=SC1091
  . /etc/os-release 2>/dev/null || fail "cannot read /etc/os-release" "install on Debian 12 (bookworm)"
  [[ ${ID:-} == debian && ${VERSION_ID:-} == 12 ]] \
    || fail "unsupported OS: ${PRETTY_NAME:-unknown} (mPanel's roles are written for Debian 12)" "install on Debian 12 (bookworm)"
fi
[[ $(uname -m) == x86_64 || $(uname -m) == aarch64 ]] || fail "unsupported CPU architecture $(uname -m)" "use an x86_64 or arm64 server"

# 2. Arguments.
IFS=, read -r -a ROLE_LIST <<<"$ROLES"
for role in "${ROLE_LIST[@]}"; do
  [[ $role =~ ^(web|mail|db|dns)$ ]] || fail "unknown role '$role'" "pass --roles with a comma-separated list of web, mail, db, dns"
done
address_re='^[][A-Za-z0-9.:-]+:[0-9]{1,5}$'
[[ $COORDINATOR =~ $address_re ]] \
  || fail "missing or bad --coordinator '$COORDINATOR' (host:port of the coordinator's gRPC gateway)" "copy the command the panel shows for a new node"
[[ -n $URL ]] || fail "missing --url (where the agent bundle is downloaded from)" "copy the command the panel shows for a new node"
if [[ $URL == http://* && $INSECURE -eq 0 ]]; then
  fail "refusing to download the agent over plain HTTP ($URL)" "use the coordinator's https:// URL (--insecure-http exists for loopback tests only)"
fi
[[ -z $CA_HASH || $CA_HASH =~ ^sha256:[0-9a-f]{64}$ ]] \
  || fail "bad --ca-hash '$CA_HASH' (expected sha256: and 64 lowercase hex digits)" "copy it from the panel or run 'cli.ts ca-hash' on the coordinator"
if [[ -n $BACKUP_SSH_KEY ]]; then
  [[ -f $BACKUP_SSH_KEY && -r $BACKUP_SSH_KEY ]] || fail "--backup-ssh-key: cannot read '$BACKUP_SSH_KEY'" "pass the path of the private key file"
  command -v ssh-keygen >/dev/null 2>&1 || fail "--backup-ssh-key: OpenSSH's client is not installed (restic's SFTP backend runs ssh)" "apt-get install openssh-client, then re-run"
  # ssh-keygen derives the public key only from a valid private key; -P '' refuses a passphrase
  # (the agent runs ssh in batch mode: nobody could type it).
  ssh-keygen -y -P '' -f "$BACKUP_SSH_KEY" >/dev/null 2>&1 \
    || fail "--backup-ssh-key: '$BACKUP_SSH_KEY' is not an OpenSSH private key without a passphrase" "make one with: ssh-keygen -t ed25519 -N '' -f backup-key, and authorize backup-key.pub on the backup host"
fi

# 3. Debian packages of the roles (skipped in a fake root: nothing can be installed there).
packages=(ca-certificates curl restic)
[[ -z $BACKUP_SSH_KEY ]] || packages+=(openssh-client)
for role in "${ROLE_LIST[@]}"; do
  case $role in
    web) packages+=(nginx php8.2-fpm) ;;
    mail) packages+=(postfix dovecot-imapd dovecot-lmtpd) ;;
    db) packages+=(mariadb-server mariadb-client postgresql postgresql-client) ;;
    dns) packages+=(pdns-server pdns-backend-sqlite3) ;;
  esac
done
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

# 4. Node 24: the one given, a system node 24 if there is one, else npm's `node@24` package
#    into /opt/mpanel/node. A system Node is never replaced: the unit always runs
#    /opt/mpanel/node/bin/node, which points at the chosen binary.
node_major() { "$1" --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }
if [[ -z $NODE_BIN ]]; then
  for candidate in "$OPT/node/bin/node" "$(command -v node || true)"; do
    if [[ -n $candidate && -x $candidate && $(node_major "$candidate") -ge 24 ]]; then NODE_BIN=$candidate; break; fi
  done
fi
mkdir -p "$OPT/node/bin"
if [[ -z $NODE_BIN ]]; then
  command -v npm >/dev/null 2>&1 || {
    [[ $FAKE_ROOT -eq 0 ]] || fail "no Node 24 and no npm to fetch it with" "pass --node /path/to/node24"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null \
      || fail "could not install npm to fetch Node 24" "install Node 24 yourself and pass --node /path/to/node"
  }
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

# 5. The agent bundle (one ESM file + the unit), checked against the hash the coordinator put
#    in this script when it served it.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
protocols="=https"
[[ $INSECURE -eq 0 ]] || protocols="=http,https"
curl -fsSL --proto "$protocols" "$URL/install/agent.tar.gz" -o "$work/agent.tar.gz" \
  || fail "could not download $URL/install/agent.tar.gz" "check that this server reaches the coordinator's URL, then re-run"
if ! placeholder "$BUNDLE_SHA256"; then
  echo "$BUNDLE_SHA256  $work/agent.tar.gz" | sha256sum -c --quiet - >/dev/null 2>&1 \
    || fail "the downloaded bundle's SHA-256 does not match this script's" "download this script again (the coordinator may have been upgraded meanwhile) and re-run"
fi
tar -xzf "$work/agent.tar.gz" -C "$work" || fail "the bundle is not a valid tar.gz" "download this script again and re-run"
VERSION=$("$NODE" -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version' "$work/mpanel-agent/package.json" 2>/dev/null || true)
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]{1,40})?$ ]] \
  || fail "the bundle names no valid version in mpanel-agent/package.json (got '$VERSION')" "download this script again and re-run"
# The layout UPGRADE_AGENT keeps (agent/src/jobs/upgrade.ts): each version in versions/<version>/,
# and the link `agent` (what the unit runs) pointing at one, swapped by rename(2). Re-installing
# the running version replaces its directory; other versions stay for a manual rollback.
mkdir -p "$OPT/versions"
rm -rf "$OPT/versions/.install-$VERSION" "$OPT/versions/.old-$VERSION" "$OPT/agent.new"
mv "$work/mpanel-agent" "$OPT/versions/.install-$VERSION"
[[ ! -e $OPT/versions/$VERSION ]] || mv "$OPT/versions/$VERSION" "$OPT/versions/.old-$VERSION"
mv "$OPT/versions/.install-$VERSION" "$OPT/versions/$VERSION"
rm -rf "$OPT/versions/.old-$VERSION"
# An install from before this layout left `agent` as a plain directory: a link cannot be renamed
# over it, so it goes first.
if [[ -d $OPT/agent && ! -L $OPT/agent ]]; then rm -rf "$OPT/agent"; fi
ln -sfn "versions/$VERSION" "$OPT/agent.new"
mv -fT "$OPT/agent.new" "$OPT/agent"
say "agent $VERSION installed in $OPT/versions/$VERSION ($OPT/agent links to it)"

# 6. Service user (a dns-only node runs the agent as this user) and directories.
if [[ $FAKE_ROOT -eq 1 ]]; then
  say "--root $ROOT: skipping useradd mpanel-agent"
elif ! getent passwd mpanel-agent >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/mpanel-agent --no-create-home --shell /usr/sbin/nologin \
    --comment "mPanel agent" mpanel-agent || fail "useradd mpanel-agent failed" "check /etc/passwd is writable, then re-run"
fi
privileged=0
for role in "${ROLE_LIST[@]}"; do [[ $role == dns ]] || privileged=1; done
install -d -m 0755 "$ETC" "$ROOT/srv/mpanel" "$ROOT/srv/mpanel/pods" "$ROOT/srv/mpanel/acme"
install -d -m 0700 "$STATE_DIR" "$CACHE_DIR" "$ROOT/var/lib/mpanel-agent/backups" "$STATE_DIR/backup"
if [[ -n $BACKUP_SSH_KEY ]]; then
  install -m 0600 "$BACKUP_SSH_KEY" "$STATE_DIR/backup/sftp-key.new" && mv -f "$STATE_DIR/backup/sftp-key.new" "$STATE_DIR/backup/sftp-key"
  say "installed the SFTP backup key as $STATE_DIR/backup/sftp-key"
fi
if [[ $privileged -eq 0 && $FAKE_ROOT -eq 0 ]]; then chown -R mpanel-agent:mpanel-agent "$STATE_DIR" "$CACHE_DIR"; fi

# 7. Config: created once, then only `coordinator`, `roles` and the paths are updated, so the
#    operator's daemon sections survive a re-run.
MPANEL_CONFIG="$CONFIG" MPANEL_ROOT_PREFIX="$ROOT" MPANEL_COORDINATOR="$COORDINATOR" MPANEL_ROLES="$ROLES" "$NODE" --input-type=module -e '
  import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
  const env = process.env;
  const file = env.MPANEL_CONFIG;
  const config = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  const root = env.MPANEL_ROOT_PREFIX;
  config.coordinator = env.MPANEL_COORDINATOR;
  config.roles = env.MPANEL_ROLES.split(",");
  config.stateDir = `${root}/var/lib/mpanel-agent`;
  config.podsRoot ??= `${root}/srv/mpanel/pods`;
  config.acmeWebroot ??= `${root}/srv/mpanel/acme`;
  if (config.roles.includes("web")) config.php ??= {};
  config.backup ??= { repository: `${root}/var/lib/mpanel-agent/backups/restic`, passwordFile: `${root}/etc/mpanel/restic-password`, cacheDir: `${root}/var/cache/mpanel-agent/restic` };
  writeFileSync(`${file}.new`, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o640 });
  renameSync(`${file}.new`, file);
' || fail "could not write $CONFIG" "check that $ETC is writable and holds valid JSON, then re-run"
if [[ ! -s $ETC/restic-password ]]; then
  (umask 077 && head -c 32 /dev/urandom | base64 >"$ETC/restic-password")
  say "made the backup repository password $ETC/restic-password: keep a copy off this server, backups cannot be read without it"
fi
if [[ $privileged -eq 0 && $FAKE_ROOT -eq 0 ]]; then chgrp mpanel-agent "$CONFIG" "$ETC/restic-password" && chmod 0640 "$ETC/restic-password"; fi

# 8. Enrollment (first install only): the agent fetches the coordinator's CA, refuses it unless
#    it matches --ca-hash, and only then sends the token with its CSR.
if [[ -s $STATE_DIR/node-id && -s $STATE_DIR/node.key ]]; then
  say "already enrolled as node $(cat "$STATE_DIR/node-id"); keeping this node's identity"
else
  [[ -n $TOKEN && -n $CA_HASH ]] || fail "this node is not enrolled yet and --token/--ca-hash are missing" "create a join token in the panel (Servers, Add node) and use the command it shows"
  if ! MPANEL_JOIN_TOKEN="$TOKEN" MPANEL_CA_HASH="$CA_HASH" "$NODE" "$OPT/agent/agent.mjs" --config "$CONFIG" --enroll-only >"$work/enroll.out" 2>&1 </dev/null; then
    # The agent logs JSON lines (pino); its last line with a message says why.
    reason=$("$NODE" -e 'const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").reverse();
      for (const line of lines) { try { const l = JSON.parse(line); if (l.msg) { console.log(`${l.code ?? "error"}: ${l.msg}`); process.exit(0); } } catch {} }
      console.log(lines.reverse().join(" "));' "$work/enroll.out" 2>/dev/null || cat "$work/enroll.out")
    case $reason in
      ca_pin_mismatch*) fail "the coordinator at $COORDINATOR presented a CA that does not match --ca-hash; the token was NOT sent ($reason)" \
        "check --coordinator and --ca-hash against the panel (or 'cli.ts ca-hash'); someone may be intercepting the connection" ;;
      token_used*|token_expired*|token_invalid*) fail "the coordinator refused the join token ($reason)" "create a new join token in the panel and re-run with it" ;;
      token_role*) fail "the join token does not allow roles $ROLES ($reason)" "create a token for these roles, or pass the roles it allows" ;;
      *) fail "enrollment failed ($reason)" "check that this server reaches $COORDINATOR (gRPC port open), then re-run" ;;
    esac
  fi
  say "enrolled as node $(tail -n 1 "$work/enroll.out")"
fi

# 9. systemd unit (+ a drop-in narrowing a dns-only node to an unprivileged user), enabled;
#    started unless --no-start or a fake root.
mkdir -p "$UNIT_DIR/mpanel-agent.service.d"
install -m 0644 "$OPT/agent/systemd/mpanel-agent.service" "$UNIT_DIR/mpanel-agent.service"
if [[ $privileged -eq 0 ]]; then
  cat >"$UNIT_DIR/mpanel-agent.service.d/10-roles.conf" <<'EOF'
# Written by install/agent.sh: a dns-only node drives PowerDNS over its HTTP API and needs no privilege.
[Service]
User=mpanel-agent
Group=mpanel-agent
CapabilityBoundingSet=
EOF
else
  rm -f "$UNIT_DIR/mpanel-agent.service.d/10-roles.conf"
fi
if running_systemd && [[ $NO_START -eq 0 ]]; then
  systemctl daemon-reload
  systemctl enable mpanel-agent.service >/dev/null 2>&1 || fail "systemctl enable mpanel-agent failed" "run 'systemctl status mpanel-agent' to see why"
  systemctl restart mpanel-agent.service || fail "the agent did not start" "run 'journalctl -u mpanel-agent -n 50' to see why"
  say "agent running; follow it with: journalctl -u mpanel-agent -f"
else
  systemctl_root enable mpanel-agent.service >/dev/null 2>&1 || fail "systemctl --root=${ROOT:-/} enable mpanel-agent failed" "check $UNIT_DIR/mpanel-agent.service"
  say "agent installed and enabled, not started (start it with: systemctl start mpanel-agent)"
fi
