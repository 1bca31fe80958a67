import { z } from "zod";
import { tenantWhere, type Actor } from "../auth/rbac";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";

export const JobListQuery = PageQuery.extend({
  status: z.enum(["queued", "running", "succeeded", "failed", "canceled"]).optional(),
  type: z.string().regex(/^[A-Z_]{1,64}$/).optional(),
  serverId: z.uuid().optional(),
  tenantId: z.uuid().optional(),
});

/**
 * Reading jobs: list (filter by status, type, node, tenant) and one job with its events.
 * Tenant actors see their tenants' jobs only; platform staff see all, including node jobs
 * without a tenant.
 */
export function createJobService(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    async list(actor: Actor, q: z.output<typeof JobListQuery>) {
      const where = {
        ...tenantWhere(actor, "jobs:read"),
        ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.type ? { type: q.type } : {}),
        ...(q.serverId ? { targetServerId: q.serverId } : {}),
      };
      const [rows, total] = await Promise.all([prisma.job.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.job.count({ where })]);
      return paged(rows, total, q);
    },

    /** A job with its events in order (log lines, retries, lease expiries). */
    async get(actor: Actor, id: string) {
      const job = await prisma.job.findFirst({
        where: { id, ...tenantWhere(actor, "jobs:read") },
        include: { events: { orderBy: { id: "asc" } }, dependsOn: { select: { dependsOnJobId: true } } },
      });
      if (!job) throw new AppError("not_found", "job not found");
      return { ...job, events: job.events.map((e) => ({ ...e, id: e.id.toString() })) };
    },
  };
}

export type JobService = ReturnType<typeof createJobService>;
