import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Database } from "../db/client";
import { actorOf } from "../http/auth-hook";
import { AuditListQuery, createAuditLog } from "./audit-log";
import { createPulse } from "./pulse";

/** The read-only views over the platform: the audit log and the dashboard's operations pulse. */
export function createInsights(deps: { db: Database }) {
  return { auditLog: createAuditLog(deps), pulse: createPulse(deps) };
}

/** The insights services. */
export type Insights = ReturnType<typeof createInsights>;

/** `GET /api/admin/audit` (paged, filtered, tenant-scoped) and `GET /api/admin/dashboard/pulse` (platform staff). */
export function registerInsightRoutes(root: FastifyInstance, s: Insights): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get("/api/admin/audit", { schema: { querystring: AuditListQuery, tags: ["audit"] } }, async (req) => s.auditLog.list(actorOf(req), req.query));
  app.get("/api/admin/dashboard/pulse", { schema: { tags: ["dashboard"] } }, async (req) => ({ data: await s.pulse.read(actorOf(req)) }));
}
