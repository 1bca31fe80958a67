import { connect } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import type { Logger } from "pino";
import { z } from "zod";
import { createSerializer, placeFile, readOptional } from "./files";
import { fileSize, readAppended } from "./nginx";
import { readPid, until } from "./nginx-instance";

const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;
const SafePath = z.string().regex(SAFE_PATH, "must be an absolute path of A-Z a-z 0-9 . _ / -");
const AccountName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a user or group name");

/**
 * The node's PHP-FPM (web role): one pool per CloudPod, each a file in `poolDir` that the main
 * config includes (`include=<poolDir>/*.conf`). Defaults fit Debian 12's php8.2-fpm; the main
 * config must always define another pool too (Debian's `www`), since php-fpm refuses to start
 * with none. See startPrivatePhpFpm for a private instance.
 */
export const PhpFpmConfig = z.strictObject({
  /** php-fpm executable. */
  binary: SafePath.default("/usr/sbin/php-fpm8.2"),
  /** Main config (`-y`). */
  confFile: SafePath.default("/etc/php/8.2/fpm/php-fpm.conf"),
  /** php.ini (`-c`). */
  phpIni: SafePath.default("/etc/php/8.2/fpm/php.ini"),
  /** Directory of pool files the main config includes as `*.conf`. */
  poolDir: SafePath.default("/etc/php/8.2/fpm/pool.d"),
  /** Directory of the pools' unix sockets (`<runDir>/<systemUser>.sock`); nginx must be able to traverse it. */
  runDir: SafePath.default("/run/php/mpanel"),
  /** The master's pid file (the main config's `pid`); SIGUSR2 goes to that pid. */
  pidFile: SafePath.default("/run/php/php8.2-fpm.pid"),
  /** The main config's `error_log`; the driver reads what a reload appends to it. */
  errorLog: SafePath.default("/var/log/php8.2-fpm.log"),
  /** User and group nginx's workers run as: owner of each pool socket (mode 0660). */
  nginxUser: AccountName.default("www-data"),
  nginxGroup: AccountName.default("www-data"),
  /** `pm.max_children` of each pool (`pm = ondemand`). */
  maxChildren: z.number().int().min(1).max(256).default(5),
  /** How long a reload may take to serve (ms). */
  reloadTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
});
export type PhpFpmConfig = z.infer<typeof PhpFpmConfig>;

/** Why a PHP-FPM operation failed; callers branch on this, never on the message. */
export type PhpFpmErrorCode =
  | "invalid_argument" // bad user name or path
  | "config_rejected" // `php-fpm -t` failed; the previous files are back
  | "reload_failed" // no running master to signal; the previous files are back
  | "not_serving" // signalled, but the new config did not serve in time; the previous files are back
  | "start_failed"; // a private php-fpm did not come up

/** The one error type of the PHP-FPM driver. `output` is php-fpm's own text (stderr or error log lines), or "". */
export class PhpFpmError extends Error {
  override readonly name = "PhpFpmError";
  constructor(readonly code: PhpFpmErrorCode, message: string, readonly output = "", options?: ErrorOptions) {
    super(message, options);
  }
}

/** A CloudPod's pool: it runs as `systemUser` (user and group), confined to `root`. */
export interface PoolSpec {
  /** System user name, /^[a-z][a-z0-9_-]{2,31}$/; also names the pool, its file and its socket. */
  systemUser: string;
  /** The CloudPod root (absolute, [A-Za-z0-9._/-]); `open_basedir`, with `tmp/`, `tmp/sessions/` and `logs/` inside. */
  root: string;
}

/**
 * Converges PHP-FPM on one pool per CloudPod. Every change writes the pool file (via `.new` +
 * rename), runs `php-fpm -t`, reloads the master (SIGUSR2), waits until the error log says
 * "ready to handle connections" and the pool's socket answers (or is gone, for a removal), and
 * on any failure puts the previous files back, reloads again and throws PhpFpmError. Operations
 * of one driver run one after another (in-process mutex).
 */
export interface PhpFpm {
  /** The unix socket of `systemUser`'s pool: `<runDir>/<systemUser>.sock`. Throws PhpFpmError("invalid_argument"). */
  socketPath(systemUser: string): string;
  /** Runs `php-fpm -t`; `output` is its stderr. Never throws for a failing test. */
  test(): Promise<{ ok: boolean; output: string }>;
  /**
   * Ensures the pool file holds the rendered pool. A suspended pool stays suspended (only its
   * parked file is updated, no reload). "unchanged" when the file already holds it and (active
   * pools) its socket answers. Throws PhpFpmError.
   */
  ensurePool(spec: PoolSpec): Promise<"changed" | "unchanged">;
  /**
   * Stops (parks the file as `<file>.suspended`) or restarts the pool of `systemUser`.
   * "absent" when there is no pool. Throws PhpFpmError.
   */
  setSuspended(systemUser: string, suspended: boolean): Promise<"changed" | "unchanged" | "absent">;
  /** Deletes the pool (active or parked); reloads when it was active. Throws PhpFpmError. */
  removePool(systemUser: string): Promise<"removed" | "absent">;
}

const SYSTEM_USER = /^[a-z][a-z0-9_-]{2,31}$/;
const COMMAND_TIMEOUT_MS = 60_000;
const READY_LINE = "ready to handle connections";

/** Whether a unix socket accepts a connection within 1 s (the connection is closed at once). */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path, timeout: 1_000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

/** The pool file text (php-fpm pool directives; paths double-quoted). */
function renderPool(cfg: PhpFpmConfig, spec: PoolSpec, socket: string): string {
  const at = (...parts: string[]) => `"${join(spec.root, ...parts)}"`;
  return [
    `; managed by mPanel: PHP-FPM pool of CloudPod user ${spec.systemUser}; changes here are overwritten`,
    `[mpanel-${spec.systemUser}]`,
    `user = ${spec.systemUser}`,
    `group = ${spec.systemUser}`,
    `listen = "${socket}"`,
    `listen.owner = ${cfg.nginxUser}`,
    `listen.group = ${cfg.nginxGroup}`,
    "listen.mode = 0660",
    "pm = ondemand",
    `pm.max_children = ${cfg.maxChildren}`,
    "pm.process_idle_timeout = 10s",
    "pm.max_requests = 500",
    `chdir = ${at()}`,
    "security.limit_extensions = .php",
    `php_admin_value[open_basedir] = "${join(spec.root)}/"`,
    `php_admin_value[upload_tmp_dir] = ${at("tmp")}`,
    `php_admin_value[sys_temp_dir] = ${at("tmp")}`,
    `php_admin_value[session.save_path] = ${at("tmp", "sessions")}`,
    `php_admin_value[error_log] = ${at("logs", "php-error.log")}`,
    "php_admin_flag[log_errors] = on",
    "",
  ].join("\n");
}

/**
 * Builds a PHP-FPM driver from its (schema-checked) config; starts nothing.
 * `log` receives a child logger's lines (component "php-fpm"); file contents are never logged.
 */
export function createPhpFpm(cfg: PhpFpmConfig, parentLog: Logger): PhpFpm {
  const log = parentLog.child({ component: "php-fpm" });
  const baseArgs = ["-y", cfg.confFile, "-c", cfg.phpIni];

  const serialize = createSerializer();

  const testConfig = async (): Promise<{ ok: boolean; output: string }> => {
    const r = await execa(cfg.binary, ["-t", ...baseArgs], { reject: false, stdin: "ignore", timeout: COMMAND_TIMEOUT_MS });
    const output = r.stderr.trim() || (r.failed && r.exitCode === undefined ? (r.shortMessage ?? "") : "");
    return { ok: !r.failed && r.exitCode === 0, output };
  };

  const files = (systemUser: string) => {
    if (!SYSTEM_USER.test(systemUser)) throw new PhpFpmError("invalid_argument", `invalid system user: ${JSON.stringify(systemUser)}`);
    const active = join(cfg.poolDir, `mpanel-${systemUser}.conf`);
    return { active, parked: `${active}.suspended`, socket: join(cfg.runDir, `${systemUser}.sock`) };
  };

  /** Signals the master to reload; resolves to an error text, or null when it was signalled. */
  const reload = async (): Promise<string | null> => {
    const pid = await readPid(cfg.pidFile);
    if (pid === undefined) return `no php-fpm pid in ${cfg.pidFile}`;
    try {
      process.kill(pid, "SIGUSR2");
      return null;
    } catch (err) {
      return `cannot signal php-fpm (pid ${pid}): ${(err as Error).message}`;
    }
  };

  /**
   * Writes `changes`, tests, reloads and waits for the master to be ready and `served()`; on any
   * failure puts every previous file back, reloads again when it had reloaded, and throws.
   */
  const transact = async (changes: Array<{ path: string; content: string | null }>, served: () => Promise<boolean>): Promise<void> => {
    const previous = await Promise.all(changes.map(async (c) => ({ path: c.path, content: await readOptional(c.path) })));
    const rollback = async (code: PhpFpmErrorCode, message: string, output: string, reloadAgain: boolean): Promise<never> => {
      for (const p of previous) await placeFile(p.path, p.content);
      if (reloadAgain) {
        const again = await reload();
        if (again) log.error({ output: again }, "php-fpm reload after rollback failed");
      }
      log.warn({ files: changes.map((c) => c.path), code, output }, "php-fpm change rolled back");
      throw new PhpFpmError(code, message, output);
    };

    for (const c of changes) await placeFile(c.path, c.content);
    const tested = await testConfig();
    if (!tested.ok) return rollback("config_rejected", `php-fpm rejected the configuration: ${tested.output}`, tested.output, false);

    const logStart = await fileSize(cfg.errorLog);
    const failure = await reload();
    if (failure) return rollback("reload_failed", `php-fpm reload failed: ${failure}`, failure, false);
    const ready = await until(cfg.reloadTimeoutMs, async () => (await readAppended(cfg.errorLog, logStart)).includes(READY_LINE) && (await served()));
    if (!ready) {
      const output = await readAppended(cfg.errorLog, logStart);
      return rollback("not_serving", `php-fpm did not serve the new configuration within ${cfg.reloadTimeoutMs} ms`, output, true);
    }
  };

  return {
    socketPath: (systemUser) => files(systemUser).socket,

    test: () => serialize(testConfig),

    async ensurePool(spec) {
      const f = files(spec.systemUser);
      if (!SAFE_PATH.test(spec.root)) throw new PhpFpmError("invalid_argument", `unsafe pool root: ${JSON.stringify(spec.root)}`);
      const content = renderPool(cfg, spec, f.socket);
      return serialize(async () => {
        const parked = await readOptional(f.parked);
        if (parked !== null) {
          if (parked === content) return "unchanged";
          await placeFile(f.parked, content);
          return "changed";
        }
        if ((await readOptional(f.active)) === content && (await socketAnswers(f.socket))) return "unchanged";
        await transact([{ path: f.active, content }], () => socketAnswers(f.socket));
        log.info({ systemUser: spec.systemUser }, "php-fpm pool applied");
        return "changed";
      });
    },

    async setSuspended(systemUser, suspended) {
      const f = files(systemUser);
      return serialize(async () => {
        const [from, to] = suspended ? [f.active, f.parked] : [f.parked, f.active];
        const content = await readOptional(from);
        if (content === null) return (await readOptional(to)) === null ? "absent" : "unchanged";
        await transact([{ path: to, content }, { path: from, content: null }], async () => (await socketAnswers(f.socket)) !== suspended);
        log.info({ systemUser, suspended }, "php-fpm pool suspension changed");
        return "changed";
      });
    },

    async removePool(systemUser) {
      const f = files(systemUser);
      return serialize(async () => {
        const parked = await readOptional(f.parked);
        const active = await readOptional(f.active);
        if (active === null) {
          await placeFile(f.parked, null);
          return parked === null ? "absent" : "removed";
        }
        await transact([{ path: f.active, content: null }, { path: f.parked, content: null }], async () => !(await socketAnswers(f.socket)));
        log.info({ systemUser }, "php-fpm pool removed");
        return "removed";
      });
    },
  };
}
