import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { freePort } from "./free-port";
import { PowerDnsConfig, PowerDnsError } from "./powerdns";

/**
 * A private PowerDNS Authoritative with the gsqlite3 backend, answering DNS on 127.0.0.1:`dnsPort`
 * (UDP and TCP) and its HTTP API on 127.0.0.1:`apiPort`. Layout under `prefix`:
 * `conf/pdns.conf` (mode 0600: it holds the API key), `pdns.sqlite3`, `run/` (control socket),
 * `pdns.log` (the server's stderr).
 */
export interface PrivatePowerDns {
  prefix: string;
  /** The `--config-dir` for pdns_server, pdnsutil and pdns_control. */
  configDir: string;
  dnsPort: number;
  apiPort: number;
  /** The agent's `powerdns` config section, ready to use (random API key, pdnsutil check-zone on this instance). */
  config: PowerDnsConfig;
  /** SIGTERM, then waits for the exit (SIGKILL after 10 s). Safe to call twice. */
  stop(): Promise<void>;
  /** Process id while running, undefined after stop. */
  pid(): number | undefined;
}

const DEFAULT_BINARY = "/usr/sbin/pdns_server";
const SCHEMA = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";
const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 25;

/** pdns.conf per DAEMONS.md: loopback only, no daemonizing, no syslog, API on, no security polling. */
function renderConf(p: { prefix: string; dnsPort: number; apiPort: number; apiKey: string }): string {
  return [
    "# written by mPanel (private PowerDNS Authoritative)",
    "launch=gsqlite3",
    `gsqlite3-database=${join(p.prefix, "pdns.sqlite3")}`,
    "local-address=127.0.0.1",
    `local-port=${p.dnsPort}`,
    `socket-dir=${join(p.prefix, "run")}`,
    "daemon=no",
    "guardian=no",
    "disable-syslog=yes",
    "api=yes",
    `api-key=${p.apiKey}`,
    "webserver=yes",
    "webserver-address=127.0.0.1",
    `webserver-port=${p.apiPort}`,
    "webserver-allow-from=127.0.0.0/8",
    "security-poll-suffix=",
    "disable-axfr=yes",
    "receiver-threads=1",
    "distributor-threads=1",
    "",
  ].join("\n");
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(1_000);
    const end = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.once("connect", () => end(true));
    socket.once("error", () => end(false));
    socket.once("timeout", () => end(false));
  });
}

/**
 * Creates the prefix layout and the sqlite3 database (from the backend's schema, unless
 * `pdns.sqlite3` exists), writes the config and starts `pdns_server --config-dir` as a child of
 * this process (killed if it exits). `dnsPort`/`apiPort` default to free loopback ports;
 * `binary` to /usr/sbin/pdns_server. Resolves once the API answers with the key and the DNS TCP
 * port accepts (≤ 15 s). `prefix` is made absolute and must consist of [A-Za-z0-9._/-].
 * Throws PowerDnsError("invalid_argument") for a bad prefix, PowerDnsError("unavailable",
 * output = the server's log) when it exits or does not answer in time, or what sqlite3 throws.
 */
export async function startPrivatePowerDns(opts: { prefix: string; dnsPort?: number; apiPort?: number; binary?: string }): Promise<PrivatePowerDns> {
  const prefix = resolve(opts.prefix);
  if (!SAFE_PATH.test(prefix)) throw new PowerDnsError("invalid_argument", `unsafe PowerDNS prefix: ${JSON.stringify(prefix)}`);
  const configDir = join(prefix, "conf");
  for (const dir of [configDir, join(prefix, "run")]) await mkdir(dir, { recursive: true, mode: 0o700 });
  const database = join(prefix, "pdns.sqlite3");
  await execa("sqlite3", [database], { inputFile: SCHEMA }).catch(async (error: unknown) => {
    if (!(await readFile(database).then((b) => b.length > 0, () => false))) throw error;
  });
  const dnsPort = opts.dnsPort ?? (await freePort());
  const apiPort = opts.apiPort ?? (await freePort());
  const apiKey = randomBytes(24).toString("base64url");
  await writeFile(join(configDir, "pdns.conf"), renderConf({ prefix, dnsPort, apiPort, apiKey }), { mode: 0o600 });
  const logFile = join(prefix, "pdns.log");

  const child = execa(opts.binary ?? DEFAULT_BINARY, [`--config-dir=${configDir}`], {
    reject: false,
    stdin: "ignore",
    stdout: { file: logFile, append: true },
    stderr: { file: logFile, append: true },
    cleanup: true,
  });
  let exited = false;
  const done = child.then(() => {
    exited = true;
  });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const apiAnswers = async () => {
    const res = await fetch(`${apiUrl}/api/v1/servers/localhost`, { headers: { "X-API-Key": apiKey }, signal: AbortSignal.timeout(1_000) }).catch(() => null);
    return res?.status === 200;
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  let ready = false;
  while (!exited && !ready && Date.now() < deadline) {
    ready = (await apiAnswers()) && (await listening(dnsPort));
    if (!ready) await sleep(POLL_MS);
  }
  if (exited || !ready) {
    if (!exited) child.kill("SIGKILL");
    await done;
    const output = (await readFile(logFile, "utf8").catch(() => "")).trim().split("\n").slice(-20).join("\n");
    throw new PowerDnsError("unavailable", exited ? "pdns_server exited during start" : "pdns_server did not answer in time", output);
  }

  let stopping: Promise<void> | undefined;
  return {
    prefix,
    configDir,
    dnsPort,
    apiPort,
    config: PowerDnsConfig.parse({ apiUrl, apiKey, pdnsutil: { configDir } }),
    pid: () => (exited ? undefined : child.pid),
    stop: () =>
      (stopping ??= (async () => {
        if (exited) return;
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await done;
        clearTimeout(killer);
      })()),
  };
}
