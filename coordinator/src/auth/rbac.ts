import type { PrismaClient } from "../db/client";
import { AppError } from "../errors";

/** Every permission code, `resource:action` (DESIGN section 6). */
export const permissions = [
  "tenants:read", "tenants:create", "tenants:suspend",
  "users:read", "users:manage",
  "servers:read", "servers:manage",
  "cloudpods:read", "cloudpods:create", "cloudpods:delete",
  "websites:read", "websites:create", "websites:delete",
  "cloudpods:suspend",
  "domains:read", "domains:create", "domains:delete", "dns:write",
  "email:read", "email:write", "email:delete",
  "databases:read", "databases:create", "databases:write", "databases:delete",
  "ssl:read", "ssl:manage",
  "backups:read", "backups:manage",
  "files:read", "files:write", "terminal:open",
  "jobs:read",
  "audit:read",
  "billing:read", "billing:subscribe", "billing:manage",
  "users:impersonate",
] as const;
export type Permission = (typeof permissions)[number];

/** What tenant roles may grant (seeded and custom tenant roles alike). */
export const tenantPermissions: readonly Permission[] = [
  "cloudpods:read", "cloudpods:create", "cloudpods:delete",
  "websites:read", "websites:create", "websites:delete",
  "domains:read", "domains:create", "domains:delete", "dns:write",
  "email:read", "email:write", "email:delete",
  "databases:read", "databases:create", "databases:write", "databases:delete",
  "ssl:read", "ssl:manage",
  "backups:read", "backups:manage",
  "files:read", "files:write", "terminal:open",
  "jobs:read", "users:read",
  "billing:read", "billing:subscribe",
];

/** The seeded roles: platform roles act on every tenant, tenant roles inside their own. */
export const seededRoles: Record<string, { scope: "platform" | "tenant"; description: string; grants: readonly Permission[] }> = {
  SUPER_ADMIN: { scope: "platform", description: "Everything, including platform staff", grants: permissions },
  PLATFORM_ADMIN: { scope: "platform", description: "Runs tenants, servers and hosting", grants: permissions.filter((p) => p !== "users:manage" && p !== "users:impersonate") },
  TENANT_OWNER: { scope: "tenant", description: "Owns a tenant's services", grants: [...tenantPermissions, "users:manage"] },
  TENANT_ADMIN: { scope: "tenant", description: "Manages a tenant's services", grants: tenantPermissions },
  TENANT_USER: { scope: "tenant", description: "Reads a tenant's services", grants: ["cloudpods:read", "websites:read", "domains:read", "email:read", "databases:read", "ssl:read", "backups:read", "files:read", "jobs:read"] },
};

/**
 * Who is calling. Platform roles grant their permissions on every tenant; tenant roles only
 * on the tenants in `tenantGrants` (a reseller tenant's grants also cover its child tenants).
 * An API key's actor carries `apiKeyId` (and `sessionId` = the key id) with permissions
 * already narrowed to the key's scopes; an impersonated session carries `impersonatedBy`.
 */
export interface Actor {
  userId: string;
  sessionId: string;
  platformRole: string | null;
  platformPermissions: ReadonlySet<string>;
  tenantGrants: ReadonlyMap<string, ReadonlySet<string>>;
  apiKeyId?: string;
  /** The API key's scopes (see `apiKeyScopes` in identity/api-keys.ts). */
  apiKeyScopes?: readonly string[];
  impersonatedBy?: string | null;
  /** The session may only enrol TOTP (policy requires it for this user's role). */
  mfaSetupRequired?: boolean;
}

/**
 * The one permission check. With a tenantId, true when the actor holds `permission` on the
 * platform or in that tenant; without one, only platform permissions count.
 */
export function hasPermission(actor: Actor, permission: Permission, tenantId?: string): boolean {
  if (actor.platformPermissions.has(permission)) return true;
  return tenantId !== undefined && (actor.tenantGrants.get(tenantId)?.has(permission) ?? false);
}

/** Throws AppError `forbidden` unless `hasPermission` holds. */
export function checkPermission(actor: Actor, permission: Permission, tenantId?: string): void {
  if (!hasPermission(actor, permission, tenantId)) throw new AppError("forbidden", `missing permission ${permission}`);
}

/**
 * The tenants whose records `permission` lets the actor see: "all" for platform holders, else
 * the ids of tenants where a tenant role grants it. Queries filter on this, so another
 * tenant's record is simply not found (404), never "forbidden".
 */
export function tenantScope(actor: Actor, permission: Permission): "all" | string[] {
  if (actor.platformPermissions.has(permission)) return "all";
  return [...actor.tenantGrants].filter(([, grants]) => grants.has(permission)).map(([id]) => id);
}

/** A Prisma `where` fragment restricting `tenantId` to `tenantScope(actor, permission)`. */
export function tenantWhere(actor: Actor, permission: Permission): { tenantId?: { in: string[] } } {
  const scope = tenantScope(actor, permission);
  return scope === "all" ? {} : { tenantId: { in: scope } };
}

/** Creates the seeded roles and permissions if missing and grants what `seededRoles` lists (idempotent). */
export async function seedRbac(prisma: PrismaClient): Promise<void> {
  await prisma.$transaction(async (tx) => {
    for (const code of permissions) await tx.permission.upsert({ where: { code }, create: { code }, update: {} });
    const byCode = new Map((await tx.permission.findMany()).map((p) => [p.code, p.id]));
    for (const [name, role] of Object.entries(seededRoles)) {
      const row = await tx.role.upsert({
        where: { name },
        create: { name, scope: role.scope, description: role.description },
        update: { scope: role.scope, description: role.description },
      });
      await tx.rolePermission.createMany({
        data: role.grants.map((code) => ({ roleId: row.id, permissionId: byCode.get(code) ?? "" })),
        skipDuplicates: true,
      });
    }
  });
}
