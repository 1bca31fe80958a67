import { z } from "zod";
import { tenantWhere, type Actor } from "../auth/rbac";
import type { Database, Prisma } from "../db/client";
import { pageArgs, paged, PageQuery } from "../http/pagination";

/**
 * Query of `GET /api/admin/audit`: a page of events, newest first, optionally of one actor
 * (by user id or by email), one tenant, one action, and a time window [`from`, `to`] (ISO 8601
 * with offset, both ends included).
 */
export const AuditListQuery = PageQuery.extend({
  actorUserId: z.uuid().optional(),
  actorEmail: z.email().max(254).optional(),
  tenantId: z.uuid().optional(),
  action: z.string().regex(/^[A-Z_]{1,64}$/, "must be an action name such as TENANT_CREATED").optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
}).refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), { message: "must not be before from", path: ["to"] });

/**
 * Reading the append-only audit trail (DESIGN section 5). Tenant-scoped through
 * `audit:read`: platform holders see every event (platform events without a tenant too);
 * anyone else only events of tenants where a role grants it, so other tenants' events are
 * simply absent.
 */
export function createAuditLog(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    /**
     * A page of events with each actor's email and name (null for system and node actors); the
     * id (a bigint sequence) as a decimal string; an unknown `actorEmail` matches nothing.
     */
    async list(actor: Actor, q: z.output<typeof AuditListQuery>) {
      const byEmail = q.actorEmail ? await prisma.user.findMany({ where: { email: q.actorEmail.toLowerCase() }, select: { id: true } }) : null;
      const filters: Prisma.AuditEventWhereInput[] = [
        ...(q.actorUserId ? [{ actorUserId: q.actorUserId }] : []),
        ...(byEmail ? [{ actorUserId: { in: byEmail.map((u) => u.id) } }] : []),
        ...(q.tenantId ? [{ tenantId: q.tenantId }] : []),
        ...(q.action ? [{ action: q.action }] : []),
        ...(q.from || q.to ? [{ at: { ...(q.from ? { gte: new Date(q.from) } : {}), ...(q.to ? { lte: new Date(q.to) } : {}) } }] : []),
      ];
      const where: Prisma.AuditEventWhereInput = { ...tenantWhere(actor, "audit:read"), AND: filters };
      const [rows, total] = await Promise.all([
        prisma.auditEvent.findMany({ where, orderBy: [{ at: "desc" }, { id: "desc" }], ...pageArgs(q) }),
        prisma.auditEvent.count({ where }),
      ]);
      const ids = [...new Set(rows.flatMap((r) => (r.actorUserId ? [r.actorUserId] : [])))];
      const users = new Map((await prisma.user.findMany({ where: { id: { in: ids } }, select: { id: true, email: true, name: true } })).map((u) => [u.id, u]));
      return paged(rows.map((r) => {
        const user = r.actorUserId ? users.get(r.actorUserId) : undefined;
        return { ...r, id: r.id.toString(), actor: user ? { email: user.email, name: user.name } : null };
      }), total, q);
    },
  };
}

/** The audit log reader. */
export type AuditLog = ReturnType<typeof createAuditLog>;
