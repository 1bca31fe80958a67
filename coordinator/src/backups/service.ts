import { randomUUID } from "node:crypto";
import { BackupRetention, DbEngine, DbName, SystemUser } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, tenantWhere, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import { withJobs, type Enqueue } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { createRestoreTests } from "./restore-tests";

/** Body of `PUT .../cloudpods/:id/backup-policy`: how often (hours), what (the pod's files + `databaseIds`), how many snapshots to keep. */
export const BackupPolicyInput = z.strictObject({
  enabled: z.boolean().default(true),
  frequencyHours: z.number().int().min(1).max(24 * 31),
  keepLast: z.number().int().min(1).max(1000),
  keepDaily: z.number().int().min(0).max(1000).default(0),
  keepWeekly: z.number().int().min(0).max(1000).default(0),
  keepMonthly: z.number().int().min(0).max(1000).default(0),
  databaseIds: z.array(z.uuid()).max(100).default([]),
});
/** Body of `POST .../cloudpods/:id/backups` (run now): the databases to dump besides the files; default: the policy's. */
export const BackupRunInput = z.strictObject({ databaseIds: z.array(z.uuid()).max(100).optional() });
/** Query of `GET /api/admin/backups`. */
export const BackupListQuery = PageQuery.extend({
  tenantId: z.uuid().optional(),
  cloudPodId: z.uuid().optional(),
  status: z.enum(["pending", "succeeded", "failed", "expired"]).optional(),
  kind: z.enum(["files", "database"]).optional(),
});

/** The restic retention of a policy. */
const retentionOf = (p: { keepLast: number; keepDaily: number; keepWeekly: number; keepMonthly: number }) =>
  ({ keepLast: p.keepLast, keepDaily: p.keepDaily, keepWeekly: p.keepWeekly, keepMonthly: p.keepMonthly });

/** A backup row as the API returns it (`sizeBytes` as a number of bytes). */
function shown<T extends { sizeBytes: bigint | null }>(row: T): Omit<T, "sizeBytes"> & { sizeBytes: number | null } {
  return { ...row, sizeBytes: row.sizeBytes === null ? null : Number(row.sizeBytes) };
}

/**
 * Backups of CloudPods (DESIGN section 10): a policy per pod, BACKUP_SITE on the pod's web node
 * and BACKUP_DATABASE on each database's db node into that node's restic repository, a row per
 * snapshot, restores as RESTORE_BACKUP jobs. Outcomes are written by the job hooks
 * (`backups/hooks.ts`); a failed backup is an audit alert, never a silent success. Restore
 * tests of random backups every `restoreTestEveryMs` (ms): `restore-tests.ts`.
 */
export function createBackupService(deps: { db: Database; wakeups: Wakeups; restoreTestEveryMs: number }) {
  const { db } = deps;
  const { prisma } = db;

  /** A live CloudPod of the actor's scope (404 outside it) on which the actor holds `permission`. */
  async function findPod(tx: Tx | Database["prisma"], actor: Actor, id: string, permission: "backups:read" | "backups:manage") {
    const pod = await tx.cloudPod.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, "backups:read") } });
    if (!pod) throw new AppError("not_found", "cloudpod not found");
    checkPermission(actor, permission, pod.tenantId);
    return pod;
  }

  /** The live databases `ids` of `tenantId`; 400 naming `databaseIds.<i>` for any other id. */
  async function tenantDatabases(tx: Tx, tenantId: string, ids: string[]) {
    const rows = await tx.database.findMany({ where: { id: { in: ids }, tenantId, deletedAt: null } });
    const missing = ids.findIndex((id) => !rows.some((row) => row.id === id));
    if (missing >= 0) throw new AppError("validation", "not a database of this CloudPod's tenant", [{ field: `databaseIds.${missing}`, message: "not a database of this CloudPod's tenant" }]);
    return rows;
  }

  /**
   * Records and enqueues one backup of the pod's files and one per database, inside `tx`.
   * Returns the backup ids with their jobs.
   */
  async function enqueueBackups(tx: Tx, enqueue: Enqueue, pod: { id: string; tenantId: string; serverId: string; systemUser: string }, databaseIds: string[], trigger: "schedule" | "manual", retention?: z.input<typeof BackupRetention>) {
    const databases = await tenantDatabases(tx, pod.tenantId, databaseIds);
    const made: Array<{ backupId: string; kind: string; jobId: string }> = [];
    const record = async (kind: "files" | "database", serverId: string, databaseId: string | null, job: (backupId: string) => Promise<{ id: string }>) => {
      const backupId = randomUUID();
      await tx.backup.create({ data: { id: backupId, tenantId: pod.tenantId, cloudPodId: pod.id, kind, databaseId, serverId, trigger } });
      const { id: jobId } = await job(backupId);
      await tx.backup.update({ where: { id: backupId }, data: { jobId } });
      made.push({ backupId, kind, jobId });
    };
    const keep = retention ? { retention } : {};
    await record("files", pod.serverId, null, (backupId) => enqueue({
      type: "BACKUP_SITE", payload: { backupId, cloudPodId: pod.id, systemUser: SystemUser.parse(pod.systemUser), ...keep }, tenantId: pod.tenantId, targetServerId: pod.serverId, maxAttempts: 2,
    }));
    for (const database of databases) {
      await record("database", database.serverId, database.id, (backupId) => enqueue({
        type: "BACKUP_DATABASE", payload: { backupId, databaseId: database.id, engine: DbEngine.parse(database.engine), name: DbName.parse(database.name), ...keep }, tenantId: pod.tenantId, targetServerId: database.serverId, maxAttempts: 2,
      }));
    }
    return made;
  }

  return {
    ...createRestoreTests({ db, wakeups: deps.wakeups, everyMs: deps.restoreTestEveryMs }),

    /** The pod's policy, or null when it has none. */
    async getPolicy(actor: Actor, cloudPodId: string) {
      const pod = await findPod(prisma, actor, cloudPodId, "backups:read");
      return prisma.backupPolicy.findUnique({ where: { cloudPodId: pod.id } });
    },

    /** Creates or replaces the pod's policy; its first scheduled run is due now. 400 on a database of another tenant. */
    async setPolicy(actor: Actor, cloudPodId: string, input: z.output<typeof BackupPolicyInput>, requestId: string) {
      return prisma.$transaction(async (tx) => {
        const pod = await findPod(tx, actor, cloudPodId, "backups:manage");
        await tenantDatabases(tx, pod.tenantId, input.databaseIds);
        const policy = await tx.backupPolicy.upsert({
          where: { cloudPodId: pod.id },
          create: { id: randomUUID(), tenantId: pod.tenantId, cloudPodId: pod.id, ...input, nextRunAt: new Date() },
          update: { ...input, updatedAt: new Date() },
        });
        await audit(tx, { action: "BACKUP_POLICY_SET", targetType: "cloudpod", targetId: pod.id, tenantId: pod.tenantId, actorUserId: actor.userId, requestId, data: input });
        return policy;
      });
    },

    /** Backs the pod up now (files + `databaseIds`, default the policy's), with the policy's retention if it has one. */
    async runNow(actor: Actor, cloudPodId: string, input: z.output<typeof BackupRunInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const pod = await findPod(tx, actor, cloudPodId, "backups:manage");
        const policy = await tx.backupPolicy.findUnique({ where: { cloudPodId: pod.id } });
        const backups = await enqueueBackups(tx, enqueue, pod, input.databaseIds ?? policy?.databaseIds ?? [], "manual", policy ? retentionOf(policy) : undefined);
        await audit(tx, { action: "BACKUP_REQUESTED", targetType: "cloudpod", targetId: pod.id, tenantId: pod.tenantId, actorUserId: actor.userId, requestId, data: { backups } });
        return { backups };
      });
    },

    async list(actor: Actor, q: z.output<typeof BackupListQuery>) {
      const where = {
        ...tenantWhere(actor, "backups:read"),
        ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}),
        ...(q.cloudPodId ? { cloudPodId: q.cloudPodId } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.kind ? { kind: q.kind } : {}),
      };
      const [rows, total] = await Promise.all([prisma.backup.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.backup.count({ where })]);
      return paged(rows.map(shown), total, q);
    },

    async get(actor: Actor, id: string) {
      const row = await prisma.backup.findFirst({ where: { id, ...tenantWhere(actor, "backups:read") } });
      if (!row) throw new AppError("not_found", "backup not found");
      return shown(row);
    },

    /** Restores a succeeded backup on the node that holds it (RESTORE_BACKUP); 409 for any other status. */
    async restore(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const backup = await tx.backup.findFirst({ where: { id, ...tenantWhere(actor, "backups:read") } });
        if (!backup) throw new AppError("not_found", "backup not found");
        checkPermission(actor, "backups:manage", backup.tenantId);
        if (backup.status !== "succeeded" || !backup.snapshotId) throw new AppError("conflict", `backup is ${backup.status}; only a succeeded backup can be restored`);
        const base = { backupId: backup.id, snapshotId: backup.snapshotId };
        let job: { id: string };
        if (backup.kind === "files") {
          const pod = await tx.cloudPod.findFirst({ where: { id: backup.cloudPodId, deletedAt: null } });
          if (!pod) throw new AppError("conflict", "the backup's CloudPod was deleted");
          job = await enqueue({ type: "RESTORE_BACKUP", payload: { kind: "files", ...base, cloudPodId: pod.id, systemUser: SystemUser.parse(pod.systemUser) }, tenantId: backup.tenantId, targetServerId: backup.serverId, maxAttempts: 1 });
        } else {
          const database = await tx.database.findFirst({ where: { id: backup.databaseId ?? "", deletedAt: null } });
          if (!database) throw new AppError("conflict", "the backup's database was deleted");
          job = await enqueue({ type: "RESTORE_BACKUP", payload: { kind: "database", ...base, databaseId: database.id, engine: DbEngine.parse(database.engine), name: DbName.parse(database.name) }, tenantId: backup.tenantId, targetServerId: backup.serverId, maxAttempts: 1 });
        }
        await audit(tx, { action: "BACKUP_RESTORE_REQUESTED", targetType: "backup", targetId: backup.id, tenantId: backup.tenantId, actorUserId: actor.userId, requestId, data: { jobId: job.id, kind: backup.kind } });
        return { backupId: backup.id, jobId: job.id };
      });
    },

    /**
     * The scheduler's run: enqueues the backups of every enabled policy that is due (at most
     * `limit`) and moves its next run `frequencyHours` on, under a transaction-level advisory
     * lock so one coordinator replica does it. Returns how many policies ran.
     */
    async scheduleBackups(limit = 100): Promise<number> {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const [lock] = await tx.$queryRaw<Array<{ ok: boolean }>>`SELECT pg_try_advisory_xact_lock(7245010) AS ok`;
        if (!lock?.ok) return 0;
        const due = await tx.$queryRaw<Array<{ id: string }>>`
          SELECT b.id FROM backup_policies b JOIN cloud_pods p ON p.id = b.cloud_pod_id AND p.deleted_at IS NULL
          WHERE b.enabled AND b.next_run_at <= now() ORDER BY b.next_run_at LIMIT ${limit} FOR UPDATE OF b SKIP LOCKED`;
        for (const { id } of due) {
          const policy = await tx.backupPolicy.findUniqueOrThrow({ where: { id } });
          const pod = await tx.cloudPod.findUniqueOrThrow({ where: { id: policy.cloudPodId } });
          const live = await tx.database.findMany({ where: { id: { in: policy.databaseIds }, deletedAt: null }, select: { id: true } });
          const backups = await enqueueBackups(tx, enqueue, pod, live.map((d) => d.id), "schedule", retentionOf(policy));
          await tx.backupPolicy.update({ where: { id }, data: { nextRunAt: new Date(Date.now() + policy.frequencyHours * 3_600_000) } });
          await audit(tx, { action: "BACKUP_REQUESTED", targetType: "cloudpod", targetId: pod.id, tenantId: pod.tenantId, data: { trigger: "schedule", backups } });
        }
        return due.length;
      });
    },
  };
}

export type BackupService = ReturnType<typeof createBackupService>;
