import type { Logger } from "pino";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, tenantWhere, type Actor } from "../auth/rbac";
import { withRunLock } from "../billing/runs";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import { probe, type ProbeResult } from "./probe";

/** Advisory lock of the uptime run (one replica probes at a time). */
export const UPTIME_LOCK = 7_245_201;
/** Checks probed at once in a run. */
const PROBE_CONCURRENCY = 16;
/** Checks taken per batch of a run. */
const RUN_BATCH = 200;
/** How often results past the retention are deleted (ms): not on every run, the probes' history is large. */
const PRUNE_EVERY_MS = 3_600_000;

/**
 * Body of `POST /api/admin/websites/:id/uptime-checks`. The URL is built from the website's
 * domain: `scheme://domain[:port]path`, so a check can only probe its own tenant's site.
 */
export const UptimeCheckInput = z.strictObject({
  scheme: z.enum(["http", "https"]).default("https"),
  /** A non-default port (e.g. a site on :8080); default 80/443. */
  port: z.number().int().min(1).max(65535).optional(),
  /** Absolute path with optional query, e.g. `/health?full=1`. */
  path: z.string().max(1024).regex(/^\/[\x21-\x7e]*$/, "must start with / and hold no spaces or control characters").default("/"),
  intervalSeconds: z.number().int().min(30).max(86_400).default(60),
  timeoutMs: z.number().int().min(1000).max(30_000).default(10_000),
  /** The one status code that counts as up; omitted = any 2xx or 3xx. */
  expectStatus: z.number().int().min(100).max(599).optional(),
  /** Failures in a row before the check is down and SITE_DOWN is raised. */
  failuresToAlert: z.number().int().min(1).max(10).default(2),
});
/** Query of `GET /api/admin/uptime-checks`. */
export const UptimeListQuery = PageQuery.extend({
  websiteId: z.uuid().optional(),
  status: z.enum(["pending", "up", "down"]).optional(),
});
/** Query of `GET /api/admin/uptime-checks/:id/results`: newest first, optionally since a time. */
export const UptimeResultsQuery = PageQuery.extend({ since: z.coerce.date().optional() });

/** Summary figures of a check over the last 24 hours: share of successful probes and latency percentiles (ms); null without probes. */
export interface UptimeSummary {
  probes: number;
  uptimePercent: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
}

/** A result row as the API returns it (`id` as a string: it is a bigint). */
const shownResult = (r: { id: bigint; at: Date; ok: boolean; statusCode: number | null; latencyMs: number | null; error: string | null }) => ({ ...r, id: r.id.toString() });

/**
 * Site uptime checks (issue 6, health): a check GETs its website's URL from the coordinator
 * every `intervalSeconds` (`runDue`, under an advisory lock so one replica probes), keeps every
 * outcome for `retentionMs`, and moves between up and down: `failuresToAlert` failures in a row
 * make it down with a `SITE_DOWN` audit event (the tenant's alert), the next success makes it
 * up again with `SITE_UP`. Reading needs `websites:read`, creating and deleting
 * `websites:create`, in the website's tenant (another tenant's check is 404).
 */
export function createUptimeService(deps: { db: Database; pins: ReadonlyMap<string, string>; retentionMs: number; log: Logger }) {
  const { prisma } = deps.db;
  const log = deps.log.child({ component: "uptime" });
  let prunedAt = 0;

  async function findCheck(actor: Actor, id: string) {
    const check = await prisma.uptimeCheck.findFirst({ where: { id, ...tenantWhere(actor, "websites:read") } });
    if (!check) throw new AppError("not_found", "uptime check not found");
    return check;
  }

  /** Writes one probe's outcome and moves the check's state; raises SITE_DOWN / SITE_UP on a change. */
  async function record(check: { id: string; tenantId: string; websiteId: string; url: string; status: string; consecutiveFailures: number; failuresToAlert: number; intervalSeconds: number }, result: ProbeResult, at: Date) {
    const failures = result.ok ? 0 : check.consecutiveFailures + 1;
    const status = result.ok ? "up" : failures >= check.failuresToAlert ? "down" : check.status === "pending" ? "pending" : check.status;
    await prisma.$transaction(async (tx) => {
      await tx.uptimeResult.create({ data: { checkId: check.id, at, ok: result.ok, statusCode: result.statusCode, latencyMs: result.latencyMs, error: result.error } });
      await tx.uptimeCheck.update({ where: { id: check.id }, data: { status, consecutiveFailures: failures, lastCheckedAt: at, nextRunAt: new Date(at.getTime() + check.intervalSeconds * 1000) } });
      const action = status === "down" && check.status !== "down" ? "SITE_DOWN" : status === "up" && check.status === "down" ? "SITE_UP" : null;
      if (action) {
        await audit(tx, { action, targetType: "uptime_check", targetId: check.id, tenantId: check.tenantId, data: { url: check.url, websiteId: check.websiteId, statusCode: result.statusCode, error: result.error, failures } });
      }
    });
  }

  return {
    /** Creates a check of the website; its first probe is due at once. 404 outside the actor's tenants. */
    async create(actor: Actor, websiteId: string, input: z.output<typeof UptimeCheckInput>, requestId: string) {
      const website = await prisma.website.findFirst({ where: { id: websiteId, deletedAt: null, ...tenantWhere(actor, "websites:read") } });
      if (!website) throw new AppError("not_found", "website not found");
      checkPermission(actor, "websites:create", website.tenantId);
      const url = `${input.scheme}://${website.domain}${input.port ? `:${input.port}` : ""}${input.path}`;
      return prisma.$transaction(async (tx) => {
        const check = await tx.uptimeCheck.create({
          data: {
            tenantId: website.tenantId, websiteId: website.id, url, intervalSeconds: input.intervalSeconds, timeoutMs: input.timeoutMs,
            expectStatus: input.expectStatus ?? null, failuresToAlert: input.failuresToAlert,
          },
        });
        await audit(tx, { action: "UPTIME_CHECK_CREATED", targetType: "uptime_check", targetId: check.id, tenantId: website.tenantId, actorUserId: actor.userId, requestId, data: { url, websiteId } });
        return check;
      });
    },

    /** One page of the actor's checks, newest first, filtered by website or status. */
    async list(actor: Actor, q: z.output<typeof UptimeListQuery>) {
      const where = { ...tenantWhere(actor, "websites:read"), ...(q.websiteId ? { websiteId: q.websiteId } : {}), ...(q.status ? { status: q.status } : {}) };
      const [rows, total] = await Promise.all([
        prisma.uptimeCheck.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }),
        prisma.uptimeCheck.count({ where }),
      ]);
      return paged(rows, total, q);
    },

    /** A check with its last-24-hours summary. */
    async get(actor: Actor, id: string) {
      const check = await findCheck(actor, id);
      const [figures] = await prisma.$queryRaw<Array<{ probes: number; ok: number; p50: number | null; p95: number | null }>>`
        SELECT count(*)::int AS probes, count(*) FILTER (WHERE ok)::int AS ok,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
          FROM uptime_results WHERE check_id = ${check.id}::uuid AND at > now() - interval '24 hours'`;
      const summary: UptimeSummary = {
        probes: figures?.probes ?? 0,
        uptimePercent: figures?.probes ? Math.round((figures.ok / figures.probes) * 10_000) / 100 : null,
        latencyP50Ms: figures?.p50 ?? null,
        latencyP95Ms: figures?.p95 ?? null,
      };
      return { ...check, summary };
    },

    /** The check's probes, newest first (the history behind its chart). */
    async results(actor: Actor, id: string, q: z.output<typeof UptimeResultsQuery>) {
      const check = await findCheck(actor, id);
      const where = { checkId: check.id, ...(q.since ? { at: { gte: q.since } } : {}) };
      const [rows, total] = await Promise.all([
        prisma.uptimeResult.findMany({ where, orderBy: { at: "desc" }, ...pageArgs(q) }),
        prisma.uptimeResult.count({ where }),
      ]);
      return paged(rows.map(shownResult), total, q);
    },

    /** Deletes a check and its history. */
    async remove(actor: Actor, id: string, requestId: string) {
      const check = await findCheck(actor, id);
      checkPermission(actor, "websites:create", check.tenantId);
      await prisma.$transaction(async (tx) => {
        await tx.uptimeCheck.delete({ where: { id: check.id } });
        await audit(tx, { action: "UPTIME_CHECK_DELETED", targetType: "uptime_check", targetId: check.id, tenantId: check.tenantId, actorUserId: actor.userId, requestId, data: { url: check.url } });
      });
    },

    /**
     * Probes every enabled check due at `now` (batches of RUN_BATCH, PROBE_CONCURRENCY at a
     * time), records the outcomes and, at most hourly, prunes results older than the retention. Checks of
     * deleted websites are skipped. Returns the number probed, or null when another replica
     * holds the run's lock.
     */
    async runDue(now = new Date()): Promise<number | null> {
      return withRunLock(deps.db.pool, UPTIME_LOCK, async () => {
        let probed = 0;
        for (;;) {
          const due = await prisma.uptimeCheck.findMany({
            where: { enabled: true, nextRunAt: { lte: now }, website: { deletedAt: null } },
            orderBy: { nextRunAt: "asc" }, take: RUN_BATCH,
          });
          for (let i = 0; i < due.length; i += PROBE_CONCURRENCY) {
            await Promise.all(due.slice(i, i + PROBE_CONCURRENCY).map(async (check) => {
              const result = await probe({ url: check.url, timeoutMs: check.timeoutMs, expectStatus: check.expectStatus }, deps.pins);
              await record(check, result, now);
              log.debug({ checkId: check.id, ok: result.ok, statusCode: result.statusCode, latencyMs: result.latencyMs }, "uptime probe");
            }));
          }
          probed += due.length;
          if (due.length < RUN_BATCH) break;
        }
        if (now.getTime() - prunedAt >= PRUNE_EVERY_MS) {
          await prisma.uptimeResult.deleteMany({ where: { at: { lt: new Date(now.getTime() - deps.retentionMs) } } });
          prunedAt = now.getTime();
        }
        return probed;
      });
    },
  };
}

export type UptimeService = ReturnType<typeof createUptimeService>;
