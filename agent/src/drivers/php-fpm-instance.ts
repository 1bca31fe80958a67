import { mkdir, unlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { fileSize, readAppended } from "./nginx";
import { alive, readPid, signal, until } from "./nginx-instance";
import { PhpFpmConfig, PhpFpmError, socketAnswers } from "./php-fpm";

/**
 * A private php-fpm under its own prefix. Layout: `<prefix>/php-fpm.conf` (main config),
 * `<prefix>/pools/*.conf` (CloudPod pools), `<prefix>/run/pools/<user>.sock` (their sockets),
 * `<prefix>/run/{php-fpm.pid,keepalive.sock}`, `<prefix>/log/php-fpm.log`. All paths absolute.
 */
export interface PrivatePhpFpm {
  prefix: string;
  /** The agent config's `php` section for this instance (defaults applied), ready for createPhpFpm. */
  config: PhpFpmConfig;
  /** Graceful quit (SIGQUIT), then waits for the master to exit (SIGTERM after 10 s). Safe to call twice. */
  stop(): Promise<void>;
  /** Master process id while running, undefined after stop. */
  pid(): number | undefined;
}

const DEFAULT_BINARY = "/usr/sbin/php-fpm8.2";
const DEFAULT_PHP_INI = "/etc/php/8.2/fpm/php.ini";
const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * The main config. php-fpm refuses to start (or reload) with no pool at all ("No pool defined"),
 * so it always defines `keepalive`: ondemand, at most one child, as nobody (when run as root).
 */
function renderMainConf(p: { prefix: string; poolDir: string; pidFile: string; errorLog: string; daemonize: boolean; asRoot: boolean }): string {
  return [
    "; written by mPanel (private php-fpm); CloudPod pools live in the pools directory",
    "[global]",
    `pid = "${p.pidFile}"`,
    `error_log = "${p.errorLog}"`,
    "log_level = notice",
    `daemonize = ${p.daemonize ? "yes" : "no"}`,
    // Only *.conf: the driver's .new files and parked .suspended pools are never loaded.
    `include = ${join(p.poolDir, "*.conf")}`,
    "",
    "[keepalive]",
    ...(p.asRoot ? ["user = nobody", "group = nogroup"] : []),
    `listen = "${join(p.prefix, "run", "keepalive.sock")}"`,
    "listen.mode = 0600",
    "pm = ondemand",
    "pm.max_children = 1",
    "",
  ].join("\n");
}

/**
 * Writes the layout and main config under `prefix` (made absolute; [A-Za-z0-9._/-] only) and
 * starts php-fpm. The prefix and its parents must be traversable (0755) by nginx and by the
 * CloudPod users, or they cannot reach their sockets and homes. Options: `binary` (default
 * /usr/sbin/php-fpm8.2), `phpIni` (default /etc/php/8.2/fpm/php.ini), `nginxUser`/`nginxGroup`
 * (socket owner of every pool, default www-data), `daemon: false` (default: a child in the
 * foreground, killed if this process exits) or `true` (daemonizes and outlives this process).
 * Resolves once the pid file names a live master and the keepalive socket answers (≤ 10 s).
 * Throws PhpFpmError("invalid_argument") for a bad prefix, ("start_failed", output = php-fpm's
 * stderr or error log) when it does not come up.
 */
export async function startPrivatePhpFpm(opts: { prefix: string; binary?: string; phpIni?: string; nginxUser?: string; nginxGroup?: string; daemon?: boolean }): Promise<PrivatePhpFpm> {
  const prefix = resolve(opts.prefix);
  if (!SAFE_PATH.test(prefix)) throw new PhpFpmError("invalid_argument", `unsafe php-fpm prefix: ${JSON.stringify(prefix)}`);
  const confFile = join(prefix, "php-fpm.conf");
  const poolDir = join(prefix, "pools");
  const runDir = join(prefix, "run", "pools");
  const pidFile = join(prefix, "run", "php-fpm.pid");
  const errorLog = join(prefix, "log", "php-fpm.log");
  for (const dir of [poolDir, runDir, join(prefix, "log")]) await mkdir(dir, { recursive: true, mode: 0o755 });
  const daemonize = opts.daemon ?? false;
  await writeFile(confFile, renderMainConf({ prefix, poolDir, pidFile, errorLog, daemonize, asRoot: process.getuid?.() === 0 }), { mode: 0o644 });
  const parsed = PhpFpmConfig.safeParse({
    binary: opts.binary ?? DEFAULT_BINARY,
    confFile,
    phpIni: opts.phpIni ?? DEFAULT_PHP_INI,
    poolDir,
    runDir,
    pidFile,
    errorLog,
    ...(opts.nginxUser ? { nginxUser: opts.nginxUser } : {}),
    ...(opts.nginxGroup ? { nginxGroup: opts.nginxGroup } : {}),
  });
  if (!parsed.success) throw new PhpFpmError("invalid_argument", `invalid php-fpm option: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const config = parsed.data;
  const args = ["-y", confFile, "-c", config.phpIni];

  const stale = await readPid(pidFile);
  if (stale !== undefined && (await alive(stale))) throw new PhpFpmError("start_failed", `php-fpm already running under ${prefix} (pid ${stale})`);
  await unlink(pidFile).catch(() => undefined);
  const logStart = await fileSize(errorLog);
  const keepalive = join(prefix, "run", "keepalive.sock");
  const failed = async (message: string, stderr: string): Promise<never> => {
    throw new PhpFpmError("start_failed", message, stderr.trim() || (await readAppended(errorLog, logStart)));
  };

  let master: number | undefined;
  let exited = false;
  let stderr = "";
  let done: Promise<unknown> = Promise.resolve();
  if (!daemonize) {
    const child = execa(config.binary, ["-F", ...args], { reject: false, stdin: "ignore", stdout: "ignore", cleanup: true });
    done = child.then((r) => {
      exited = true;
      stderr = r.stderr;
    });
    master = child.pid;
  } else {
    const launched = await execa(config.binary, args, { reject: false, stdin: "ignore", timeout: START_TIMEOUT_MS });
    if (launched.failed) return failed("php-fpm failed to start", launched.stderr);
  }
  const ready = await until(START_TIMEOUT_MS, async () => {
    if (exited) return true;
    const pid = await readPid(pidFile);
    if (pid === undefined || (master !== undefined && pid !== master) || !(await alive(pid))) return false;
    master = pid;
    return socketAnswers(keepalive);
  });
  if (exited || !ready || master === undefined) {
    if (master !== undefined && !exited) signal(master, "SIGTERM");
    await done;
    return failed(exited ? "php-fpm exited during start" : "php-fpm did not answer in time", stderr);
  }

  const pid = master;
  let running = true;
  let stopping: Promise<void> | undefined;
  const gone = async () => exited || !(await alive(pid));
  return {
    prefix,
    config,
    pid: () => (running ? pid : undefined),
    stop: () =>
      (stopping ??= (async () => {
        signal(pid, "SIGQUIT");
        if (!(await until(STOP_TIMEOUT_MS, gone))) {
          signal(pid, "SIGTERM");
          await until(STOP_TIMEOUT_MS, gone);
        }
        await done;
        running = false;
      })()),
  };
}
