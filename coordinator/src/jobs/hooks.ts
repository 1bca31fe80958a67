import { backupHooks } from "../backups/hooks";
import { databasesHooks } from "../databases/hooks";
import { dnsHooks } from "../dns/hooks";
import { mailHooks } from "../mail/hooks";
import { tlsHooks } from "../tls/hooks";
import type { PoolClient } from "pg";
import { auditFromJob as auditRow, payloadField as field, type FinishedJob, type JobHook } from "./hook-kit";
import type { JobTarget } from "./wakeups";

/**
 * What a finished job changes in the coordinator's records, by job type: the status of the
 * CloudPod or website it provisioned, plus the matching audit event. Runs in the same
 * transaction as the job's final status.
 */
const webHooks: Partial<Record<string, JobHook>> = {
  async CREATE_CLOUDPOD(client, job) {
    const id = field(job.payload, "cloudPodId");
    if (job.success) await auditRow(client, job, "CLOUDPOD_PROVISIONED", "cloudpod", id);
    else await auditRow(client, job, "CLOUDPOD_FAILED", "cloudpod", id);
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

/** Every job type's hook, from each capability. */
export const jobHooks: Partial<Record<string, JobHook>> = { ...webHooks, ...dnsHooks, ...mailHooks, ...databasesHooks, ...tlsHooks, ...backupHooks };

/**
 * The CloudPod status that follows its workflow's jobs: `error` when a step failed, `running`
 * when every step succeeded, else `provisioning`. Suspended, deleting and deleted pods keep
 * their status. Runs in the transaction that records a step's final status.
 */
async function followWorkflow(client: PoolClient, jobId: string): Promise<void> {
  await client.query(
    `UPDATE cloud_pods p SET status = CASE
        WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.cloud_pod_id = p.id AND j.status = 'failed') THEN 'error'
        WHEN NOT EXISTS (SELECT 1 FROM jobs j WHERE j.cloud_pod_id = p.id AND j.status <> 'succeeded') THEN 'running'
        ELSE 'provisioning' END
     WHERE p.id = (SELECT cloud_pod_id FROM jobs WHERE id = $1) AND p.status IN ('provisioning', 'running', 'error', 'active', 'failed')`,
    [jobId],
  );
}

/** Runs the hook of `job`'s type, then moves its CloudPod's status along (`followWorkflow`). */
export async function runJobHooks(client: PoolClient, job: FinishedJob, wake: (target: JobTarget) => void): Promise<void> {
  await jobHooks[job.type]?.(client, job, wake);
  await followWorkflow(client, job.id);
}
