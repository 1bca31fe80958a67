import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, type Actor } from "../auth/rbac";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";

export const ServerListQuery = PageQuery.extend({
  status: z.enum(["online", "offline", "revoked"]).optional(),
  role: z.enum(["web", "mail", "db", "dns"]).optional(),
});

/** Body of `PATCH /api/admin/servers/:id`: what placement and DNS templates need to know about a node. */
export const ServerPatch = z.strictObject({
  /** Address sites on this node are published at (A records). */
  publicIpv4: z.ipv4().nullable().optional(),
  /** Address sites on this node are published at (AAAA records). */
  publicIpv6: z.ipv6().nullable().optional(),
  region: z.string().regex(/^[a-z0-9-]{1,50}$/, "must be 1-50 characters: a-z, 0-9 or -").optional(),
  maxSites: z.number().int().min(0).max(100_000).optional(),
});

const serverFields = {
  id: true, hostname: true, roles: true, status: true, agentVersion: true, capabilities: true,
  region: true, publicIpv4: true, publicIpv6: true,
  maxSites: true, certNotAfter: true, lastSeenAt: true, revokedAt: true, drainedAt: true, createdAt: true,
} as const;

/** Nodes (servers running an agent): list with status, get, revoke. Platform staff only. */
export function createServerService(deps: { db: Database; disconnect: (nodeId: string) => void }) {
  const { prisma } = deps.db;
  return {
    async list(actor: Actor, q: z.output<typeof ServerListQuery>) {
      checkPermission(actor, "servers:read");
      const where = { ...(q.status ? { status: q.status } : {}), ...(q.role ? { roles: { has: q.role } } : {}) };
      const [rows, total] = await Promise.all([
        prisma.server.findMany({ where, select: serverFields, orderBy: { createdAt: "desc" }, ...pageArgs(q) }),
        prisma.server.count({ where }),
      ]);
      return paged(rows, total, q);
    },

    async get(actor: Actor, id: string) {
      checkPermission(actor, "servers:read");
      const server = await prisma.server.findUnique({ where: { id }, select: serverFields });
      if (!server) throw new AppError("not_found", "server not found");
      return server;
    },

    /** Updates a node's public addresses, region or capacity (audited). */
    async update(actor: Actor, id: string, patch: z.output<typeof ServerPatch>, requestId: string) {
      checkPermission(actor, "servers:manage");
      return prisma.$transaction(async (tx) => {
        const found = await tx.server.findUnique({ where: { id }, select: { id: true } });
        if (!found) throw new AppError("not_found", "server not found");
        const updated = await tx.server.update({ where: { id }, data: patch, select: serverFields });
        await audit(tx, { action: "SERVER_UPDATED", targetType: "server", targetId: id, actorUserId: actor.userId, requestId, data: patch });
        return updated;
      });
    },

    /** Revokes a node: its certificate is refused from now on and its open stream is cut. */
    async revoke(actor: Actor, id: string, requestId: string) {
      checkPermission(actor, "servers:manage");
      const server = await prisma.$transaction(async (tx) => {
        const found = await tx.server.findUnique({ where: { id } });
        if (!found) throw new AppError("not_found", "server not found");
        const updated = await tx.server.update({ where: { id }, data: { revokedAt: found.revokedAt ?? new Date(), status: "revoked" }, select: serverFields });
        await audit(tx, { action: "NODE_REVOKED", targetType: "server", targetId: id, actorUserId: actor.userId, requestId });
        return updated;
      });
      deps.disconnect(id);
      return server;
    },
  };
}

export type ServerService = ReturnType<typeof createServerService>;
