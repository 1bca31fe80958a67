import { z } from "zod";
import { tenantScope, type Actor } from "../auth/rbac";
import type { Database, Prisma } from "../db/client";
import { pageArgs, paged, PageQuery } from "../http/pagination";

/** Query of `GET /api/admin/users`: a page, optionally matching `q` (email or name, case-insensitive) and members of one tenant. */
export const UserListQuery = PageQuery.extend({
  q: z.string().trim().max(254).optional(),
  tenantId: z.uuid().optional(),
});

/**
 * The user directory, scoped by `users:read`: platform holders see every user, tenant
 * managers the members of their tenants (and of those memberships only theirs). Never
 * returns secrets: only whether TOTP is on and whether the account is locked now.
 */
export function createUserDirectory(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    async list(actor: Actor, q: z.output<typeof UserListQuery>) {
      const scope = tenantScope(actor, "users:read");
      const inScope = scope === "all" ? {} : { tenantId: { in: scope } };
      const filters: Prisma.UserWhereInput[] = [
        ...(scope === "all" ? [] : [{ memberships: { some: inScope } }]),
        ...(q.tenantId ? [{ memberships: { some: { tenantId: q.tenantId } } }] : []),
        ...(q.q ? [{ OR: [{ email: { contains: q.q, mode: "insensitive" as const } }, { name: { contains: q.q, mode: "insensitive" as const } }] }] : []),
      ];
      const where: Prisma.UserWhereInput = { AND: filters };
      const [rows, total] = await Promise.all([
        prisma.user.findMany({
          where, orderBy: { createdAt: "desc" }, ...pageArgs(q),
          select: {
            id: true, email: true, name: true, status: true, createdAt: true, totpEnabledAt: true, lockedUntil: true,
            platformRole: { select: { name: true } },
            memberships: { where: inScope, select: { tenantId: true, role: { select: { name: true } } }, orderBy: { createdAt: "asc" } },
          },
        }),
        prisma.user.count({ where }),
      ]);
      const now = new Date();
      return paged(rows.map((u) => ({
        id: u.id, email: u.email, name: u.name, status: u.status, createdAt: u.createdAt,
        platformRole: u.platformRole?.name ?? null, mfa: u.totpEnabledAt !== null, locked: u.lockedUntil !== null && u.lockedUntil > now,
        tenants: u.memberships.map((m) => ({ tenantId: m.tenantId, role: m.role.name })),
      })), total, q);
    },
  };
}

/** The user directory. */
export type UserDirectory = ReturnType<typeof createUserDirectory>;
