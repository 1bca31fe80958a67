import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config";
import { openDatabase, type Database } from "./client";
import { startEmbeddedPostgres } from "./embedded";
import { migrate } from "./migrate";

/** An open database plus whatever must stop with it (the embedded server, when this process started it). */
export interface DatabaseHandle {
  db: Database;
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * The URL of the embedded PostgreSQL in `dataDir` when a process (the running coordinator)
 * has it up on 127.0.0.1:`port`, else null. Never starts it.
 */
export async function runningEmbeddedUrl(dataDir: string, port: number): Promise<string | null> {
  try {
    const pid = Number((await readFile(join(dataDir, "pg", "postmaster.pid"), "utf8")).split("\n")[0]);
    process.kill(pid, 0);
    const password = (await readFile(join(dataDir, "pg-password"), "utf8")).trim();
    return `postgresql://mpanel:${encodeURIComponent(password)}@127.0.0.1:${port}/mpanel`;
  } catch {
    return null;
  }
}

/**
 * Opens the configured database and applies pending migrations: `DATABASE_URL` when set;
 * otherwise the embedded PostgreSQL in the data dir, joining it when another process (the
 * running coordinator) already started it, else starting it here.
 */
export async function connectDatabase(config: Config, log: Logger): Promise<DatabaseHandle> {
  let url = config.DATABASE_URL ?? (await runningEmbeddedUrl(config.MPANEL_DATA_DIR, config.MPANEL_EMBEDDED_PG_PORT));
  let stopEmbedded: (() => Promise<void>) | null = null;
  if (!url) {
    const embedded = await startEmbeddedPostgres(config.MPANEL_DATA_DIR, config.MPANEL_EMBEDDED_PG_PORT, log);
    url = embedded.url;
    stopEmbedded = embedded.stop;
  }
  const db = openDatabase(url);
  try {
    await migrate(db.pool, log);
  } catch (error) {
    await db.close();
    await stopEmbedded?.();
    throw error;
  }
  return {
    db,
    url,
    embedded: !config.DATABASE_URL,
    async close() {
      await db.close();
      await stopEmbedded?.();
    },
  };
}
