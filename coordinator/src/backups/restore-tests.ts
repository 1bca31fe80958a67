import { randomUUID } from "node:crypto";
import { DbEngine, DbName, type JobInput } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import { withJobs, type Enqueue } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";

/** The advisory lock of the restore-test scheduler: with several replicas one of them starts the test. */
const RESTORE_TEST_LOCK = 7245020;

/** Query of `GET /api/admin/backups/restore-tests`. */
export const RestoreTestListQuery = PageQuery.extend({
  status: z.enum(["pending", "succeeded", "failed"]).optional(),
  backupId: z.uuid().optional(),
});
/** Body of `POST /api/admin/backups/restore-tests`: test this backup now (default: a random succeeded one). */
export const RestoreTestRunInput = z.strictObject({ backupId: z.uuid().optional() });

/** A backup that can be restore-tested, with what its job payload needs. */
interface Testable {
  id: string;
  tenantId: string;
  serverId: string;
  kind: string;
  snapshotId: string | null;
  sizeBytes: bigint | null;
  databaseId: string | null;
}

/** What starting a restore test made. */
export interface StartedRestoreTest {
  restoreTestId: string;
  backupId: string;
  jobId: string;
}

/**
 * Restore tests of backups (issue 7): on a schedule (`everyMs`, checked on the backup
 * scheduler's runs under an advisory lock) a random succeeded backup on a live node is restored
 * by RESTORE_TEST_BACKUP into scratch space on that node and verified (see the agent's
 * `restore-test.ts`). The outcome lands in `backup_restore_tests` through the job hook
 * (`hooks.ts`); a failure is a BACKUP_RESTORE_TEST_FAILED audit event flagged `alert: true`,
 * as a failed backup is. Operators list them and start one now (platform `backups:read` /
 * `backups:manage`).
 */
export function createRestoreTests(deps: { db: Database; wakeups: Wakeups; everyMs: number }) {
  const { db } = deps;
  const { prisma } = db;

  /** Records the test and enqueues its job on the backup's node (one attempt: a verdict, not a retry loop). */
  async function start(tx: Tx, enqueue: Enqueue, backup: Testable, trigger: "schedule" | "manual"): Promise<StartedRestoreTest> {
    if (!backup.snapshotId) throw new AppError("conflict", "the backup has no snapshot");
    const restoreTestId = randomUUID();
    const expectedBytes = backup.sizeBytes && backup.sizeBytes > 0n ? Number(backup.sizeBytes) : null;
    const base = { restoreTestId, backupId: backup.id, snapshotId: backup.snapshotId, expectedBytes };
    let payload: JobInput<"RESTORE_TEST_BACKUP">;
    if (backup.kind === "files") payload = { kind: "files", ...base };
    else {
      const database = await tx.database.findUnique({ where: { id: backup.databaseId ?? "" }, select: { engine: true, name: true } });
      if (!database) throw new AppError("conflict", "the backup's database record is gone: its dump's name is unknown");
      payload = { kind: "database", ...base, engine: DbEngine.parse(database.engine), name: DbName.parse(database.name) };
    }
    await tx.backupRestoreTest.create({ data: { id: restoreTestId, backupId: backup.id, serverId: backup.serverId, trigger } });
    const job = await enqueue({ type: "RESTORE_TEST_BACKUP", payload, tenantId: backup.tenantId, targetServerId: backup.serverId, maxAttempts: 1 });
    await tx.backupRestoreTest.update({ where: { id: restoreTestId }, data: { jobId: job.id } });
    return { restoreTestId, backupId: backup.id, jobId: job.id };
  }

  /** A random succeeded backup whose node is not revoked and whose dump name is known; null when there is none. */
  async function pickRandom(tx: Tx): Promise<Testable | null> {
    const [picked] = await tx.$queryRaw<Array<{ id: string }>>`
      SELECT b.id FROM backups b
        JOIN servers s ON s.id = b.server_id AND s.revoked_at IS NULL
        LEFT JOIN databases d ON d.id = b.database_id
      WHERE b.status = 'succeeded' AND b.snapshot_id IS NOT NULL AND (b.kind = 'files' OR d.id IS NOT NULL)
      ORDER BY random() LIMIT 1`;
    return picked ? tx.backup.findUnique({ where: { id: picked.id } }) : null;
  }

  return {
    /**
     * The scheduler's run: unless a scheduled test started less than `everyMs` ago, starts one
     * on a random succeeded backup (audited BACKUP_RESTORE_TEST_REQUESTED). Under a
     * transaction-level advisory lock, so one replica does it. Returns the test started, or
     * null (not due, another replica holds the lock, or no backup to test).
     */
    async scheduleRestoreTest(everyMs = deps.everyMs): Promise<StartedRestoreTest | null> {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const [lock] = await tx.$queryRaw<Array<{ ok: boolean }>>`SELECT pg_try_advisory_xact_lock(${RESTORE_TEST_LOCK}) AS ok`;
        if (!lock?.ok) return null;
        const last = await tx.backupRestoreTest.findFirst({ where: { trigger: "schedule" }, orderBy: { createdAt: "desc" }, select: { createdAt: true } });
        if (last && last.createdAt.getTime() > Date.now() - everyMs) return null;
        const backup = await pickRandom(tx);
        if (!backup) return null;
        const started = await start(tx, enqueue, backup, "schedule");
        await audit(tx, { action: "BACKUP_RESTORE_TEST_REQUESTED", targetType: "backup", targetId: backup.id, tenantId: backup.tenantId, data: { trigger: "schedule", ...started } });
        return started;
      });
    },

    /** Starts a restore test now: of `backupId` (404 unknown, 409 unless succeeded), or of a random backup (409 when there is none). */
    async runRestoreTest(actor: Actor, input: z.output<typeof RestoreTestRunInput>, requestId: string): Promise<StartedRestoreTest> {
      checkPermission(actor, "backups:manage");
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        let backup: Testable | null;
        if (input.backupId) {
          const found = await tx.backup.findUnique({ where: { id: input.backupId } });
          if (!found) throw new AppError("not_found", "backup not found");
          if (found.status !== "succeeded") throw new AppError("conflict", `backup is ${found.status}; only a succeeded backup can be restore-tested`);
          backup = found;
        } else {
          backup = await pickRandom(tx);
          if (!backup) throw new AppError("conflict", "there is no succeeded backup to test");
        }
        const started = await start(tx, enqueue, backup, "manual");
        await audit(tx, { action: "BACKUP_RESTORE_TEST_REQUESTED", targetType: "backup", targetId: backup.id, tenantId: backup.tenantId, actorUserId: actor.userId, requestId, data: { trigger: "manual", ...started } });
        return started;
      });
    },

    /** Restore tests, newest first, optionally of one status or backup. */
    async listRestoreTests(actor: Actor, q: z.output<typeof RestoreTestListQuery>) {
      checkPermission(actor, "backups:read");
      const where = { ...(q.status ? { status: q.status } : {}), ...(q.backupId ? { backupId: q.backupId } : {}) };
      const [rows, total] = await Promise.all([
        prisma.backupRestoreTest.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }),
        prisma.backupRestoreTest.count({ where }),
      ]);
      return paged(rows, total, q);
    },
  };
}
