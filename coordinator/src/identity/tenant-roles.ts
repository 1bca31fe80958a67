import { z } from "zod";
import { audit } from "../audit";
import { hasPermission, seededRoles, tenantPermissions, type Actor } from "../auth/rbac";
import { insertUser, newCredentials } from "../auth/users";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { requireTenant } from "../tenants/service";

const tenantPermissionCodes = tenantPermissions as [string, ...string[]];

/** Body of `POST /api/admin/tenants/:id/roles`: a custom tenant role from `resource:action` permissions. */
export const CustomRoleInput = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9 _-]{0,47}$/, "must be 1-48 characters: letters, digits, space, _ or -, starting with a letter"),
  description: z.string().trim().max(200).default(""),
  permissions: z.array(z.enum(tenantPermissionCodes)).min(1).max(tenantPermissionCodes.length),
});

/** Body of `POST /api/admin/tenants/:id/users`: a new member with a seeded tenant role or one of the tenant's custom roles. */
export const MemberInput = z.strictObject({
  email: z.email().max(254),
  name: z.string().trim().min(1).max(200),
  role: z.string().min(1).max(48),
});

/**
 * Custom tenant roles and tenant members. Role names are unique across the platform (the
 * seeded names are reserved); a role may grant only tenant permissions the creator holds in
 * that tenant, so nobody hands out more than they have.
 */
export function createTenantRoleService(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    /** Throws `forbidden` for a permission the actor lacks, `conflict` for a taken name. */
    async createRole(actor: Actor, tenantId: string, input: z.output<typeof CustomRoleInput>, requestId: string) {
      await requireTenant(prisma, actor, tenantId, "users:manage");
      const codes = [...new Set(input.permissions)];
      const missing = codes.filter((code) => !hasPermission(actor, code as (typeof tenantPermissions)[number], tenantId));
      if (missing.length > 0) throw new AppError("forbidden", `cannot grant permissions you do not hold: ${missing.join(", ")}`);
      return prisma.$transaction(async (tx) => {
        if (input.name in seededRoles || (await tx.role.findUnique({ where: { name: input.name } }))) {
          throw new AppError("conflict", `role ${input.name} exists`, [{ field: "name", message: "already taken" }]);
        }
        const perms = await tx.permission.findMany({ where: { code: { in: codes } } });
        const role = await tx.role.create({
          data: { name: input.name, scope: "tenant", description: input.description, tenantId, permissions: { create: perms.map((p) => ({ permissionId: p.id })) } },
        });
        await audit(tx, { action: "ROLE_CREATED", targetType: "role", targetId: role.id, tenantId, actorUserId: actor.userId, requestId, data: { name: role.name, permissions: codes } });
        return { id: role.id, name: role.name, description: role.description, tenantId, permissions: codes };
      });
    },

    /** The roles a member of the tenant can be given: the seeded tenant roles and the tenant's own. */
    async listRoles(actor: Actor, tenantId: string) {
      await requireTenant(prisma, actor, tenantId, "users:read");
      const roles = await prisma.role.findMany({
        where: { scope: "tenant", OR: [{ tenantId: null }, { tenantId }] },
        include: { permissions: { include: { permission: true } } },
        orderBy: { name: "asc" },
      });
      return roles.map((r) => ({ id: r.id, name: r.name, description: r.description, tenantId: r.tenantId, permissions: r.permissions.map((rp) => rp.permission.code).sort() }));
    },

    /** Creates a member with a one-time password (shown once). Throws `validation` for a role the tenant cannot use, `conflict` for a taken email. */
    async addMember(actor: Actor, tenantId: string, input: z.output<typeof MemberInput>) {
      await requireTenant(prisma, actor, tenantId, "users:manage");
      const credentials = await newCredentials();
      const userId = await prisma.$transaction((tx) => insertUser(tx, { ...input, tenant: { id: tenantId, role: input.role }, actorUserId: actor.userId }, credentials.passwordHash));
      return { userId, email: input.email.toLowerCase(), role: input.role, oneTimePassword: credentials.password };
    },
  };
}

export type TenantRoleService = ReturnType<typeof createTenantRoleService>;
