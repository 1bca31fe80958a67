import { createHash, randomBytes, randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, truncate, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import type { BackupResult, RestoreTestResult } from "@mpanel/proto";
import { execa } from "execa";
import mariadb from "mariadb";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobError, runJob, tree } from "./support/job-kit";
import { parseAgentConfig, type AgentConfig } from "../src/config";
import { freePort } from "../src/drivers/free-port";
import { startPrivateMariaDb, type PrivateMariaDb } from "../src/drivers/mariadb-instance";
import { startPrivatePostgreSql, type PrivatePostgreSql } from "../src/drivers/postgresql-instance";
import { lookupSystemUser, removeSystemUser } from "../src/drivers/system-users";
import type { JobContext } from "../src/jobs/define";
import { docRoot, podRoot } from "../src/jobs/web/paths";
import { closeServices, createServices } from "../src/services";

const log = pino({ level: "silent" });
const suffix = randomBytes(4).toString("hex");
const systemUser = `mpbk${suffix}`;
const cloudPodId = randomUUID();
const domain = "backup-site.test";
const dbName = `shop_${suffix}`;
const ids = { mariadb: randomUUID(), postgresql: randomUUID() };
const events: string[] = [];

/** Row count and a checksum of every row, as the engine returns them in key order. */
interface Table {
  count: number;
  checksum: string;
}
const digest = (rows: unknown[]): Table => ({
  count: rows.length,
  checksum: createHash("sha256").update(JSON.stringify(rows, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value))).digest("hex"),
});

describe("backups: restic snapshots of a CloudPod's files and its MariaDB and PostgreSQL databases", () => {
  let prefix: string;
  let maria: PrivateMariaDb;
  let postgres: PrivatePostgreSql;
  let config: AgentConfig;
  let ctx: JobContext;
  let sites: string;
  const contexts: JobContext[] = [];

  const contextFor = (overrides: Record<string, unknown> = {}): JobContext => {
    const c = parseAgentConfig({ ...baseConfig(), ...overrides });
    const made = { config: c, services: createServices(c, log), event: (_level: string, message: string) => events.push(message), log, signal: new AbortController().signal };
    contexts.push(made);
    return made;
  };
  const baseConfig = () => ({
    coordinator: "127.0.0.1:1",
    roles: ["web", "db"],
    stateDir: join(prefix, "state"),
    podsRoot: join(prefix, "pods"),
    acmeWebroot: join(prefix, "acme"),
    databases: { mariadb: maria.config, postgresql: postgres.config },
    backup: { repository: join(prefix, "repo"), passwordFile: join(prefix, "restic-password"), cacheDir: join(prefix, "restic-cache") },
  });

  async function mariaQuery<T>(sql: string, params: unknown[] = []): Promise<T> {
    const conn = await mariadb.createConnection({ host: "127.0.0.1", port: maria.config.port, user: maria.config.user, password: maria.config.password, database: dbName });
    try {
      return await conn.query<T>(sql, params);
    } finally {
      await conn.end();
    }
  }
  async function pgQuery<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ host: "127.0.0.1", port: postgres.config.port, user: postgres.config.user, password: postgres.config.password, database: dbName });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }
  const mariaTable = async (): Promise<Table> => digest(await mariaQuery<unknown[]>("SELECT id, name, price_minor, note FROM products ORDER BY id"));
  const pgTable = async (): Promise<Table> => digest(await pgQuery("SELECT id, name, price_minor, note FROM products ORDER BY id"));

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), "mpanel-backup-"));
    await chmod(prefix, 0o755); // the PostgreSQL server's user must traverse it
    await writeFile(join(prefix, "restic-password"), randomBytes(24).toString("base64"), { mode: 0o600 });
    [maria, postgres] = await Promise.all([
      startPrivateMariaDb({ prefix: join(prefix, "mariadb"), port: await freePort() }),
      startPrivatePostgreSql({ prefix: join(prefix, "postgresql"), port: await freePort() }),
    ]);
    ctx = contextFor();
    config = ctx.config;

    await runJob(ctx, "CREATE_CLOUDPOD", { cloudPodId, systemUser, php: false });
    const account = await lookupSystemUser(systemUser);
    if (!account) throw new Error("the CloudPod's user was not created");
    sites = join(podRoot(config, systemUser), "sites");
    const root = docRoot(config, systemUser, domain);
    await mkdir(join(root, "assets"), { recursive: true });
    await writeFile(join(root, "index.php"), "<?php echo 'shop';\n");
    await writeFile(join(root, "assets", "logo.bin"), randomBytes(200_000));
    await writeFile(join(root, "config.php"), "<?php $secret = 'x';\n", { mode: 0o600 });
    await symlink("index.php", join(root, "home.php"));
    await execa("chown", ["-R", "--no-dereference", `${account.uid}:${account.gid}`, join(sites, domain)]);

    for (const engine of ["mariadb", "postgresql"] as const) await runJob(ctx, "CREATE_DB", { databaseId: ids[engine], engine, name: dbName });
    await mariaQuery("CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, price_minor BIGINT NOT NULL, note TEXT)");
    await pgQuery("CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, price_minor BIGINT NOT NULL, note TEXT)");
    for (let i = 1; i <= 300; i += 1) {
      const row = [i, `product ${i} 'quoted' \\ ünïcode`, i * 199, i % 7 === 0 ? null : randomBytes(40).toString("hex")];
      await mariaQuery("INSERT INTO products VALUES (?, ?, ?, ?)", row);
      await pgQuery("INSERT INTO products VALUES ($1, $2, $3, $4)", row);
    }
  });

  afterAll(async () => {
    for (const made of contexts) await closeServices(made.services);
    await Promise.all([maria?.stop(), postgres?.stop()]);
    await removeSystemUser(systemUser).catch(() => undefined);
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("backs up files and both databases, then restores identical content after damage", async () => {
    const filesBefore = await tree(sites);
    const [mariaBefore, pgBefore] = [await mariaTable(), await pgTable()];
    expect(mariaBefore.count).toBe(300);
    expect(pgBefore.count).toBe(300);

    const filesBackup = randomUUID();
    const files = await runJob(ctx, "BACKUP_SITE", { backupId: filesBackup, cloudPodId, systemUser }) as BackupResult;
    expect(files.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(files.bytes).toBeGreaterThan(200_000);
    const dumps: Record<string, BackupResult & { backupId: string }> = {};
    for (const engine of ["mariadb", "postgresql"] as const) {
      const backupId = randomUUID();
      dumps[engine] = { backupId, ...await runJob(ctx, "BACKUP_DATABASE", { backupId, databaseId: ids[engine], engine, name: dbName }) as BackupResult };
      expect(dumps[engine].bytes).toBeGreaterThan(0);
    }
    // Running a backup again (a re-delivered job) reuses its snapshot instead of making another.
    expect((await runJob(ctx, "BACKUP_SITE", { backupId: filesBackup, cloudPodId, systemUser }) as BackupResult).snapshotId).toBe(files.snapshotId);

    const root = docRoot(config, systemUser, domain);
    await unlink(join(root, "assets", "logo.bin"));
    await writeFile(join(root, "index.php"), "<?php echo 'defaced';\n");
    await writeFile(join(root, "dropped.php"), "<?php system($_GET['c']);\n");
    await mariaQuery("DELETE FROM products WHERE id > 100");
    await mariaQuery("UPDATE products SET price_minor = 0");
    await pgQuery("DELETE FROM products WHERE id % 2 = 0");
    await pgQuery("UPDATE products SET note = 'gone'");
    expect(await tree(sites)).not.toEqual(filesBefore);
    expect((await mariaTable()).count).toBe(100);
    expect((await pgTable()).count).toBe(150);

    await runJob(ctx, "RESTORE_BACKUP", { kind: "files", backupId: filesBackup, snapshotId: files.snapshotId, cloudPodId, systemUser });
    for (const engine of ["mariadb", "postgresql"] as const) {
      const dump = dumps[engine];
      if (!dump) throw new Error(`no ${engine} backup`);
      await runJob(ctx, "RESTORE_BACKUP", { kind: "database", backupId: dump.backupId, snapshotId: dump.snapshotId, databaseId: ids[engine], engine, name: dbName });
    }
    expect(await tree(sites)).toEqual(filesBefore);
    expect(await mariaTable()).toEqual(mariaBefore);
    expect(await pgTable()).toEqual(pgBefore);
    expect(await readdir(join(config.podsRoot, ".mpanel-restore"))).toEqual([]);
  });

  it("restore-tests a files snapshot and both kinds of dump without touching live data, and catches a size mismatch", async () => {
    const filesBefore = await tree(sites);
    const [mariaBefore, pgBefore] = [await mariaTable(), await pgTable()];
    const restoreTestId = randomUUID();
    const filesBackup = randomUUID();
    const files = await runJob(ctx, "BACKUP_SITE", { backupId: filesBackup, cloudPodId, systemUser }) as BackupResult;
    const tested = await runJob(ctx, "RESTORE_TEST_BACKUP", { kind: "files", restoreTestId, backupId: filesBackup, snapshotId: files.snapshotId, expectedBytes: files.bytes }) as RestoreTestResult;
    // Every entry of the snapshot's tree (the parents of the pod's absolute path included) and every byte the backup read.
    expect(tested.bytes).toBe(files.bytes);
    expect(tested.expectedEntries).toBe(tested.entries);
    expect(tested.entries).toBe(Object.keys(filesBefore).length + relative("/", sites).split("/").length - 1);
    for (const engine of ["mariadb", "postgresql"] as const) {
      const backupId = randomUUID();
      const dump = await runJob(ctx, "BACKUP_DATABASE", { backupId, databaseId: ids[engine], engine, name: dbName }) as BackupResult;
      const result = await runJob(ctx, "RESTORE_TEST_BACKUP", { kind: "database", restoreTestId: randomUUID(), backupId, snapshotId: dump.snapshotId, engine, name: dbName, expectedBytes: dump.bytes, readDataSubset: "100%" }) as RestoreTestResult;
      expect(result, engine).toEqual({ entries: 1, bytes: dump.bytes, expectedEntries: 1, expectedBytes: dump.bytes });
      // A dump of another size than the backup recorded fails the test.
      const mismatch = await jobError(runJob(ctx, "RESTORE_TEST_BACKUP", { kind: "database", restoreTestId: randomUUID(), backupId, snapshotId: dump.snapshotId, engine, name: dbName, expectedBytes: dump.bytes + 1 }));
      expect(mismatch.code).toBe("restore_test_mismatch");
    }
    const wrongFiles = await jobError(runJob(ctx, "RESTORE_TEST_BACKUP", { kind: "files", restoreTestId: randomUUID(), backupId: filesBackup, snapshotId: files.snapshotId, expectedBytes: files.bytes - 1 }));
    expect(wrongFiles.code).toBe("restore_test_mismatch");
    expect(wrongFiles.message).toMatch(/bytes restored, expected/);
    const missing = await jobError(runJob(ctx, "RESTORE_TEST_BACKUP", { kind: "files", restoreTestId: randomUUID(), backupId: filesBackup, snapshotId: "0".repeat(64), expectedBytes: null }));
    expect(missing.code).toBe("snapshot_not_found");
    // Live data untouched, scratch space gone.
    expect(await tree(sites)).toEqual(filesBefore);
    expect(await mariaTable()).toEqual(mariaBefore);
    expect(await pgTable()).toEqual(pgBefore);
    expect(await readdir(join(config.podsRoot, ".mpanel-restore-test"))).toEqual([]);
  });

  it("fails a backup whose dump is empty, cut off or not a dump, and keeps no snapshot of it", async () => {
    const tools = join(prefix, "tools");
    await mkdir(tools, { recursive: true });
    const script = async (name: string, body: string): Promise<string> => {
      const path = join(tools, name);
      await writeFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      return path;
    };
    const cases = [
      { engine: "mariadb" as const, tool: { mariadbDump: await script("empty-dump", "exit 0") }, code: "dump_empty" },
      { engine: "mariadb" as const, tool: { mariadbDump: await script("cut-dump", '/usr/bin/mariadb-dump "$@" | head -c 400') }, code: "dump_invalid" },
      { engine: "postgresql" as const, tool: { pgDump: await script("garbage-dump", "echo 'PGDMP this is not an archive'") }, code: "dump_invalid" },
      { engine: "postgresql" as const, tool: { pgDump: await script("failing-dump", "echo 'pg_dump: error: connection refused' >&2; exit 1") }, code: "dump_failed" },
    ];
    for (const { engine, tool, code } of cases) {
      const bad = contextFor({ backup: { ...baseConfig().backup, ...tool } });
      const backupId = randomUUID();
      const error = await jobError(runJob(bad, "BACKUP_DATABASE", { backupId, databaseId: ids[engine], engine, name: dbName }));
      expect(error.code, `${engine} ${code}`).toBe(code);
      expect(error.retryable).toBe(false);
      expect(await bad.services.backup?.snapshots([`backup:${backupId}`])).toEqual([]);
    }
  });

  it("applies retention after a successful backup", async () => {
    const kept: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      await writeFile(join(docRoot(config, systemUser, domain), "counter.txt"), String(i));
      const result = await runJob(ctx, "BACKUP_SITE", { backupId: randomUUID(), cloudPodId, systemUser, retention: { keepLast: 2 } }) as BackupResult;
      kept.push(result.snapshotId);
    }
    const left = (await ctx.services.backup?.snapshots([`cloudpod:${cloudPodId}`]))?.map((s) => s.id);
    expect(left).toEqual(kept.slice(-2));
  });

  it("fails the backup when restic check finds the repository damaged", async () => {
    const damaged = contextFor({ backup: { ...baseConfig().backup, repository: join(prefix, "repo-damaged") } });
    // Data of another directory: the pod's next backup has no parent snapshot whose trees restic
    // would read (and retry on, for minutes) from the damaged packs.
    const other = join(prefix, "other-data");
    await mkdir(other, { recursive: true });
    await writeFile(join(other, "data.bin"), randomBytes(50_000));
    await damaged.services.backup?.ensureRepository();
    await damaged.services.backup?.backupPaths([other], ["mpanel", "test"]);
    // Cut off the packs that hold file data (a full disk, a torn copy): restic check compares
    // pack sizes with the index. (Damaged tree packs would make restic retry reads for minutes.)
    const repo = join(prefix, "repo-damaged");
    const restic = (args: string[]) => execa("restic", ["--repo", repo, "--password-file", join(prefix, "restic-password"), "--no-cache", ...args]);
    const dataPacks: string[] = [];
    for (const index of (await restic(["list", "index"])).stdout.split("\n").filter(Boolean)) {
      const { packs } = JSON.parse((await restic(["cat", "index", index])).stdout) as { packs: Array<{ id: string; blobs: Array<{ type: string }> }> };
      dataPacks.push(...packs.filter((pack) => pack.blobs.every((blob) => blob.type === "data")).map((pack) => pack.id));
    }
    expect(dataPacks.length).toBeGreaterThan(0);
    for (const pack of dataPacks) {
      const file = join(repo, "data", pack.slice(0, 2), pack);
      await truncate(file, Math.floor((await stat(file)).size / 2));
    }
    const error = await jobError(runJob(damaged, "BACKUP_SITE", { backupId: randomUUID(), cloudPodId, systemUser }));
    expect(error.code).toBe("restic_check_failed");
  });
});
