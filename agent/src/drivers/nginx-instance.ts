import { existsSync } from "node:fs";
import { mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { fileSize, httpGet, NginxError, readAppended, type NginxDriverConfig } from "./nginx";

/**
 * A private nginx under its own prefix, listening only on 127.0.0.1:`port`.
 * Layout: `<prefix>/conf/nginx.conf`, `<prefix>/sites/*.conf`, `<prefix>/logs/{error.log,access.log,nginx.pid}`,
 * `<prefix>/tmp/*` (temp paths). All paths are absolute.
 */
export interface PrivateNginx {
  prefix: string;
  confFile: string;
  sitesDir: string;
  port: number;
  /** The HTTPS port when one was asked for: sites listen on 127.0.0.1:<tlsPort> ssl; unknown SNI names get the handshake refused. */
  tlsPort?: number;
  /** "http://127.0.0.1:<port>" */
  probeUrl: string;
  /** Ready for createNginx (binary, prefix, confFile, sitesDir, probeUrl, errorLog). */
  driverConfig: NginxDriverConfig;
  /** Graceful quit, then waits for the master to exit (SIGTERM after 10 s). Safe to call twice or after a failed start. */
  stop(): Promise<void>;
  /** Master process id while running, undefined after stop. */
  pid(): number | undefined;
}

const DEFAULT_BINARY = "/usr/sbin/nginx";
const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 20;
const MIME_TYPES = "/etc/nginx/mime.types";

/** A server answering 404 to every host no site claims. */
function catchAll(port: number, flags: string): string[] {
  return ["  server {", `    listen 127.0.0.1:${port}${flags};`, "    server_name _;", "    return 404;", "  }"];
}

/** A TLS `default_server` refusing the handshake for names no site claims (nginx >= 1.19.4), so it needs no certificate. */
function tlsCatchAll(port: number): string[] {
  return ["  server {", `    listen 127.0.0.1:${port} ssl default_server;`, "    server_name _;", "    ssl_reject_handshake on;", "  }"];
}

/** The main config text; every path absolute. */
function renderMainConf(p: { prefix: string; port: number; tlsPort?: number; sitesDir: string; asRoot: boolean; firstSiteIsDefault: boolean }): string {
  const at = (...parts: string[]) => join(p.prefix, ...parts);
  return [
    "# written by mPanel (private nginx); server blocks live in the sites directory",
    // As root the workers would otherwise run as nobody and get 403 on document roots under a 0700 mkdtemp dir.
    ...(p.asRoot ? ["user root;"] : []),
    "worker_processes 1;",
    `pid ${at("logs", "nginx.pid")};`,
    `error_log ${at("logs", "error.log")} notice;`,
    "events {}",
    "http {",
    ...(existsSync(MIME_TYPES) ? [`  include ${MIME_TYPES};`, "  default_type application/octet-stream;"] : []),
    `  access_log ${at("logs", "access.log")};`,
    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${at("tmp", t)};`),
    "  server_names_hash_bucket_size 128;",
    "  server_names_hash_max_size 65536;",
    ...(p.firstSiteIsDefault ? [] : catchAll(p.port, " default_server")),
    ...(p.tlsPort === undefined ? [] : tlsCatchAll(p.tlsPort)),
    // Only *.conf: the driver's <name>.conf.new and .bak files are never loaded.
    `  include ${join(p.sitesDir, "*.conf")};`,
    // Listed after the sites and not marked default: nginx then sends unknown hosts to the first site.
    ...(p.firstSiteIsDefault ? catchAll(p.port, "") : []),
    "}",
    "",
  ].join("\n");
}

/**
 * Creates the prefix layout and writes `<prefix>/conf/nginx.conf` (overwriting it); starts nothing.
 * Unknown hosts get 404 from a catch-all `default_server`; with `firstSiteIsDefault` (the quick
 * start) they go to the first site instead, so its demo site also answers at http://127.0.0.1:<port>/.
 * With `tlsPort`, a TLS catch-all on 127.0.0.1:<tlsPort> refuses unknown names (sites add their own `listen ... ssl`).
 * `prefix` is made absolute and must consist of [A-Za-z0-9._/-]; `port` and `tlsPort` are integers 1..65535;
 * `binary` defaults to /usr/sbin/nginx. Throws NginxError("invalid_argument") or an fs error.
 */
export async function writePrivateNginxConfig(opts: { prefix: string; port: number; tlsPort?: number; binary?: string; firstSiteIsDefault?: boolean }): Promise<Omit<PrivateNginx, "stop" | "pid">> {
  const prefix = resolve(opts.prefix);
  if (!SAFE_PATH.test(prefix)) throw new NginxError("invalid_argument", `unsafe nginx prefix: ${JSON.stringify(prefix)}`);
  for (const port of [opts.port, ...(opts.tlsPort === undefined ? [] : [opts.tlsPort])]) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NginxError("invalid_argument", `invalid port: ${port}`);
  }
  const confFile = join(prefix, "conf", "nginx.conf");
  const sitesDir = join(prefix, "sites");
  for (const dir of ["conf", "sites", "logs", "tmp"]) await mkdir(join(prefix, dir), { recursive: true });
  const asRoot = process.getuid?.() === 0;
  await writeFile(confFile, renderMainConf({ prefix, port: opts.port, ...(opts.tlsPort === undefined ? {} : { tlsPort: opts.tlsPort }), sitesDir, asRoot, firstSiteIsDefault: opts.firstSiteIsDefault ?? false }), { mode: 0o644 });
  const probeUrl = `http://127.0.0.1:${opts.port}`;
  const driverConfig: NginxDriverConfig = {
    binary: opts.binary ?? DEFAULT_BINARY,
    prefix,
    confFile,
    sitesDir,
    probeUrl,
    pidFile: join(prefix, "logs", "nginx.pid"),
    errorLog: join(prefix, "logs", "error.log"),
  };
  return { prefix, confFile, sitesDir, port: opts.port, ...(opts.tlsPort === undefined ? {} : { tlsPort: opts.tlsPort }), probeUrl, driverConfig };
}

/** Whether process `pid` exists and is not a zombie (reads /proc/<pid>/stat). Never throws. */
export async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return !/^\d+ \(.*\) Z/.test(stat);
}

/** Sends `sig` to `pid`, ignoring a process that is already gone. Never throws. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already exited
  }
}

/** The positive integer pid in `pidFile`, or undefined when it is missing or unparsable. Never throws. */
export async function readPid(pidFile: string): Promise<number | undefined> {
  const n = Number.parseInt(await readFile(pidFile, "utf8").catch(() => ""), 10);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Polls `check` every 20 ms until it returns true (→ true) or `ms` milliseconds pass (→ false). Rejects with what `check` throws. */
export async function until(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(POLL_MS);
  }
  return false;
}

/**
 * Writes the config (see writePrivateNginxConfig) and starts nginx on 127.0.0.1:`port`.
 * `daemon: false` (default): a child `nginx -p -c -g "daemon off;"`, killed if this process exits.
 * `daemon: true`: nginx daemonizes and outlives this process (quick start); stop() runs `nginx -s quit`.
 * Resolves once the pid file names the running master and the port answers HTTP (≤ 10 s).
 * Throws NginxError("start_failed", output = nginx stderr, else the error log lines written meanwhile), e.g. when the
 * port is taken or an nginx already runs under this prefix; NginxError("invalid_argument") as above.
 */
export async function startPrivateNginx(opts: { prefix: string; port: number; tlsPort?: number; binary?: string; daemon?: boolean; firstSiteIsDefault?: boolean }): Promise<PrivateNginx> {
  const info = await writePrivateNginxConfig(opts);
  const { prefix, confFile } = info;
  const { binary, errorLog = join(prefix, "logs", "error.log") } = info.driverConfig;
  const pidFile = join(prefix, "logs", "nginx.pid");
  const args = ["-p", prefix, "-c", confFile];
  const stale = await readPid(pidFile);
  if (stale !== undefined && (await alive(stale))) throw new NginxError("start_failed", `nginx already running under ${prefix} (pid ${stale})`);
  await unlink(pidFile).catch(() => undefined);
  const logStart = await fileSize(errorLog);
  const answers = async () => (await httpGet(new URL(info.probeUrl), "localhost", 1_000)) !== null;
  const failed = async (message: string, stderr: string): Promise<never> => {
    const output = stderr.trim() || (await readAppended(errorLog, logStart)); // both hold the same [emerg] lines when stderr has any
    throw new NginxError("start_failed", message, output);
  };

  if (!opts.daemon) {
    const child = execa(binary, [...args, "-g", "daemon off;"], { reject: false, stdin: "ignore", stdout: "ignore", cleanup: true });
    let exited = false;
    const done = child.then((r) => {
      exited = true;
      return r;
    });
    const ready = await until(START_TIMEOUT_MS, async () => exited || ((await readPid(pidFile)) === child.pid && (await answers())));
    if (exited || !ready) {
      if (!exited) child.kill("SIGTERM");
      return failed(exited ? "nginx exited during start" : "nginx did not answer in time", (await done).stderr);
    }
    let stopping: Promise<void> | undefined;
    return {
      ...info,
      pid: () => (exited ? undefined : child.pid),
      stop: () =>
        (stopping ??= (async () => {
          if (exited) return;
          child.kill("SIGQUIT");
          if (!(await until(STOP_TIMEOUT_MS, async () => exited))) child.kill("SIGTERM");
          await done;
        })()),
    };
  }

  const launched = await execa(binary, args, { reject: false, stdin: "ignore", timeout: START_TIMEOUT_MS });
  if (launched.failed) return failed("nginx failed to start", launched.stderr);
  let pid: number | undefined;
  const ready = await until(START_TIMEOUT_MS, async () => {
    pid = await readPid(pidFile);
    return pid !== undefined && (await alive(pid)) && (await answers());
  });
  if (!ready || pid === undefined) {
    if (pid !== undefined) signal(pid, "SIGTERM");
    return failed("nginx did not answer in time", launched.stderr);
  }
  const master = pid;
  let running = true;
  let stopping: Promise<void> | undefined;
  return {
    ...info,
    pid: () => (running ? master : undefined),
    stop: () =>
      (stopping ??= (async () => {
        await execa(binary, [...args, "-s", "quit"], { reject: false, stdin: "ignore", timeout: STOP_TIMEOUT_MS });
        const gone = async () => !(await alive(master)) || (await readPid(pidFile)) !== master;
        if (!(await until(STOP_TIMEOUT_MS, gone))) {
          signal(master, "SIGTERM");
          await until(STOP_TIMEOUT_MS, gone);
        }
        running = false;
      })()),
  };
}
