import { randomUUID } from "node:crypto";
import { jobPayloads, type JobInput, type JobType } from "@mpanel/proto";
import type { PoolClient } from "pg";
import type { JobTarget } from "./wakeups";

/** A finished job as its hook sees it (inside the transaction that records the outcome). */
export interface FinishedJob {
  id: string;
  type: string;
  payload: unknown;
  tenant_id: string | null;
  success: boolean;
  /** The handler's result (success only), as the agent sent it. */
  result?: unknown;
}

/**
 * What a job type's hook does when the job reaches a final status: runs inside the transaction
 * that records the status, on `client`. `wake` announces a target after COMMIT (for jobs the
 * hook enqueued with `insertJob`).
 */
export type JobHook = (client: PoolClient, job: FinishedJob, wake: (target: JobTarget) => void) => Promise<void>;

/** Reads a string field of a job payload; throws when it is missing (a payload the schema passed always has it). */
export function payloadField(payload: unknown, key: string): string {
  const value = (payload as Record<string, unknown> | null)?.[key];
  if (typeof value !== "string") throw new Error(`job payload lacks ${key}`);
  return value;
}

/** Appends an audit event (actor: the system, on behalf of the job) in the hook's transaction. */
export async function auditFromJob(client: PoolClient, job: FinishedJob, action: string, targetType: string, targetId: string, data: Record<string, unknown> = {}): Promise<void> {
  await client.query(
    `INSERT INTO audit_events (tenant_id, action, target_type, target_id, data) VALUES ($1, $2, $3, $4, $5)`,
    [job.tenant_id, action, targetType, targetId, JSON.stringify({ jobId: job.id, ...data })],
  );
}

/**
 * Enqueues a follow-up job from inside a hook's transaction (same rules as `withJobs`: the
 * payload is validated with the type's schema, an existing `idempotencyKey` returns that job).
 * The job is announced through `wake` after COMMIT. Throws on an invalid payload.
 */
export async function insertJob<T extends JobType>(
  client: PoolClient,
  wake: (target: JobTarget) => void,
  input: { type: T; payload: JobInput<T>; tenantId: string | null; targetServerId: string; idempotencyKey?: string; dependsOn?: string[] },
): Promise<string> {
  const payload = jobPayloads[input.type].parse(input.payload);
  if (input.idempotencyKey) {
    const found = await client.query<{ id: string }>(`SELECT id FROM jobs WHERE idempotency_key = $1`, [input.idempotencyKey]);
    if (found.rows[0]) return found.rows[0].id;
  }
  const id = randomUUID();
  await client.query(
    `INSERT INTO jobs (id, type, payload, tenant_id, target_server_id, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6)`,
    [id, input.type, JSON.stringify(payload), input.tenantId, input.targetServerId, input.idempotencyKey ?? null],
  );
  for (const dep of input.dependsOn ?? []) await client.query(`INSERT INTO job_dependencies (job_id, depends_on_job_id) VALUES ($1, $2)`, [id, dep]);
  wake({ serverId: input.targetServerId, role: null });
  return id;
}
