import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, hasPermission, tenantScope, type Actor, type Permission } from "../auth/rbac";
import { insertUser, newCredentials } from "../auth/users";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";

/**
 * Body of `POST /api/admin/tenants`; `owner` creates the tenant's first user (TENANT_OWNER).
 * `parentTenantId` makes it a child of a reseller tenant; `reseller` (platform staff only)
 * lets the new tenant own children.
 */
export const TenantInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  parentTenantId: z.uuid().optional(),
  reseller: z.boolean().default(false),
  slug: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$/, "must be 1-48 characters of a-z, 0-9 and inner hyphens").optional(),
  owner: z.strictObject({ email: z.email(), name: z.string().trim().min(1).max(200) }).optional(),
});

export const TenantListQuery = PageQuery.extend({
  q: z.string().max(200).optional(),
  status: z.enum(["active", "suspended"]).optional(),
});

function slugify(name: string): string {
  const slug = name.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
  return slug || "tenant";
}

/**
 * Loads a tenant the actor may see and checks `permission` in it. A tenant outside the
 * actor's scope is `not_found` (never `forbidden`), so ids of other tenants reveal nothing.
 * Visible: platform `tenants:read` or `permission` itself held platform-wide (an API key
 * narrowed to one resource), or any grant in the tenant (a reseller's covers its children).
 */
export async function requireTenant(tx: Tx | Database["prisma"], actor: Actor, tenantId: string, permission: Permission) {
  const visible = hasPermission(actor, "tenants:read") || hasPermission(actor, permission) || actor.tenantGrants.has(tenantId);
  const tenant = visible ? await tx.tenant.findUnique({ where: { id: tenantId } }) : null;
  if (!tenant) throw new AppError("not_found", "tenant not found", [{ field: "tenantId", message: "unknown tenant" }]);
  checkPermission(actor, permission, tenantId);
  return tenant;
}

/**
 * `requireTenant`, and the tenant must be active: a suspended tenant gets AppError `conflict` on
 * `tenantId` (new services are not created for it; existing ones keep running or are suspended
 * by their own jobs).
 */
export async function requireActiveTenant(tx: Tx | Database["prisma"], actor: Actor, tenantId: string, permission: Permission) {
  const tenant = await requireTenant(tx, actor, tenantId, permission);
  if (tenant.status !== "active") throw new AppError("conflict", "tenant is suspended", [{ field: "tenantId", message: "tenant is suspended" }]);
  return tenant;
}

/** Tenants: create (with an optional owner account), list, get, suspend/unsuspend. */
export function createTenantService(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    /**
     * Platform staff (`tenants:create`) create any tenant; a reseller's managers
     * (`users:manage` in the reseller) create children of it. Throws `validation` when the
     * parent is not a reseller, `not_found` for a parent the actor cannot see.
     */
    async create(actor: Actor, input: z.output<typeof TenantInput>, requestId: string) {
      const parent = input.parentTenantId ? await requireTenant(prisma, actor, input.parentTenantId, hasPermission(actor, "tenants:create") ? "tenants:create" : "users:manage") : null;
      if (!parent || input.reseller) checkPermission(actor, "tenants:create");
      if (parent && !parent.isReseller) throw new AppError("validation", "the parent tenant is not a reseller", [{ field: "parentTenantId", message: "not a reseller tenant" }]);
      const slug = input.slug ?? `${slugify(input.name)}-${Math.random().toString(36).slice(2, 7)}`;
      const credentials = input.owner ? await newCredentials() : null;
      // The tenant and its owner commit together: a refused owner (e.g. email taken) leaves no tenant behind.
      const { tenant, ownerId } = await prisma.$transaction(async (tx) => {
        if (await tx.tenant.findUnique({ where: { slug } })) throw new AppError("conflict", `slug ${slug} is taken`, [{ field: "slug", message: "already taken" }]);
        const created = await tx.tenant.create({ data: { name: input.name, slug, parentTenantId: parent?.id ?? null, isReseller: input.reseller } });
        await audit(tx, {
          action: "TENANT_CREATED", targetType: "tenant", targetId: created.id, tenantId: created.id, actorUserId: actor.userId, requestId,
          data: { name: input.name, slug, parentTenantId: parent?.id ?? null, reseller: input.reseller },
        });
        const ownerId = input.owner && credentials
          ? await insertUser(tx, { ...input.owner, tenant: { id: created.id, role: "TENANT_OWNER" }, actorUserId: actor.userId }, credentials.passwordHash)
          : null;
        return { tenant: created, ownerId };
      });
      return { tenant, owner: ownerId && credentials ? { userId: ownerId, email: input.owner?.email, oneTimePassword: credentials.password } : null };
    },

    async list(actor: Actor, q: z.output<typeof TenantListQuery>) {
      const scope = tenantScope(actor, "tenants:read");
      const visible = scope === "all" ? {} : { id: { in: [...actor.tenantGrants.keys()] } };
      const where = {
        ...visible,
        ...(q.status ? { status: q.status } : {}),
        ...(q.q ? { OR: [{ name: { contains: q.q, mode: "insensitive" as const } }, { slug: { contains: q.q.toLowerCase() } }] } : {}),
      };
      const [rows, total] = await Promise.all([
        prisma.tenant.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }),
        prisma.tenant.count({ where }),
      ]);
      return paged(rows, total, q);
    },

    async get(actor: Actor, id: string) {
      const tenant = await requireTenant(prisma, actor, id, "websites:read");
      const [cloudPods, websites] = await Promise.all([
        prisma.cloudPod.count({ where: { tenantId: id, deletedAt: null } }),
        prisma.website.count({ where: { tenantId: id, deletedAt: null } }),
      ]);
      return { ...tenant, counts: { cloudPods, websites } };
    },

    /** Sets status `suspended` or `active` (idempotent), audited. */
    async setSuspended(actor: Actor, id: string, suspended: boolean, requestId: string) {
      await requireTenant(prisma, actor, id, "tenants:suspend");
      return prisma.$transaction(async (tx) => {
        const tenant = await tx.tenant.update({ where: { id }, data: { status: suspended ? "suspended" : "active" } });
        await audit(tx, { action: suspended ? "TENANT_SUSPENDED" : "TENANT_UNSUSPENDED", targetType: "tenant", targetId: id, tenantId: id, actorUserId: actor.userId, requestId });
        return tenant;
      });
    },
  };
}

export type TenantService = ReturnType<typeof createTenantService>;
