import type { PoolClient } from "pg";

/** A finished job as its hook sees it (inside the transaction that records the outcome). */
export interface FinishedJob {
  id: string;
  type: string;
  payload: unknown;
  tenant_id: string | null;
  success: boolean;
  result?: unknown;
}

type Hook = (client: PoolClient, job: FinishedJob) => Promise<void>;

function field(payload: unknown, key: string): string {
  const value = (payload as Record<string, unknown> | null)?.[key];
  if (typeof value !== "string") throw new Error(`job payload lacks ${key}`);
  return value;
}

async function auditRow(client: PoolClient, job: FinishedJob, action: string, targetType: string, targetId: string): Promise<void> {
  await client.query(
    `INSERT INTO audit_events (tenant_id, action, target_type, target_id, data) VALUES ($1, $2, $3, $4, $5)`,
    [job.tenant_id, action, targetType, targetId, JSON.stringify({ jobId: job.id })],
  );
}

/**
 * What a finished job changes in the coordinator's records, by job type: the status of the
 * CloudPod or website it provisioned, plus the matching audit event. Runs in the same
 * transaction as the job's final status.
 */
export const jobHooks: Partial<Record<string, Hook>> = {
  async CREATE_CLOUDPOD(client, job) {
    const id = field(job.payload, "cloudPodId");
    await client.query(`UPDATE cloud_pods SET status = $2 WHERE id = $1 AND status = 'provisioning'`, [id, job.success ? "active" : "failed"]);
    if (job.success) await auditRow(client, job, "CLOUDPOD_PROVISIONED", "cloudpod", id);
  },
  async CREATE_WEBSITE(client, job) {
    const id = field(job.payload, "websiteId");
    await client.query(`UPDATE websites SET status = $2 WHERE id = $1 AND status = 'provisioning'`, [id, job.success ? "active" : "failed"]);
    await auditRow(client, job, job.success ? "WEBSITE_PROVISIONED" : "WEBSITE_FAILED", "website", id);
  },
  async DELETE_WEBSITE(client, job) {
    const id = field(job.payload, "websiteId");
    if (job.success) {
      await client.query(`UPDATE websites SET status = 'deleted', deleted_at = now() WHERE id = $1`, [id]);
      await auditRow(client, job, "WEBSITE_DELETED", "website", id);
    } else await client.query(`UPDATE websites SET status = 'failed' WHERE id = $1`, [id]);
  },
  async DELETE_CLOUDPOD(client, job) {
    const id = field(job.payload, "cloudPodId");
    if (job.success) {
      await client.query(`UPDATE websites SET status = 'deleted', deleted_at = now() WHERE cloud_pod_id = $1 AND deleted_at IS NULL`, [id]);
      await client.query(`UPDATE cloud_pods SET status = 'deleted', deleted_at = now() WHERE id = $1`, [id]);
      await auditRow(client, job, "CLOUDPOD_DELETED", "cloudpod", id);
    } else await client.query(`UPDATE cloud_pods SET status = 'failed' WHERE id = $1`, [id]);
  },
};
