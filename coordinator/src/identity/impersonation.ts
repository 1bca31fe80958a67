import { audit } from "../audit";
import { checkPermission, type Actor } from "../auth/rbac";
import { issueSession, type LoginMeta, type LoginResult } from "../auth/service";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { requireTenant } from "../tenants/service";

/** Lifetime of an impersonation session (ms): short, it is for support work. */
export const IMPERSONATION_TTL_MS = 60 * 60_000;

/**
 * Staff acting as a tenant's owner: a new session of the owner (earliest TENANT_OWNER
 * member) that carries `impersonatedBy` (shown by `GET /api/auth/me`, so the panel banners
 * it) and is audited as IMPERSONATION_STARTED in the tenant's trail. Needs the platform
 * permission `users:impersonate` from a session of one's own (not an API key, not while
 * impersonating).
 */
export function createImpersonationService(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    /** Throws `forbidden` without the permission, `not_found` for an unknown tenant or one without an owner. */
    async start(actor: Actor, tenantId: string, meta: LoginMeta): Promise<LoginResult & { impersonatedBy: string }> {
      checkPermission(actor, "users:impersonate");
      if (actor.apiKeyId || actor.impersonatedBy) throw new AppError("forbidden", "impersonation needs a staff member's own session");
      await requireTenant(prisma, actor, tenantId, "users:impersonate");
      const owner = await prisma.tenantUser.findFirst({ where: { tenantId, role: { name: "TENANT_OWNER" }, user: { status: "active" } }, orderBy: { createdAt: "asc" } });
      if (!owner) throw new AppError("not_found", "the tenant has no active owner");
      const session = await prisma.$transaction(async (tx) => {
        const issued = await issueSession(tx, owner.userId, meta, { ttlMs: IMPERSONATION_TTL_MS, impersonatedBy: actor.userId });
        await audit(tx, { action: "IMPERSONATION_STARTED", targetType: "user", targetId: owner.userId, tenantId, actorUserId: actor.userId, requestId: meta.requestId, data: { ip: meta.ip } });
        return issued;
      });
      return { ...session, impersonatedBy: actor.userId };
    },
  };
}

export type ImpersonationService = ReturnType<typeof createImpersonationService>;
