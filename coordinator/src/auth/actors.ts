import type { PrismaClient } from "../db/client";
import type { Actor } from "./rbac";

const roleWithPermissions = { include: { permissions: { include: { permission: true } } } } as const;

/** The user's status and permissions as stored: platform role grants and per-tenant grants. */
export interface UserGrants {
  userId: string;
  status: string;
  platformRole: string | null;
  platformPermissions: Set<string>;
  tenantGrants: Map<string, Set<string>>;
}

/**
 * Loads a user's grants, null for an unknown user. A membership in a reseller tenant
 * (`is_reseller`) grants the same permissions on every tenant below it (children,
 * grandchildren, ...), so `tenantScope`/`requireTenant` see the reseller's subtree; where a
 * user also holds a direct membership in a child, the union of both role grants applies.
 */
export async function loadUserGrants(prisma: PrismaClient, userId: string): Promise<UserGrants | null> {
  const user = await prisma.user.findUnique({
    where: { id: userId },
    include: { platformRole: roleWithPermissions, memberships: { include: { role: roleWithPermissions, tenant: true } } },
  });
  if (!user) return null;
  const tenantGrants = new Map<string, Set<string>>();
  const grant = (tenantId: string, codes: Iterable<string>): void => {
    const set = tenantGrants.get(tenantId) ?? new Set<string>();
    for (const code of codes) set.add(code);
    tenantGrants.set(tenantId, set);
  };
  for (const m of user.memberships) grant(m.tenantId, m.role.permissions.map((rp) => rp.permission.code));
  for (const m of user.memberships.filter((x) => x.tenant.isReseller)) {
    const codes = m.role.permissions.map((rp) => rp.permission.code);
    for (const id of await descendants(prisma, m.tenantId)) grant(id, codes);
  }
  return {
    userId: user.id,
    status: user.status,
    platformRole: user.platformRole?.name ?? null,
    platformPermissions: new Set(user.platformRole?.permissions.map((rp) => rp.permission.code) ?? []),
    tenantGrants,
  };
}

/** Ids of every tenant below `tenantId` (breadth first; a cycle cannot loop: visited ids are skipped). */
export async function descendants(prisma: PrismaClient, tenantId: string): Promise<string[]> {
  const seen = new Set<string>([tenantId]);
  let frontier = [tenantId];
  while (frontier.length > 0) {
    const children = await prisma.tenant.findMany({ where: { parentTenantId: { in: frontier } }, select: { id: true } });
    frontier = children.map((c) => c.id).filter((id) => !seen.has(id));
    for (const id of frontier) seen.add(id);
  }
  seen.delete(tenantId);
  return [...seen];
}

/** An Actor for `grants` acting through session (or API key) `sessionId`. */
export function actorFrom(grants: UserGrants, sessionId: string, extra: Pick<Actor, "apiKeyId" | "apiKeyScopes" | "impersonatedBy" | "mfaSetupRequired"> = {}): Actor {
  return {
    userId: grants.userId,
    sessionId,
    platformRole: grants.platformRole,
    platformPermissions: grants.platformPermissions,
    tenantGrants: grants.tenantGrants,
    ...extra,
  };
}
