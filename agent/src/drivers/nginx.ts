import { open, readFile, stat } from "node:fs/promises";
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import type { Logger } from "pino";
import { createSerializer, placeFile, readOptional } from "./files";

/**
 * How the agent reaches one nginx instance (the system one or a private one).
 * All paths are absolute. `probeUrl` must be `http:` (no trailing path), e.g. "http://127.0.0.1:8080".
 */
export interface NginxDriverConfig {
  /** nginx executable, e.g. "/usr/sbin/nginx". */
  binary: string;
  /** Passed as `-p` when set (private instance). */
  prefix?: string;
  /** Main config, passed as `-c`. */
  confFile: string;
  /** Directory of server block files; the main conf must include only `<sitesDir>/*.conf`. */
  sitesDir: string;
  /** Base URL of nginx's HTTP listener; the driver sends `Host:` itself. */
  probeUrl: string;
  /** Milliseconds to wait for a reload to serve the new config (default 10000). */
  reloadTimeoutMs?: number;
  /** Milliseconds the probe must keep giving the expected answer before a change counts as served (default 300; see waitFor). */
  settleMs?: number;
  /**
   * The master's pid file (the main config's `pid`). When set, a reload is SIGHUP sent to that
   * pid (what `nginx -s reload` does, without parsing the whole configuration a second time:
   * with 10,000 server blocks that parse costs about a second); otherwise `nginx -s reload`.
   */
  pidFile?: string;
  /** nginx's error log; when set, what nginx appends to it during a failed reload goes into NginxError.output. */
  errorLog?: string;
}

/** Why an nginx operation failed; callers branch on this, never on the message. */
export type NginxErrorCode =
  | "invalid_argument" // bad file name, prefix, port or probe URL
  | "config_rejected" // `nginx -t` failed; the previous file is back
  | "reload_failed" // `nginx -s reload` exited non-zero (e.g. nginx not running); the previous file is back
  | "not_serving" // reloaded, but the probe never saw the expected answer in time; the previous file is back
  | "start_failed" // a private nginx did not come up
  | "command_failed"; // nginx could not be run, or printed something unexpected

/** The one error type of the nginx driver. `output` is nginx's own text (stderr or error log lines), or "". */
export class NginxError extends Error {
  override readonly name = "NginxError";
  readonly code: NginxErrorCode;
  readonly output: string;

  constructor(code: NginxErrorCode, message: string, output = "", options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.output = output;
  }
}

/** Identifies which server block the probe should hit (`host`) and which revision it must answer. */
export interface NginxProbe {
  host: string;
  revision: string;
}

/**
 * Converges one nginx on desired server block files. Every operation of one driver runs after the
 * previous one finished (in-process mutex). Every file name must match
 * /^[a-z0-9][a-z0-9._-]{0,200}\.conf$/ (a bare name inside `sitesDir`).
 */
export interface Nginx {
  /** Version from `nginx -v`, e.g. "1.22.1"; null when the binary cannot be run. Throws NginxError("command_failed") on unparsable output. */
  version(): Promise<string | null>;
  /** Runs `nginx -t` with `-p`/`-c`; `output` is nginx's stderr. Never throws for a failing test. */
  test(): Promise<{ ok: boolean; output: string }>;
  /**
   * Writes `content` as `sitesDir/fileName`, tests, reloads and waits until
   * `GET {probeUrl}/.well-known/mpanel-revision` with `Host: probe.host` answers `probe.revision`.
   * Returns "unchanged" when the file already holds `content` and the probe already answers.
   * `probe.host` is a host name (optionally :port), `probe.revision` 1..256 characters.
   * Throws NginxError ("invalid_argument" | "config_rejected" | "reload_failed" | "not_serving");
   * on every failure after writing, the previous file (or no file) is restored and nginx reloaded.
   */
  apply(fileName: string, content: string, probe: NginxProbe): Promise<"changed" | "unchanged">;
  /**
   * Deletes `sitesDir/fileName`, tests, reloads and waits until the probe no longer answers the
   * revision (`probe.revision`, or whatever it answered with 200 before the removal).
   * Returns "absent" when there was no file. Throws and restores like `apply`.
   */
  remove(fileName: string, probe: { host: string; revision?: string }): Promise<"removed" | "absent">;
}

const FILE_NAME = /^[a-z0-9][a-z0-9._-]{0,200}\.conf$/;
const PROBE_HOST = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}(:\d{1,5})?$/;
const MAX_REVISION_LENGTH = 256;
const COMMAND_TIMEOUT_MS = 60_000;
const PROBE_REQUEST_TIMEOUT_MS = 1_000;
const PROBE_INTERVAL_MS = 20;
const PROBE_BODY_LIMIT = 4_096;

/**
 * One HTTP GET on a fresh connection (no keep-alive, so an old worker never answers twice).
 * Returns the status and body (first 4 KiB), or null on any network error or timeout.
 * node:http is used instead of fetch because Node's fetch silently replaces a `Host` header.
 */
export function httpGet(url: URL, host: string, timeoutMs: number): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const onResponse = (res: IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < PROBE_BODY_LIMIT) body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: body.slice(0, PROBE_BODY_LIMIT) }));
      res.on("error", () => resolve(null));
    };
    let req: ClientRequest;
    try {
      req = request(url, { headers: { host }, agent: false, signal: AbortSignal.timeout(timeoutMs) }, onResponse);
    } catch {
      return resolve(null); // e.g. a header value Node refuses
    }
    req.on("error", () => resolve(null));
    req.end();
  });
}

/** Size of a file in bytes; 0 when it is missing or unreadable. */
export async function fileSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

/** Text of `path` from byte offset `from` (at most 16 KiB, UTF-8, trimmed), e.g. log lines appended since a fileSize(); "" on any error. */
export async function readAppended(path: string, from: number): Promise<string> {
  try {
    const fh = await open(path, "r");
    try {
      const buf = Buffer.alloc(16_384);
      const { bytesRead } = await fh.read(buf, 0, buf.length, from);
      return buf.subarray(0, bytesRead).toString("utf8").trim();
    } finally {
      await fh.close();
    }
  } catch {
    return "";
  }
}

/**
 * Builds an nginx driver. Throws NginxError("invalid_argument") when `probeUrl` is not an http: URL.
 * `log` receives a child logger's lines (component "nginx"); content is never logged.
 */
export function createNginx(cfg: NginxDriverConfig, parentLog: Logger): Nginx {
  const log = parentLog.child({ component: "nginx" });
  const probeUrl = new URL("/.well-known/mpanel-revision", cfg.probeUrl);
  if (probeUrl.protocol !== "http:") throw new NginxError("invalid_argument", "probeUrl must be an http: URL");
  const timeoutMs = cfg.reloadTimeoutMs ?? 10_000;
  const settleMs = cfg.settleMs ?? 300;
  const baseArgs = [...(cfg.prefix ? ["-p", cfg.prefix] : []), "-c", cfg.confFile];

  const serialize = createSerializer();

  const run = async (args: string[]): Promise<{ ok: boolean; output: string }> => {
    const r = await execa(cfg.binary, [...baseArgs, ...args], { reject: false, stdin: "ignore", timeout: COMMAND_TIMEOUT_MS });
    const output = r.stderr.trim() || (r.failed && r.exitCode === undefined ? (r.shortMessage ?? "") : "");
    return { ok: !r.failed && r.exitCode === 0, output };
  };

  const testConfig = () => run(["-t"]);

  /** Tells the master to reload (nginx control signals: HUP): by signal when the pid file is known, else `nginx -s reload`. */
  const reload = async (): Promise<{ ok: boolean; output: string }> => {
    if (!cfg.pidFile) return run(["-s", "reload"]);
    const pid = Number.parseInt(await readFile(cfg.pidFile, "utf8").catch(() => ""), 10);
    if (!Number.isInteger(pid) || pid <= 0) return { ok: false, output: `no nginx master pid in ${cfg.pidFile}` };
    try {
      process.kill(pid, "SIGHUP");
      return { ok: true, output: "" };
    } catch (error) {
      return { ok: false, output: `cannot signal nginx master ${pid}: ${(error as Error).message}` };
    }
  };

  const pathOf = (fileName: string): string => {
    if (!FILE_NAME.test(fileName)) throw new NginxError("invalid_argument", `invalid server block file name: ${JSON.stringify(fileName)}`);
    return join(cfg.sitesDir, fileName);
  };

  const checkProbe = (probe: { host: string; revision?: string }): void => {
    if (!PROBE_HOST.test(probe.host)) throw new NginxError("invalid_argument", `invalid probe host: ${JSON.stringify(probe.host)}`);
    const r = probe.revision;
    if (r !== undefined && (r.length === 0 || r.length > MAX_REVISION_LENGTH)) throw new NginxError("invalid_argument", "probe revision must be 1..256 characters");
  };

  /**
   * Polls the probe until `done(answer)` has held on every request for `settleMs` (false if it
   * never first holds within `timeoutMs`). One success is not enough: after a reload nginx keeps
   * the old workers accepting for about 100 ms while the new ones start, so answers alternate.
   */
  const waitFor = async (host: string, done: (a: { status: number; body: string } | null) => boolean): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    let since: number | undefined;
    for (;;) {
      const started = Date.now();
      const left = deadline + settleMs - started;
      if (left <= 0 || (since === undefined && started >= deadline)) return false;
      if (!done(await httpGet(probeUrl, host, Math.min(PROBE_REQUEST_TIMEOUT_MS, left)))) since = undefined;
      else if (Date.now() - (since ??= started) >= settleMs) return true;
      await sleep(PROBE_INTERVAL_MS);
    }
  };

  /**
   * Tests and reloads the config now on disk, then waits for `served`. On any failure puts
   * `previous` back at `path`, reloads again (best effort) and throws.
   */
  const activate = async (path: string, previous: string | null, host: string, served: (a: { status: number; body: string } | null) => boolean): Promise<void> => {
    const rollback = async (code: NginxErrorCode, message: string, output: string, reloadAgain: boolean): Promise<never> => {
      await placeFile(path, previous);
      if (reloadAgain) {
        const again = await reload();
        if (!again.ok) log.error({ file: path, output: again.output }, "nginx reload after rollback failed");
      }
      log.warn({ file: path, code, output }, "nginx change rolled back");
      throw new NginxError(code, message, output);
    };

    const tested = await testConfig();
    if (!tested.ok) return rollback("config_rejected", "nginx rejected the configuration", tested.output, false);

    const logStart = cfg.errorLog ? await fileSize(cfg.errorLog) : 0;
    const reloaded = await reload();
    if (!reloaded.ok) return rollback("reload_failed", "nginx reload failed", reloaded.output, true);

    if (!(await waitFor(host, served))) {
      const output = cfg.errorLog ? await readAppended(cfg.errorLog, logStart) : "";
      return rollback("not_serving", `nginx did not serve the new configuration within ${timeoutMs} ms`, output, true);
    }
  };

  return {
    async version() {
      const r = await execa(cfg.binary, ["-v"], { reject: false, stdin: "ignore", timeout: COMMAND_TIMEOUT_MS });
      if (r.failed && r.exitCode === undefined) return null;
      const m = /nginx\/(\d+\.\d+\.\d+)/.exec(r.stderr);
      if (!m?.[1]) throw new NginxError("command_failed", "unexpected output from nginx -v", r.stderr);
      return m[1];
    },

    test: () => serialize(testConfig),

    async apply(fileName, content, probe) {
      const path = pathOf(fileName);
      checkProbe(probe);
      return serialize(async () => {
        const previous = await readOptional(path);
        const answers = (a: { status: number; body: string } | null) => a?.status === 200 && a.body === probe.revision;
        if (previous === content && answers(await httpGet(probeUrl, probe.host, PROBE_REQUEST_TIMEOUT_MS))) return "unchanged";
        await placeFile(path, content);
        await activate(path, previous, probe.host, answers);
        log.info({ file: fileName, host: probe.host, revision: probe.revision }, "nginx server block applied");
        return "changed";
      });
    },

    async remove(fileName, probe) {
      const path = pathOf(fileName);
      checkProbe(probe);
      return serialize(async () => {
        const previous = await readOptional(path);
        if (previous === null) return "absent";
        let revision = probe.revision;
        if (revision === undefined) {
          const before = await httpGet(probeUrl, probe.host, PROBE_REQUEST_TIMEOUT_MS);
          if (before?.status === 200) revision = before.body;
        }
        await placeFile(path, null);
        await activate(path, previous, probe.host, (a) => a !== null && !(a.status === 200 && a.body === revision));
        log.info({ file: fileName, host: probe.host }, "nginx server block removed");
        return "removed";
      });
    },
  };
}
