import { readdir } from "node:fs/promises";
import pg from "pg";
import { z } from "zod";
import type { Config } from "../config";
import type { Database } from "../db/client";
import { runningEmbeddedUrl } from "../db/connect";
import { MIGRATIONS_DIR } from "../db/migrate";
import { findNode, NodeRef } from "../nodes/drain";

/** One node as `mpanel nodes` shows it. `lastSeenAt` is null for a node that never connected. */
export interface NodeRow {
  id: string;
  hostname: string;
  roles: string[];
  status: string;
  agentVersion: string | null;
  lastSeenAt: Date | null;
  drainedAt: Date | null;
  revokedAt: Date | null;
}

/** All nodes (revoked ones too), oldest first. */
export async function listNodes(db: Database): Promise<NodeRow[]> {
  return db.prisma.server.findMany({
    select: { id: true, hostname: true, roles: true, status: true, agentVersion: true, lastSeenAt: true, drainedAt: true, revokedAt: true },
    orderBy: [{ createdAt: "asc" }, { hostname: "asc" }],
  });
}

/** Options of `mpanel jobs`: `--status`, `--node` (id or hostname), `--limit` (1-1000, default 20). */
export const JobsOptions = z.strictObject({
  status: z.enum(["queued", "running", "succeeded", "failed", "canceled"]).optional(),
  node: NodeRef.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(20),
});

/** One job as `mpanel jobs` shows it; `node` is the target node's hostname (null for a role-targeted or unplaced job). */
export interface JobRow {
  id: string;
  type: string;
  status: string;
  node: string | null;
  nodeId: string | null;
  attempts: number;
  createdAt: Date;
  finishedAt: Date | null;
  errorCode: string | null;
  errorMessage: string | null;
}

/** The newest jobs matching `options`, newest first. Throws AppError `not_found` for an unknown `--node`. */
export async function listJobs(db: Database, options: z.output<typeof JobsOptions>): Promise<JobRow[]> {
  const nodeId = options.node ? (await findNode(db.prisma, options.node)).id : undefined;
  const jobs = await db.prisma.job.findMany({
    where: { ...(options.status ? { status: options.status } : {}), ...(nodeId ? { targetServerId: nodeId } : {}) },
    orderBy: { createdAt: "desc" },
    take: options.limit,
    select: { id: true, type: true, status: true, targetServerId: true, attempts: true, createdAt: true, finishedAt: true, errorCode: true, errorMessage: true },
  });
  const ids = [...new Set(jobs.map((j) => j.targetServerId).filter((id): id is string => id !== null))];
  const names = new Map((await db.prisma.server.findMany({ where: { id: { in: ids } }, select: { id: true, hostname: true } })).map((s) => [s.id, s.hostname]));
  return jobs.map(({ targetServerId, ...job }) => ({ ...job, nodeId: targetServerId, node: targetServerId ? (names.get(targetServerId) ?? null) : null }));
}

/** One line of `mpanel health`: `fail` makes the whole report unhealthy, `warn` does not. */
export interface HealthCheck {
  name: "database" | "migrations" | "nodes" | "jobs";
  status: "ok" | "warn" | "fail";
  detail: string;
}

/**
 * What `mpanel health` reports. Counts are null when they could not be read (database
 * unreachable). Nodes: `offline` counts undrained, unrevoked nodes that are not online;
 * drained nodes are counted apart (maintenance) and revoked ones not at all.
 */
export interface HealthReport {
  healthy: boolean;
  database: { reachable: boolean; target: string; error?: string };
  migrations: { applied: number; pending: string[] } | null;
  nodes: { online: number; offline: number; drained: number; revoked: number } | null;
  jobs: { queued: number; running: number; failed: number; failedLast24h: number } | null;
  checks: HealthCheck[];
}

/** `host:port/database` of a PostgreSQL URL: where it points, without user or password. */
function target(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
}

/**
 * Checks the coordinator's database without changing it (no migration, no embedded start):
 * reachable within 5 s; every migration in prisma/migrations applied; nodes online/offline;
 * jobs queued/running/failed. Unhealthy (`healthy` false) when the database is unreachable, the
 * embedded PostgreSQL is not running (so neither is the coordinator), a migration is pending, or
 * an undrained node is offline. Failed jobs in the last 24 h are a warning only.
 */
export async function checkHealth(config: Config): Promise<HealthReport> {
  const checks: HealthCheck[] = [];
  const report: HealthReport = { healthy: false, database: { reachable: false, target: "" }, migrations: null, nodes: null, jobs: null, checks };
  const url = config.DATABASE_URL ?? (await runningEmbeddedUrl(config.MPANEL_DATA_DIR, config.MPANEL_EMBEDDED_PG_PORT));
  if (!url) {
    report.database.target = `embedded PostgreSQL in ${config.MPANEL_DATA_DIR}/pg`;
    report.database.error = "not running";
    checks.push({ name: "database", status: "fail", detail: `the embedded PostgreSQL in ${config.MPANEL_DATA_DIR}/pg is not running: start the coordinator (systemctl start mpanel-coordinator)` });
    return report;
  }
  report.database.target = target(url);
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5_000 });
  pool.on("error", () => undefined);
  try {
    try {
      await pool.query("SELECT 1");
    } catch (error) {
      report.database.error = (error as Error).message;
      checks.push({ name: "database", status: "fail", detail: `${report.database.target} unreachable: ${report.database.error}` });
      return report;
    }
    report.database.reachable = true;
    checks.push({ name: "database", status: "ok", detail: `${report.database.target} reachable` });

    const names = (await readdir(MIGRATIONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    const applied = await pool
      .query<{ migration_name: string }>(`SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`)
      .then((r) => new Set(r.rows.map((row) => row.migration_name)), (error: { code?: string }) => {
        if (error.code === "42P01") return new Set<string>(); // no table yet: nothing applied
        throw error;
      });
    const pending = names.filter((n) => !applied.has(n));
    report.migrations = { applied: names.length - pending.length, pending };
    checks.push(pending.length === 0
      ? { name: "migrations", status: "ok", detail: `${names.length} applied, 0 pending` }
      : { name: "migrations", status: "fail", detail: `${pending.length} pending (${pending.join(", ")}): run mpanel migrate` });
    if (pending.length === names.length) return finish(report);

    const nodes = (await pool.query<{ online: number; offline: number; drained: number; revoked: number }>(`SELECT
        count(*) FILTER (WHERE revoked_at IS NULL AND status = 'online')::int AS online,
        count(*) FILTER (WHERE revoked_at IS NULL AND status <> 'online' AND drained_at IS NULL)::int AS offline,
        count(*) FILTER (WHERE revoked_at IS NULL AND drained_at IS NOT NULL)::int AS drained,
        count(*) FILTER (WHERE revoked_at IS NOT NULL)::int AS revoked
      FROM servers`)).rows[0] ?? { online: 0, offline: 0, drained: 0, revoked: 0 };
    report.nodes = nodes;
    const nodeDetail = `${nodes.online} online, ${nodes.offline} offline, ${nodes.drained} drained, ${nodes.revoked} revoked`;
    checks.push({ name: "nodes", status: nodes.offline > 0 ? "fail" : "ok", detail: nodes.offline > 0 ? `${nodeDetail}: see mpanel nodes` : nodeDetail });

    const jobs = (await pool.query<{ queued: number; running: number; failed: number; failed_24h: number }>(`SELECT
        count(*) FILTER (WHERE status = 'queued')::int AS queued,
        count(*) FILTER (WHERE status = 'running')::int AS running,
        count(*) FILTER (WHERE status = 'failed')::int AS failed,
        count(*) FILTER (WHERE status = 'failed' AND finished_at > now() - interval '24 hours')::int AS failed_24h
      FROM jobs`)).rows[0] ?? { queued: 0, running: 0, failed: 0, failed_24h: 0 };
    report.jobs = { queued: jobs.queued, running: jobs.running, failed: jobs.failed, failedLast24h: jobs.failed_24h };
    const jobDetail = `${jobs.queued} queued, ${jobs.running} running, ${jobs.failed} failed (${jobs.failed_24h} in the last 24 h)`;
    checks.push({ name: "jobs", status: jobs.failed_24h > 0 ? "warn" : "ok", detail: jobs.failed_24h > 0 ? `${jobDetail}: see mpanel jobs --status failed` : jobDetail });
    return finish(report);
  } finally {
    await pool.end();
  }
}

function finish(report: HealthReport): HealthReport {
  report.healthy = report.checks.every((c) => c.status !== "fail");
  return report;
}
