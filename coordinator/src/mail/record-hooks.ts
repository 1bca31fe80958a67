import type { AuditAction } from "../audit";
import { auditFromJob, payloadField, type FinishedJob, type JobHook } from "../jobs/hook-kit";
import type { PoolClient } from "pg";

/** Tables of the hosting services whose rows follow their jobs (`status`, `deleted_at`). */
export type RecordTable = "mail_domains" | "mailboxes" | "mail_aliases" | "databases" | "database_users";

/** Which record a job type changes and the audit actions of its outcomes. */
export interface RecordHookSpec {
  table: RecordTable;
  /** Payload field holding the record's id (e.g. `mailboxId`). */
  idField: string;
  /** `target_type` of the audit events (e.g. `mailbox`). */
  targetType: string;
  succeeded: AuditAction;
  failed: AuditAction;
}

/** Marks the record `failed` (unless already deleted) and audits `spec.failed` with the job type. */
async function recordFailure(client: PoolClient, job: FinishedJob, spec: RecordHookSpec, id: string): Promise<void> {
  await client.query(`UPDATE ${spec.table} SET status = 'failed' WHERE id = $1 AND deleted_at IS NULL`, [id]);
  await auditFromJob(client, job, spec.failed, spec.targetType, id, { jobType: job.type });
}

/**
 * The hook of a job that creates or updates a record: on success the record becomes `status(job)`
 * (default `active`), unless it is being deleted or another job for it is still queued or
 * running (the last one decides); on failure it becomes `failed`. Either way one audit event.
 */
export function applyHook(spec: RecordHookSpec, status: (job: FinishedJob) => string = () => "active"): JobHook {
  return async (client, job) => {
    const id = payloadField(job.payload, spec.idField);
    if (!job.success) return recordFailure(client, job, spec, id);
    await client.query(
      `UPDATE ${spec.table} SET status = $2 WHERE id = $1 AND deleted_at IS NULL AND status <> 'deleting'
         AND NOT EXISTS (SELECT 1 FROM jobs WHERE status IN ('queued', 'running') AND payload->>$3 = $1::text)`,
      [id, status(job), spec.idField],
    );
    await auditFromJob(client, job, spec.succeeded, spec.targetType, id, { phase: "applied" });
  };
}

/** The hook of a job that deletes a record: success sets `deleted` and `deleted_at`, failure `failed`; one audit event. */
export function deleteHook(spec: RecordHookSpec): JobHook {
  return async (client, job) => {
    const id = payloadField(job.payload, spec.idField);
    if (!job.success) return recordFailure(client, job, spec, id);
    await client.query(`UPDATE ${spec.table} SET status = 'deleted', deleted_at = now() WHERE id = $1 AND deleted_at IS NULL`, [id]);
    await auditFromJob(client, job, spec.succeeded, spec.targetType, id, { phase: "applied" });
  };
}
