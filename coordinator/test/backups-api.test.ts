import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import mariadb from "mariadb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { freePort } from "../../agent/src/drivers/free-port";
import { startPrivateMariaDb, type PrivateMariaDb } from "../../agent/src/drivers/mariadb-instance";
import { eventually, prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";
import { auditOf, counts, fields, tenantWithOwner, type TestTenant } from "./support/service-fixtures";

const BACKUP_TABLES = ["backups", "backup_policies"];
const domain = "backup-api.test";

interface BackupRow {
  id: string;
  kind: string;
  status: string;
  snapshotId: string | null;
  sizeBytes: number | null;
  jobId: string;
  error: string | null;
}

describe("backups API: policies, scheduled and manual backups, restore, alerts", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let maria: PrivateMariaDb;
  let a: TestTenant;
  let b: TestTenant;
  let podId = "";
  let databaseId = "";
  let docroot = "";
  let dir = "";

  async function sql<T>(query: string, params: unknown[] = []): Promise<T> {
    const conn = await mariadb.createConnection({ host: "127.0.0.1", port: maria.config.port, user: maria.config.user, password: maria.config.password });
    try {
      return await conn.query<T>(query, params);
    } finally {
      await conn.end();
    }
  }
  const rowCount = async (): Promise<number> => Number((await sql<Array<{ n: bigint }>>("SELECT COUNT(*) AS n FROM shop.orders"))[0]?.n);

  async function backupsOf(jobIds: string[]): Promise<BackupRow[]> {
    for (const jobId of jobIds) await waitForJob(t, jobId, ["succeeded", "failed"], 60_000);
    const res = await t.api("GET", `/api/admin/backups?cloudPodId=${podId}&pageSize=200`);
    expect(res.status).toBe(200);
    return (res.body.data as unknown as BackupRow[]).filter((row) => jobIds.includes(row.jobId));
  }

  beforeAll(async () => {
    // The tests run the backup scheduler and the restore-test scheduler themselves: its timer stays out of the way.
    t = await startTestCoordinator({ MPANEL_BACKUP_SCAN_MS: "3600000" });
    dir = await mkdtemp(join(tmpdir(), "mpanel-backup-api-"));
    maria = await startPrivateMariaDb({ prefix: join(dir, "mariadb"), port: await freePort() });
    await writeFile(join(dir, "restic-password"), randomBytes(24).toString("base64"), { mode: 0o600 });
    node = await prepareWebNode(t, {
      roles: ["web", "db"],
      databases: { mariadb: maria.config },
      backup: { repository: join(dir, "repo"), passwordFile: join(dir, "restic-password"), cacheDir: join(dir, "cache") },
    });
    agent = await startTestAgent(t, node);
    await eventually("the node to announce mariadb", async () => JSON.stringify((await t.api("GET", `/api/admin/servers/${agent.nodeId}`)).body.data?.capabilities).includes("mariadb"));
    a = await tenantWithOwner(t, "Backup Tenant A", "backup-owner-a@example.test");
    b = await tenantWithOwner(t, "Backup Tenant B", "backup-owner-b@example.test");

    const site = await t.api("POST", "/api/admin/websites", { tenantId: a.id, domain });
    expect(site.status).toBe(202);
    expect((await waitForJob(t, String(site.body.data?.jobId))).status).toBe("succeeded");
    podId = (site.body.data?.website as { cloudPodId: string }).cloudPodId;
    const pod = await t.api("GET", `/api/admin/hosting/cloudpods/${podId}`);
    docroot = join(node.config.podsRoot, String(pod.body.data?.systemUser), "sites", domain, "public");
    await writeFile(join(docroot, "order.php"), "<?php echo 'orders';\n");

    const database = await t.api("POST", "/api/admin/hosting/databases", { tenantId: a.id, engine: "mariadb", name: "shop" });
    expect(database.status).toBe(202);
    expect((await waitForJob(t, String(database.body.data?.jobId))).status).toBe("succeeded");
    databaseId = (database.body.data?.database as { id: string }).id;
    await sql("CREATE TABLE shop.orders (id INT PRIMARY KEY, total_minor BIGINT NOT NULL)");
    for (let i = 1; i <= 50; i += 1) await sql("INSERT INTO shop.orders VALUES (?, ?)", [i, i * 1000]);
  });

  afterAll(async () => {
    await agent?.stop();
    await node?.stop();
    await maria?.stop();
    await t?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("refuses a bad policy naming the field, and writes nothing", async () => {
    const before = await counts(t, BACKUP_TABLES);
    const cases: Array<[unknown, string]> = [
      [{ frequencyHours: 0, keepLast: 3 }, "frequencyHours"],
      [{ frequencyHours: 24, keepLast: 0 }, "keepLast"],
      [{ frequencyHours: 24, keepLast: 3, databaseIds: ["not-a-uuid"] }, "databaseIds.0"],
      [{ frequencyHours: 24, keepLast: 3, databaseIds: [b.id] }, "databaseIds.0"],
      [{ frequencyHours: 24, keepLast: 3, shell: "rm -rf /" }, ""],
    ];
    for (const [body, field] of cases) {
      const res = await t.api("PUT", `/api/admin/hosting/cloudpods/${podId}/backup-policy`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      if (field) expect(fields(res.body)).toEqual([field]);
    }
    expect(await counts(t, BACKUP_TABLES)).toEqual(before);
    expect((await t.api("PUT", `/api/admin/hosting/cloudpods/${podId}/backup-policy`, { frequencyHours: 24, keepLast: 3 }, b.ownerToken)).status).toBe(404);
  });

  it("runs a due policy once, backs up files and database, and restores both after damage", async () => {
    const policy = await t.api("PUT", `/api/admin/hosting/cloudpods/${podId}/backup-policy`, { frequencyHours: 24, keepLast: 1, databaseIds: [databaseId] }, a.ownerToken);
    expect(policy.status).toBe(200);
    expect((await auditOf(t, podId)).map((e) => e.action)).toContain("BACKUP_POLICY_SET");
    expect(await t.coordinator.backups.scheduleBackups()).toBe(1);
    expect(await t.coordinator.backups.scheduleBackups()).toBe(0); // next run is a day away
    const jobs = (await t.coordinator.database.db.prisma.backup.findMany({ where: { cloudPodId: podId } })).map((row) => String(row.jobId));
    const backups = await backupsOf(jobs);
    expect(backups.map((row) => [row.kind, row.status]).sort()).toEqual([["database", "succeeded"], ["files", "succeeded"]]);
    for (const row of backups) {
      expect(row.snapshotId).toMatch(/^[0-9a-f]{64}$/);
      expect(row.sizeBytes).toBeGreaterThan(0);
    }

    const original = await readFile(join(docroot, "order.php"), "utf8");
    await writeFile(join(docroot, "order.php"), "<?php echo 'defaced';\n");
    await sql("DELETE FROM shop.orders WHERE id > 10");
    expect(await rowCount()).toBe(10);
    for (const row of backups) {
      const res = await t.api("POST", `/api/admin/backups/${row.id}/restore`, undefined, a.ownerToken);
      expect(res.status).toBe(202);
      expect((await waitForJob(t, String(res.body.data?.jobId), ["succeeded", "failed"], 60_000)).status).toBe("succeeded");
      expect((await auditOf(t, row.id)).map((e) => e.action)).toEqual(["BACKUP_COMPLETED", "BACKUP_RESTORE_REQUESTED", "BACKUP_RESTORED"]);
    }
    expect(await readFile(join(docroot, "order.php"), "utf8")).toBe(original);
    expect(await rowCount()).toBe(50);

    // Another tenant's owner sees none of it.
    const files = backups.find((row) => row.kind === "files");
    expect((await t.api("GET", `/api/admin/backups/${files?.id}`, undefined, b.ownerToken)).status).toBe(404);
    expect((await t.api("POST", `/api/admin/backups/${files?.id}/restore`, undefined, b.ownerToken)).status).toBe(404);
    expect((await t.api("GET", "/api/admin/backups", undefined, b.ownerToken)).body.meta?.total).toBe(0);

    // Retention keeps the last one: a new backup expires the previous snapshots.
    const again = await t.api("POST", `/api/admin/hosting/cloudpods/${podId}/backups`, {}, a.ownerToken);
    expect(again.status).toBe(202);
    const newer = await backupsOf((again.body.data?.backups as Array<{ jobId: string }>).map((x) => x.jobId));
    expect(newer.map((row) => row.status)).toEqual(["succeeded", "succeeded"]);
    for (const row of backups) expect((await t.api("GET", `/api/admin/backups/${row.id}`)).body.data?.status).toBe("expired");
  });

  it("marks a backup whose dump fails as failed, with an alert, and refuses to restore it", async () => {
    await sql("DROP DATABASE shop");
    const res = await t.api("POST", `/api/admin/hosting/cloudpods/${podId}/backups`, { databaseIds: [databaseId] });
    expect(res.status).toBe(202);
    const rows = await backupsOf((res.body.data?.backups as Array<{ jobId: string }>).map((x) => x.jobId));
    const failed = rows.find((row) => row.kind === "database");
    expect(failed).toMatchObject({ status: "failed", snapshotId: null });
    expect(failed?.error).toMatch(/^dump_failed: /);
    const alert = (await auditOf(t, String(failed?.id))).find((e) => e.action === "BACKUP_FAILED");
    expect(alert?.data).toMatchObject({ alert: true, code: "dump_failed" });
    const restore = await t.api("POST", `/api/admin/backups/${failed?.id}/restore`);
    expect(restore.status).toBe(409);
  });

  it("restore-tests a random backup on schedule into scratch space, and alerts when the repository is damaged", async () => {
    const tests = async (query = "") => (await t.api("GET", `/api/admin/backups/restore-tests?pageSize=100${query}`)).body.data as unknown as Array<Record<string, unknown>>;
    const finished = async (started: { restoreTestId: string; jobId: string }) => {
      await waitForJob(t, started.jobId, ["succeeded", "failed"], 60_000);
      const row = (await tests()).find((x) => x.id === started.restoreTestId);
      expect(row).toBeDefined();
      return row ?? {};
    };
    const testable = (await t.coordinator.database.db.prisma.backup.findMany({ where: { status: "succeeded" } }));
    expect(testable.map((row) => row.kind).sort()).toEqual(["database", "files"]);

    // Refused: bad input names the field; a tenant's owner is not an operator; nothing is written.
    const before = await counts(t, ["backup_restore_tests"]);
    const bad = await t.api("POST", "/api/admin/backups/restore-tests", { backupId: "not-a-uuid" });
    expect(bad.status).toBe(400);
    expect(fields(bad.body)).toEqual(["backupId"]);
    expect((await t.api("POST", "/api/admin/backups/restore-tests", {}, a.ownerToken)).status).toBe(403);
    expect((await t.api("GET", "/api/admin/backups/restore-tests", undefined, a.ownerToken)).status).toBe(403);
    expect(await counts(t, ["backup_restore_tests"])).toEqual(before);

    // The scheduler: one test per interval (a day by default), of a random succeeded backup.
    const scheduled = await t.coordinator.backups.scheduleRestoreTest();
    expect(scheduled).not.toBeNull();
    expect(await t.coordinator.backups.scheduleRestoreTest()).toBeNull();
    if (!scheduled) return;
    expect(testable.map((row) => row.id)).toContain(scheduled.backupId);
    expect(await finished(scheduled)).toMatchObject({ status: "succeeded", trigger: "schedule", backupId: scheduled.backupId, error: null });

    // Each kind, on demand: the files restored into scratch space match the snapshot's count and
    // the bytes the backup read; the dump read back from the repository parses and has its size.
    for (const backup of testable) {
      const res = await t.api("POST", "/api/admin/backups/restore-tests", { backupId: backup.id });
      expect(res.status).toBe(202);
      const row = await finished(res.body.data as unknown as { restoreTestId: string; jobId: string });
      expect(row, backup.kind).toMatchObject({ status: "succeeded", trigger: "manual" });
      const result = row.result as { entries: number; bytes: number; expectedEntries: number; expectedBytes: number };
      expect(result.bytes).toBe(Number(backup.sizeBytes));
      expect(result.entries).toBe(result.expectedEntries);
      expect((await auditOf(t, backup.id)).map((e) => e.action)).toContain("BACKUP_RESTORE_TEST_PASSED");
    }
    expect(await readdir(join(node.config.podsRoot, ".mpanel-restore-test"))).toEqual([]);
    expect(await readFile(join(docroot, "order.php"), "utf8")).toBe("<?php echo 'orders';\n");

    // Damage: a data pack of the node's repository disappears (a torn copy, a bad disk).
    const restic = (args: string[]) => execa("restic", ["--repo", join(dir, "repo"), "--password-file", join(dir, "restic-password"), "--no-cache", ...args]);
    const dataPacks: string[] = [];
    for (const index of (await restic(["list", "index"])).stdout.split("\n").filter(Boolean)) {
      const { packs } = JSON.parse((await restic(["cat", "index", index])).stdout) as { packs: Array<{ id: string; blobs: Array<{ type: string }> }> };
      dataPacks.push(...packs.filter((pack) => pack.blobs.every((blob) => blob.type === "data")).map((pack) => pack.id));
    }
    const [victim] = dataPacks;
    expect(victim).toBeDefined();
    await unlink(join(dir, "repo", "data", String(victim).slice(0, 2), String(victim)));

    const damaged = await t.coordinator.backups.scheduleRestoreTest(0);
    expect(damaged).not.toBeNull();
    if (!damaged) return;
    const failed = await finished(damaged);
    expect(failed).toMatchObject({ status: "failed", result: null });
    expect(String(failed.error)).toMatch(/^restic_check_failed: /);
    const alert = (await auditOf(t, damaged.backupId)).find((e) => e.action === "BACKUP_RESTORE_TEST_FAILED");
    expect(alert?.data).toMatchObject({ alert: true, restoreTestId: damaged.restoreTestId, code: "restic_check_failed" });
    expect((await tests("&status=failed")).map((x) => x.id)).toEqual([damaged.restoreTestId]);
  });
});
