import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Database } from "../db/client";
import { actorOf } from "../http/auth-hook";
import { createAlerts } from "./alerts";
import { AuditListQuery, createAuditLog } from "./audit-log";
import { createPulse } from "./pulse";

/** The read-only views over the platform: the audit log, the dashboard's operations pulse and the current alerts. */
export function createInsights(deps: { db: Database }) {
  return { auditLog: createAuditLog(deps), pulse: createPulse(deps), alerts: createAlerts(deps) };
}

/** The insights services. */
export type Insights = ReturnType<typeof createInsights>;

/** `GET /api/admin/audit` (paged, filtered, tenant-scoped), `GET /api/admin/dashboard/pulse` (platform staff) and `GET /api/admin/alerts` (what is wrong now, tenant-scoped). */
export function registerInsightRoutes(root: FastifyInstance, s: Insights): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get("/api/admin/audit", { schema: { querystring: AuditListQuery, tags: ["audit"] } }, async (req) => s.auditLog.list(actorOf(req), req.query));
  app.get("/api/admin/dashboard/pulse", { schema: { tags: ["dashboard"] } }, async (req) => ({ data: await s.pulse.read(actorOf(req)) }));
  app.get("/api/admin/alerts", { schema: { tags: ["dashboard"] } }, async (req) => ({ data: await s.alerts.list(actorOf(req)) }));
}
