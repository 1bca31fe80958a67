import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import pg from "pg";
import { checkPrefixAndPort, superviseChild } from "./child-daemon";
import type { PostgreSqlServerConfig } from "./databases";

/** A running private PostgreSQL: `<prefix>/pgdata` (cluster), `<prefix>/pgrun` (socket dir), `<prefix>/postgresql.log`. */
export interface PrivatePostgreSql {
  prefix: string;
  port: number;
  /** Directory holding `.s.PGSQL.<port>`. */
  socketDir: string;
  /** The `databases.postgresql` config section: superuser `postgres` over TCP 127.0.0.1:<port> with a random password. */
  config: PostgreSqlServerConfig;
  /** SIGINT (fast shutdown), waits for the exit (SIGQUIT after 20 s). Safe to call twice. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
const PG_ROOT = "/usr/lib/postgresql";

/** uid and gid of a system user, from `id`. Throws Error when the user does not exist. */
async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([execa("id", ["-u", name]), execa("id", ["-g", name])]);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/** The bin directory of the newest PostgreSQL under /usr/lib/postgresql (Debian layout). */
async function newestBinDir(): Promise<string> {
  const versions = (await readdir(PG_ROOT).catch(() => [])).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error(`no PostgreSQL found under ${PG_ROOT}`);
  return join(PG_ROOT, versions[0], "bin");
}

/**
 * Starts a private PostgreSQL as in DAEMONS.md. initdb refuses root, so the cluster is made and
 * run as the system user `osUser` (default "postgres"; processes spawned with its uid/gid):
 * `initdb -D <prefix>/pgdata -U postgres -A scram-sha-256 --pwfile` (once; an existing cluster is
 * reused only with the same `superuserPassword`), then `postgres -D ... -c listen_addresses=127.0.0.1
 * -p <port> -k <prefix>/pgrun` as a child of this process (killed if it exits). The prefix is made
 * mode 0711 so `osUser` can traverse it; its parents must already be traversable (e.g. under /tmp).
 * `prefix` must consist of [A-Za-z0-9._/-]; `port` is an integer 1..65535; `binDir` defaults to the
 * newest /usr/lib/postgresql/<n>/bin. Resolves once the superuser can log in over TCP; throws Error
 * with initdb's output or the server log's last lines otherwise (30 s).
 */
export async function startPrivatePostgreSql(opts: { prefix: string; port: number; superuserPassword?: string; osUser?: string; binDir?: string }): Promise<PrivatePostgreSql> {
  const prefix = checkPrefixAndPort("postgresql", opts.prefix, opts.port);
  const owner = await systemUser(opts.osUser ?? "postgres");
  const binDir = opts.binDir ?? (await newestBinDir());
  const dataDir = join(prefix, "pgdata");
  const socketDir = join(prefix, "pgrun");
  const logFile = join(prefix, "postgresql.log");
  const password = opts.superuserPassword ?? randomBytes(18).toString("base64url");
  const asOwner = { ...owner, cwd: socketDir, extendEnv: false, env: { PATH: "/usr/bin:/bin", LC_ALL: "C.UTF-8" }, stdin: "ignore" } as const;

  await mkdir(prefix, { recursive: true });
  await chmod(prefix, 0o711);
  for (const dir of [dataDir, socketDir]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chown(dir, owner.uid, owner.gid);
  }

  if (!(await stat(join(dataDir, "PG_VERSION")).then(() => true, () => false))) {
    const pwFile = join(socketDir, "pwfile");
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    await chown(pwFile, owner.uid, owner.gid);
    const init = await execa(join(binDir, "initdb"), ["-D", dataDir, "-U", "postgres", "-A", "scram-sha-256", `--pwfile=${pwFile}`, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], { ...asOwner, reject: false, all: true });
    await rm(pwFile, { force: true });
    if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.all ?? ""}`);
  }

  const child = execa(
    join(binDir, "postgres"),
    ["-D", dataDir, "-c", "listen_addresses=127.0.0.1", "-p", String(opts.port), "-k", socketDir],
    { ...asOwner, reject: false, stdout: "ignore", stderr: { file: logFile }, cleanup: true },
  );
  const daemon = superviseChild(child, { name: "postgres", stopSignal: "SIGINT", forceSignal: "SIGQUIT", stopTimeoutMs: STOP_TIMEOUT_MS });

  const config: PostgreSqlServerConfig = { host: "127.0.0.1", port: opts.port, user: "postgres", password, database: "postgres" };
  await daemon.waitReady(async () => {
    const client = new pg.Client({ ...config, connectionTimeoutMillis: 1_000 });
    client.on("error", () => undefined);
    const ok = await client.connect().then(() => client.query("SELECT 1")).then(() => true, () => false);
    await client.end().catch(() => undefined);
    return ok;
  }, START_TIMEOUT_MS, logFile);

  return {
    prefix,
    port: opts.port,
    socketDir,
    config,
    stop: daemon.stop,
  };
}
