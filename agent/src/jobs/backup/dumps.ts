import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import type { DbEngine } from "@mpanel/proto";
import type { BackupConfig } from "../../drivers/restic";
import { requireService } from "../../services";
import { JobError, type JobContext } from "../define";

/** A database tool invocation: binary, argument array, environment (passwords) and its temp files' cleanup. */
export interface DbCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** The name a database's dump has inside its snapshot: `/<engine>-<name>.sql` (MariaDB) or `.dump` (PostgreSQL custom format). */
export function dumpFilename(engine: DbEngine, name: string): string {
  return `${engine}-${name}.${engine === "mariadb" ? "sql" : "dump"}`;
}

/** A MariaDB option-file value in double quotes (MariaDB "Option Files": `\` and `"` escaped). */
const optionValue = (value: string): string => `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/**
 * The dump (`mode: "dump"`) or restore (`"restore"`) command of database `name` (schema-checked)
 * with this node's admin account (`databases.<engine>` section):
 * - MariaDB: `mariadb-dump --single-transaction --routines --triggers --events --hex-blob <name>`
 *   / `mariadb <name>`; the credentials go in a 0600 `--defaults-extra-file` (never on the command line).
 * - PostgreSQL: `pg_dump -Fc <name>` / `pg_restore --clean --if-exists --single-transaction
 *   --exit-on-error -d <name>` (reads the archive from stdin); the password goes in PGPASSWORD.
 * Throws JobError("service_not_configured") when the node has no such engine configured.
 */
export async function databaseCommand(ctx: JobContext, tools: BackupConfig, engine: DbEngine, name: string, mode: "dump" | "restore"): Promise<DbCommand> {
  requireService(ctx.services, "databases");
  if (engine === "mariadb") {
    const server = ctx.config.databases?.mariadb;
    if (!server) throw new JobError("service_not_configured", "this node has no mariadb configured", false);
    const dir = await mkdtemp(join(tmpdir(), "mpanel-dump-"));
    const file = join(dir, "client.cnf");
    const lines = ["[client]", `user=${optionValue(server.user)}`, ...(server.password ? [`password=${optionValue(server.password)}`] : []),
      ...(server.socketPath ? [`socket=${optionValue(server.socketPath)}`] : [`host=${optionValue(server.host)}`, `port=${server.port}`, "protocol=TCP"])];
    await writeFile(file, `${lines.join("\n")}\n`, { mode: 0o600 });
    const cleanup = () => rm(dir, { recursive: true, force: true });
    return mode === "dump"
      ? { file: tools.mariadbDump, args: [`--defaults-extra-file=${file}`, "--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", "--", name], env: {}, cleanup }
      : { file: tools.mariadbClient, args: [`--defaults-extra-file=${file}`, "--batch", "--", name], env: {}, cleanup };
  }
  const server = ctx.config.databases?.postgresql;
  if (!server) throw new JobError("service_not_configured", "this node has no postgresql configured", false);
  const connection = ["--host", server.socketPath ?? server.host, "--port", String(server.port), "--username", server.user, "--no-password"];
  const env: Record<string, string> = server.password ? { PGPASSWORD: server.password } : {};
  const cleanup = async () => undefined;
  return mode === "dump"
    ? { file: tools.pgDump, args: [...connection, "--format=custom", "--dbname", name], env, cleanup }
    : { file: tools.pgRestore, args: [...connection, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname", name], env, cleanup };
}

/**
 * mariadb-dump's first line (`-- MariaDB dump 10.19 ...`, or `-- MySQL dump` from older tools),
 * after the sandbox-mode comment line (`/*M!999999\- enable the sandbox mode ...`) that
 * MariaDB 10.11.8+ puts first.
 */
const MARIADB_DUMP_HEADER = /^(?:\/\*M!999999\\- enable the sandbox mode \*\/[ \t]*\r?\n)?-- (?:MariaDB|MySQL) dump /;

/**
 * A pass-through stream that measures a dump on its way to restic: byte count, its first bytes
 * and its last bytes, so a dump can be judged without a second read.
 */
export class DumpInspector extends Transform {
  bytes = 0;
  private head = Buffer.alloc(0);
  private tail = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.head.length < 256) this.head = Buffer.concat([this.head, chunk]).subarray(0, 256);
    this.tail = Buffer.concat([this.tail, chunk]).subarray(-256);
    done(null, chunk);
  }

  /**
   * Why this dump is not a complete dump of `engine`, or null when it looks complete: MariaDB's
   * starts with mariadb-dump's header line and ends with its `-- Dump completed` trailer (a
   * cut-off dump has none); PostgreSQL's custom format starts with the `PGDMP` magic (pg_dump's
   * archive header).
   */
  problem(engine: DbEngine): string | null {
    if (engine === "mariadb") {
      if (!MARIADB_DUMP_HEADER.test(this.head.toString("utf8"))) return "the dump does not start with mariadb-dump's '-- MariaDB dump' header (not a dump)";
      return this.tail.toString("utf8").includes("-- Dump completed") ? null : "the dump does not end with mariadb-dump's '-- Dump completed' trailer (cut off or not a dump)";
    }
    return this.head.subarray(0, 5).toString("latin1") === "PGDMP" ? null : "the dump does not start with pg_dump's PGDMP archive header (not a custom-format dump)";
  }
}
