import type { Pool, PoolClient } from "pg";
import type { Logger } from "pino";
import type { JobTarget, Wakeups } from "./wakeups";
import { runJobHooks } from "./hooks";

/** A job handed to an agent. `leaseDeadline` is when the lease lapses unless extended. */
export interface ClaimedJob {
  id: string;
  type: string;
  payload: unknown;
  attempt: number;
  leaseDeadline: Date;
}

/** What an agent reports at the end of a job (mirrors proto JobResult). */
export interface JobOutcome {
  jobId: string;
  success: boolean;
  result?: unknown;
  errorCode?: string;
  errorMessage?: string;
  retryable: boolean;
}

/** One log line of a running job (mirrors proto JobEvent). */
export interface JobLogLine {
  jobId: string;
  level: string;
  message: string;
  progress: number | null;
  at: Date;
}

/** Retry delay after a failed attempt: 2^attempt seconds, at most 5 minutes (ms). */
export function retryDelayMs(attempt: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

const CLAIMABLE = `c.status = 'queued' AND c.run_after <= now()
      AND NOT EXISTS (SELECT 1 FROM job_dependencies x JOIN jobs p ON p.id = x.depends_on_job_id
                      WHERE x.job_id = c.id AND p.status <> 'succeeded')`;

// Per demanding node: its own oldest jobs and the oldest jobs of its roles, each read in order
// from a partial index and locked with SKIP LOCKED; a job both lists offer goes to one node,
// and each node gets at most its limit (extra locked rows stay queued).
/** One node's claim: up to `limit` jobs aimed at it or at one of its `roles`, of `jobTypes` only when given (what its agent runs). */
export interface ClaimDemand {
  serverId: string;
  roles: string[];
  limit: number;
  jobTypes?: readonly string[];
}

/** A job of a type the claiming agent runs (`d.types`: comma-separated, empty = any). */
const RUNNABLE = "(d.types = '' OR c.type = ANY(string_to_array(d.types, ',')))";

const CLAIM_MANY_SQL = `
WITH demand AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $5::text[]) AS d(node, roles, lim, types)
), offered AS (
  SELECT c.id, d.node, c.created_at FROM demand d CROSS JOIN LATERAL (
    SELECT c.id, c.created_at FROM jobs c WHERE c.target_server_id = d.node AND ${CLAIMABLE} AND ${RUNNABLE}
    ORDER BY c.created_at LIMIT d.lim FOR UPDATE SKIP LOCKED) c
  UNION ALL
  SELECT c.id, d.node, c.created_at FROM demand d CROSS JOIN LATERAL (
    SELECT c.id, c.created_at FROM jobs c
    WHERE c.target_server_id IS NULL AND c.target_role = ANY(string_to_array(d.roles, ',')) AND ${CLAIMABLE} AND ${RUNNABLE}
    ORDER BY c.created_at LIMIT d.lim FOR UPDATE SKIP LOCKED) c
), once AS (
  SELECT DISTINCT ON (id) id, node, created_at FROM offered ORDER BY id, created_at
), ranked AS (
  SELECT id, node, row_number() OVER (PARTITION BY node ORDER BY created_at) AS n FROM once
), picked AS (
  SELECT r.id, r.node FROM ranked r JOIN demand d ON d.node = r.node WHERE r.n <= d.lim
)
UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, claimed_by = p.node,
  lease_expires_at = now() + make_interval(secs => $4::float8 / 1000), started_at = COALESCE(j.started_at, now())
FROM picked p WHERE j.id = p.id
RETURNING j.id, j.type, j.payload, j.attempts, j.lease_expires_at, j.claimed_by`;

const FAIL_DEPENDENTS_SQL = `
WITH RECURSIVE dependents(id) AS (
  SELECT d.job_id FROM job_dependencies d WHERE d.depends_on_job_id = $1
  UNION SELECT d.job_id FROM job_dependencies d JOIN dependents x ON d.depends_on_job_id = x.id)
UPDATE jobs SET status = 'failed', error_code = 'dependency_failed', finished_at = now(),
  error_message = 'a job this one depends on failed: ' || $1
WHERE id IN (SELECT id FROM dependents) AND status = 'queued'
RETURNING id, type, payload, tenant_id`;

/**
 * The job state machine on PostgreSQL (DESIGN section 3): claim with `FOR UPDATE SKIP LOCKED`,
 * lease extension, completion with retry/backoff and dependency handling, and the lease
 * reaper. Every transition is committed before anyone is told about it.
 */
export function createJobStore(deps: { pool: Pool; wakeups: Wakeups; leaseMs: number; log: Logger }) {
  const { pool, wakeups, log } = deps;
  const timers = new Set<NodeJS.Timeout>();

  /** Wake the dispatcher for `target` once `delayMs` has passed (retry backoff). */
  function wakeLater(target: JobTarget, delayMs: number): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      wakeups.announce([target]);
    }, delayMs);
    timer.unref();
    timers.add(timer);
  }

  async function inTransaction<R>(fn: (client: PoolClient) => Promise<R>): Promise<R> {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Fails every queued job downstream of `jobId`, running their failure hooks. */
  async function failDependents(client: PoolClient, jobId: string, wake: (target: JobTarget) => void): Promise<void> {
    const failed = await client.query<{ id: string; type: string; payload: unknown; tenant_id: string | null }>(FAIL_DEPENDENTS_SQL, [jobId]);
    for (const row of failed.rows) await runJobHooks(client, { ...row, success: false }, wake);
  }

  return {
    /**
     * Claims for many nodes in one statement (each node's demand is a LATERAL subquery with
     * `FOR UPDATE SKIP LOCKED`, so concurrent coordinators still never share a job; a job two
     * demands both match goes to one of them). Returns the claimed jobs by node id.
     */
    async claimMany(demands: ClaimDemand[]): Promise<Map<string, ClaimedJob[]>> {
      const byNode = new Map<string, ClaimedJob[]>();
      const wanted = demands.filter((d) => d.limit > 0);
      if (wanted.length === 0) return byNode;
      const { rows } = await pool.query<{ id: string; type: string; payload: unknown; attempts: number; lease_expires_at: Date; claimed_by: string }>(
        CLAIM_MANY_SQL, [wanted.map((d) => d.serverId), wanted.map((d) => d.roles.join(",")), wanted.map((d) => d.limit), deps.leaseMs, wanted.map((d) => d.jobTypes?.join(",") ?? "")],
      );
      for (const r of rows) {
        const list = byNode.get(r.claimed_by) ?? [];
        list.push({ id: r.id, type: r.type, payload: r.payload, attempt: r.attempts, leaseDeadline: r.lease_expires_at });
        byNode.set(r.claimed_by, list);
      }
      return byNode;
    },

    /** Atomically claims up to `limit` claimable jobs for node `serverId` with `roles` (of `jobTypes` only, when given). */
    async claim(serverId: string, roles: string[], limit: number, jobTypes?: readonly string[]): Promise<ClaimedJob[]> {
      return (await this.claimMany([{ serverId, roles, limit, ...(jobTypes ? { jobTypes } : {}) }])).get(serverId) ?? [];
    },

    /** Extends the leases of `jobIds` still held by `serverId` by `leaseMs` from now. */
    async extendLeases(serverId: string, jobIds: string[]): Promise<void> {
      if (jobIds.length === 0) return;
      await pool.query(
        `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::float8 / 1000)
         WHERE id = ANY($1::uuid[]) AND claimed_by = $2 AND status = 'running'`,
        [jobIds, serverId, deps.leaseMs],
      );
    },

    /**
     * Records an agent's outcome. Ignored (returns false) when the job is no longer running on
     * that node (its lease lapsed and it went elsewhere). A retryable failure with attempts
     * left is requeued after `retryDelayMs`; a final failure fails every dependent job.
     */
    async complete(serverId: string, outcome: JobOutcome): Promise<boolean> {
      const woken: Array<{ target: JobTarget; delayMs: number }> = [];
      const applied = await inTransaction(async (client) => {
        const current = await client.query<{ attempts: number; max_attempts: number; type: string; payload: unknown; tenant_id: string | null; target_server_id: string | null; target_role: string | null }>(
          `SELECT attempts, max_attempts, type, payload, tenant_id, target_server_id, target_role FROM jobs
           WHERE id = $1 AND claimed_by = $2 AND status = 'running' FOR UPDATE`, [outcome.jobId, serverId]);
        const job = current.rows[0];
        if (!job) return false;
        const retry = !outcome.success && outcome.retryable && job.attempts < job.max_attempts;
        const status = outcome.success ? "succeeded" : retry ? "queued" : "failed";
        const delayMs = retryDelayMs(job.attempts);
        await client.query(
          `UPDATE jobs SET status = $2, result = $3, error_code = $4, error_message = $5, claimed_by = NULL, lease_expires_at = NULL,
             run_after = CASE WHEN $2 = 'queued' THEN now() + make_interval(secs => $6::float8 / 1000) ELSE run_after END,
             finished_at = CASE WHEN $2 = 'queued' THEN NULL ELSE now() END
           WHERE id = $1`,
          [outcome.jobId, status, outcome.success ? JSON.stringify(outcome.result ?? null) : null,
            outcome.errorCode ?? null, outcome.errorMessage ?? null, delayMs],
        );
        if (!outcome.success) {
          const note = retry ? `attempt ${job.attempts} failed; retrying in ${delayMs} ms` : `failed after attempt ${job.attempts}`;
          await client.query(`INSERT INTO job_events (job_id, level, message) VALUES ($1, 'error', $2)`,
            [outcome.jobId, `${note}: ${outcome.errorCode ?? "error"}: ${outcome.errorMessage ?? ""}`]);
        }
        if (status === "queued") {
          woken.push({ target: { serverId: job.target_server_id, role: job.target_role }, delayMs });
          return true;
        }
        const wake = (target: JobTarget) => woken.push({ target, delayMs: 0 });
        await runJobHooks(client, { id: outcome.jobId, type: job.type, payload: job.payload, tenant_id: job.tenant_id, success: outcome.success, result: outcome.result }, wake);
        if (status === "failed") await failDependents(client, outcome.jobId, wake);
        else {
          const next = await client.query<{ target_server_id: string | null; target_role: string | null }>(
            `SELECT j.target_server_id, j.target_role FROM job_dependencies d JOIN jobs j ON j.id = d.job_id
             WHERE d.depends_on_job_id = $1 AND j.status = 'queued'`, [outcome.jobId]);
          for (const row of next.rows) woken.push({ target: { serverId: row.target_server_id, role: row.target_role }, delayMs: 0 });
        }
        return true;
      });
      for (const { target, delayMs } of woken) {
        if (delayMs > 0) wakeLater(target, delayMs);
        else wakeups.announce([target]);
      }
      if (!applied) log.warn({ jobId: outcome.jobId, serverId }, "result for a job not held by this node ignored");
      return applied;
    },

    /**
     * Records many successful outcomes in one transaction: one `UPDATE ... FROM unnest(...)`,
     * the hooks of the types that have one, and one query for dependents to wake. Outcomes for
     * jobs no longer held by their node are ignored. Returns the ids that were applied.
     */
    async completeSuccesses(batch: Array<{ serverId: string; jobId: string; result: unknown }>): Promise<Set<string>> {
      if (batch.length === 0) return new Set();
      const woken: JobTarget[] = [];
      const applied = await inTransaction(async (client) => {
        const { rows } = await client.query<{ id: string; type: string; payload: unknown; tenant_id: string | null }>(
          `UPDATE jobs j SET status = 'succeeded', result = u.result::jsonb, claimed_by = NULL, lease_expires_at = NULL, finished_at = now()
           FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS u(id, node, result)
           WHERE j.id = u.id AND j.claimed_by = u.node AND j.status = 'running'
           RETURNING j.id, j.type, j.payload, j.tenant_id`,
          [batch.map((b) => b.jobId), batch.map((b) => b.serverId), batch.map((b) => JSON.stringify(b.result ?? null))],
        );
        const results = new Map(batch.map((b) => [b.jobId, b.result]));
        const wake = (target: JobTarget) => woken.push(target);
        for (const row of rows) await runJobHooks(client, { ...row, success: true, result: results.get(row.id) }, wake);
        const ids = rows.map((r) => r.id);
        const next = await client.query<{ target_server_id: string | null; target_role: string | null }>(
          `SELECT DISTINCT j.target_server_id, j.target_role FROM job_dependencies d JOIN jobs j ON j.id = d.job_id
           WHERE d.depends_on_job_id = ANY($1::uuid[]) AND j.status = 'queued'`, [ids]);
        for (const row of next.rows) woken.push({ serverId: row.target_server_id, role: row.target_role });
        return new Set(ids);
      });
      wakeups.announce(woken);
      return applied;
    },

    /** Stores log lines of running jobs (one statement per batch). */
    async appendEvents(lines: JobLogLine[]): Promise<void> {
      if (lines.length === 0) return;
      await pool.query(
        `INSERT INTO job_events (job_id, level, message, progress, at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[])`,
        [lines.map((l) => l.jobId), lines.map((l) => l.level), lines.map((l) => l.message), lines.map((l) => l.progress), lines.map((l) => l.at)],
      );
    },

    /**
     * Hands back jobs a node no longer runs (it restarted, or announced it does not hold them):
     * they are requeued at once, keeping their attempt count. Returns how many.
     */
    async releaseUnheld(serverId: string, heldJobIds: string[]): Promise<number> {
      const { rows } = await pool.query<{ target_server_id: string | null; target_role: string | null }>(
        `UPDATE jobs SET status = 'queued', claimed_by = NULL, lease_expires_at = NULL
         WHERE claimed_by = $1 AND status = 'running' AND NOT (id = ANY($2::uuid[]))
         RETURNING target_server_id, target_role`, [serverId, heldJobIds]);
      wakeups.announce(rows.map((r) => ({ serverId: r.target_server_id, role: r.target_role })));
      return rows.length;
    },

    /**
     * The lease reaper: requeues running jobs whose lease lapsed (their attempt already counted
     * at claim) or fails them when no attempts are left, failing their dependents too. Runs under
     * a transaction-level advisory lock so one replica reaps at a time. Returns the ids reaped.
     */
    async reapExpired(): Promise<string[]> {
      const woken: JobTarget[] = [];
      const reaped = await inTransaction(async (client) => {
        const lock = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock(7245002) AS ok");
        if (!lock.rows[0]?.ok) return [];
        const { rows } = await client.query<{ id: string; status: string; type: string; payload: unknown; tenant_id: string | null; target_server_id: string | null; target_role: string | null; attempts: number }>(
          `UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
             claimed_by = NULL, lease_expires_at = NULL,
             error_code = CASE WHEN attempts >= max_attempts THEN 'lease_expired' ELSE error_code END,
             error_message = CASE WHEN attempts >= max_attempts THEN 'the node stopped reporting on this job' ELSE error_message END,
             finished_at = CASE WHEN attempts >= max_attempts THEN now() ELSE NULL END
           WHERE id IN (SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < now() FOR UPDATE SKIP LOCKED)
           RETURNING id, status, type, payload, tenant_id, target_server_id, target_role, attempts`);
        for (const row of rows) {
          await client.query(`INSERT INTO job_events (job_id, level, message) VALUES ($1, 'warn', $2)`,
            [row.id, row.status === "queued" ? `lease expired during attempt ${row.attempts}; requeued` : `lease expired during attempt ${row.attempts}; no attempts left`]);
          if (row.status === "queued") woken.push({ serverId: row.target_server_id, role: row.target_role });
          else {
            const wake = (target: JobTarget) => woken.push(target);
            await runJobHooks(client, { ...row, success: false }, wake);
            await failDependents(client, row.id, wake);
          }
        }
        return rows.map((r) => r.id);
      });
      wakeups.announce(woken);
      if (reaped.length > 0) log.info({ jobIds: reaped }, "expired leases reaped");
      return reaped;
    },

    /** Cancels pending retry timers (shutdown). */
    stop(): void {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

export type JobStore = ReturnType<typeof createJobStore>;
