import { BackupResult, RestoreTestResult } from "@mpanel/proto";
import type { PoolClient } from "pg";
import { auditFromJob, payloadField, type FinishedJob, type JobHook } from "../jobs/hook-kit";

/** The failed job's error code and message, as the runner recorded them. */
async function jobError(client: PoolClient, jobId: string): Promise<{ code: string; message: string }> {
  const { rows } = await client.query<{ error_code: string | null; error_message: string | null }>(`SELECT error_code, error_message FROM jobs WHERE id = $1`, [jobId]);
  return { code: rows[0]?.error_code ?? "failed", message: rows[0]?.error_message ?? "failed" };
}

/**
 * BACKUP_SITE / BACKUP_DATABASE finished. Success: the backup is `succeeded` with its snapshot
 * and size, and the snapshots retention removed on that node become `expired`. Failure: the
 * backup is `failed` with the node's reason and a BACKUP_FAILED audit event flagged
 * `alert: true` (an empty dump, a failed `restic check`: never a silent success).
 */
async function backupFinished(client: PoolClient, job: FinishedJob): Promise<void> {
  const id = payloadField(job.payload, "backupId");
  if (job.success) {
    const result = BackupResult.parse(job.result);
    const { rows } = await client.query<{ server_id: string; kind: string }>(
      `UPDATE backups SET status = 'succeeded', snapshot_id = $2, size_bytes = $3, error = NULL, finished_at = now() WHERE id = $1 RETURNING server_id, kind`,
      [id, result.snapshotId, result.bytes]);
    if (result.forgotten.length > 0 && rows[0]) {
      await client.query(`UPDATE backups SET status = 'expired' WHERE server_id = $1 AND snapshot_id = ANY($2::text[]) AND status = 'succeeded'`, [rows[0].server_id, result.forgotten]);
    }
    await auditFromJob(client, job, "BACKUP_COMPLETED", "backup", id, { snapshotId: result.snapshotId, bytes: result.bytes, expired: result.forgotten.length });
    return;
  }
  const error = await jobError(client, job.id);
  await client.query(`UPDATE backups SET status = 'failed', error = $2, finished_at = now() WHERE id = $1`, [id, `${error.code}: ${error.message}`]);
  await auditFromJob(client, job, "BACKUP_FAILED", "backup", id, { alert: true, code: error.code, message: error.message });
}

/**
 * RESTORE_TEST_BACKUP finished: the restore test is `succeeded` with what the node restored
 * (BACKUP_RESTORE_TEST_PASSED), or `failed` with the node's reason and a
 * BACKUP_RESTORE_TEST_FAILED audit event flagged `alert: true`, the same alert a failed backup
 * raises. Both are filed under the backup tested.
 */
async function restoreTestFinished(client: PoolClient, job: FinishedJob): Promise<void> {
  const id = payloadField(job.payload, "restoreTestId");
  const backupId = payloadField(job.payload, "backupId");
  if (job.success) {
    const result = RestoreTestResult.parse(job.result);
    await client.query(`UPDATE backup_restore_tests SET status = 'succeeded', result = $2, error = NULL, finished_at = now() WHERE id = $1`, [id, JSON.stringify(result)]);
    await auditFromJob(client, job, "BACKUP_RESTORE_TEST_PASSED", "backup", backupId, { restoreTestId: id, ...result });
    return;
  }
  const error = await jobError(client, job.id);
  await client.query(`UPDATE backup_restore_tests SET status = 'failed', error = $2, finished_at = now() WHERE id = $1`, [id, `${error.code}: ${error.message}`]);
  await auditFromJob(client, job, "BACKUP_RESTORE_TEST_FAILED", "backup", backupId, { alert: true, restoreTestId: id, code: error.code, message: error.message });
}

/** What finished backup, restore and restore-test jobs change in the coordinator's records. */
export const backupHooks: Partial<Record<string, JobHook>> = {
  BACKUP_SITE: backupFinished,
  BACKUP_DATABASE: backupFinished,
  async RESTORE_BACKUP(client, job) {
    const id = payloadField(job.payload, "backupId");
    if (job.success) await auditFromJob(client, job, "BACKUP_RESTORED", "backup", id);
    else await auditFromJob(client, job, "BACKUP_RESTORE_FAILED", "backup", id, { alert: true, ...await jobError(client, job.id) });
  },
  RESTORE_TEST_BACKUP: restoreTestFinished,
};
