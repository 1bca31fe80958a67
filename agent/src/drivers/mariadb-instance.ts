import { randomBytes } from "node:crypto";
import { mkdir, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import mariadb from "mariadb";
import { checkPrefixAndPort, superviseChild } from "./child-daemon";
import type { MariaDbServerConfig } from "./databases";

/** A running private MariaDB: `<prefix>/data` (datadir), `<prefix>/mysqld.sock`, `<prefix>/error.log`. */
export interface PrivateMariaDb {
  prefix: string;
  port: number;
  socketPath: string;
  /** The `databases.mariadb` config section: root over TCP 127.0.0.1:<port> with a random password. */
  config: MariaDbServerConfig;
  /** SIGTERM (clean shutdown), waits for the exit (SIGKILL after 20 s). Safe to call twice. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
/** Small InnoDB files and pool: a test server, not a production one. */
const SMALL_SERVER = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M"];

/**
 * Starts a private MariaDB as in DAEMONS.md: `mariadb-install-db --no-defaults
 * --auth-root-authentication-method=normal` into `<prefix>/data` (once; an existing datadir is
 * reused only with the same `rootPassword`), then `mariadbd --no-defaults --user=root
 * --bind-address=127.0.0.1 --port --socket --skip-name-resolve` as a child of this process
 * (killed if it exits). On first start sets root's password (random unless `rootPassword` is
 * given) for `root@localhost` and `root@127.0.0.1` and drops the other root accounts.
 * `prefix` must consist of [A-Za-z0-9._/-]; `port` is an integer 1..65535. Resolves once root can
 * log in over TCP; throws Error with the server's error log when it exits or does not answer in 30 s.
 */
export async function startPrivateMariaDb(opts: { prefix: string; port: number; rootPassword?: string }): Promise<PrivateMariaDb> {
  const prefix = checkPrefixAndPort("mariadb", opts.prefix, opts.port);
  const dataDir = join(prefix, "data");
  const socketPath = join(prefix, "mysqld.sock");
  const errorLog = join(prefix, "error.log");
  const password = opts.rootPassword ?? randomBytes(18).toString("base64url");
  await mkdir(prefix, { recursive: true });

  const fresh = !(await stat(join(dataDir, "mysql")).then(() => true, () => false));
  if (fresh) {
    const installed = await execa("mariadb-install-db", ["--no-defaults", `--datadir=${dataDir}`, "--auth-root-authentication-method=normal", "--skip-test-db", ...SMALL_SERVER], { reject: false, stdin: "ignore", all: true });
    if (installed.exitCode !== 0) throw new Error(`mariadb-install-db failed: ${installed.all ?? ""}`);
  }

  const child = execa(
    "mariadbd",
    ["--no-defaults", `--datadir=${dataDir}`, "--user=root", "--bind-address=127.0.0.1", `--port=${opts.port}`, `--socket=${socketPath}`, "--skip-name-resolve", `--log-error=${errorLog}`, `--pid-file=${join(prefix, "mysqld.pid")}`, ...SMALL_SERVER],
    { reject: false, stdin: "ignore", stdout: "ignore", stderr: "ignore", cleanup: true },
  );
  const daemon = superviseChild(child, { name: "mariadbd", stopSignal: "SIGTERM", forceSignal: "SIGKILL", stopTimeoutMs: STOP_TIMEOUT_MS });

  // First start: root has no password yet and is reached over the socket.
  const login = fresh ? { socketPath, user: "root" } : { host: "127.0.0.1", port: opts.port, user: "root", password };
  await daemon.waitReady(async () => {
    const conn = await mariadb.createConnection({ ...login, connectTimeout: 1_000 }).catch(() => null);
    if (!conn) return false;
    try {
      if (fresh) {
        await conn.query("ALTER USER 'root'@'localhost', 'root'@'127.0.0.1' IDENTIFIED BY ?", [password]);
        await conn.query("DROP USER IF EXISTS 'root'@'::1', ?@?", ["root", hostname()]);
      }
    } finally {
      await conn.end();
    }
    return true;
  }, START_TIMEOUT_MS, errorLog);

  return {
    prefix,
    port: opts.port,
    socketPath,
    config: { host: "127.0.0.1", port: opts.port, user: "root", password, userHost: "%" },
    stop: daemon.stop,
  };
}
