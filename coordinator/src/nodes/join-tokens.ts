import { NodeRole } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, type Actor } from "../auth/rbac";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { hashSecret, newSecret } from "../auth/tokens";

/** Request body of `POST /api/admin/join-tokens`: the roles the node may take and the token's life (s). */
export const JoinTokenInput = z.strictObject({
  roles: z.array(NodeRole).min(1).max(4),
  ttlSeconds: z.number().int().min(60).max(7 * 86400).default(3600),
});

/** Join tokens: single-use, short-lived, stored hashed, shown once at creation. */
export function createJoinTokenService(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    /** Creates a token (`actor` null: the operator CLI); the returned `token` is never retrievable again. */
    async create(actor: Actor | null, input: z.output<typeof JoinTokenInput>, requestId: string) {
      if (actor) checkPermission(actor, "servers:manage");
      const actorUserId = actor?.userId ?? null;
      const token = newSecret("mpj_");
      const expiresAt = new Date(Date.now() + input.ttlSeconds * 1000);
      const row = await prisma.$transaction(async (tx) => {
        const created = await tx.joinToken.create({ data: { tokenHash: hashSecret(token), roles: input.roles, expiresAt, createdBy: actorUserId } });
        await audit(tx, { action: "JOIN_TOKEN_CREATED", targetType: "join_token", targetId: created.id, actorUserId, requestId, data: { roles: input.roles, expiresAt: expiresAt.toISOString() } });
        return created;
      });
      return { id: row.id, token, roles: row.roles, expiresAt };
    },

    /**
     * Consumes a token for an enrolling node that asks for `roles` and creates the node's
     * server row, both in one transaction (a token can never enroll two nodes). Throws
     * `token_invalid` (unknown), `token_used`, `token_expired`, or `token_role` (roles beyond
     * the token's). The node's certificate is issued by the caller beforehand, so a bad CSR never burns a token.
     */
    async consume(token: string, roles: string[], node: { id: string; hostname: string; certSerial: string; certNotAfter: Date }): Promise<void> {
      const { hostname } = node;
      return prisma.$transaction(async (tx) => {
        const rows = await tx.$queryRaw<Array<{ id: string; roles: string[]; expires_at: Date; used_at: Date | null }>>`
          SELECT id, roles, expires_at, used_at FROM join_tokens WHERE token_hash = ${hashSecret(token)} FOR UPDATE`;
        const row = rows[0];
        if (!row) throw new AppError("token_invalid", "join token is not valid");
        if (row.used_at) throw new AppError("token_used", "join token was already used");
        if (row.expires_at <= new Date()) throw new AppError("token_expired", "join token has expired");
        const wanted = roles.length > 0 ? roles : row.roles;
        const extra = wanted.filter((role) => !row.roles.includes(role));
        if (extra.length > 0) throw new AppError("token_role", `join token does not allow roles: ${extra.join(", ")}`);
        const server = await tx.server.create({
          data: { id: node.id, hostname, roles: wanted, status: "offline", certSerial: node.certSerial, certNotAfter: node.certNotAfter },
        });
        await tx.joinToken.update({ where: { id: row.id }, data: { usedAt: new Date(), serverId: server.id } });
        await audit(tx, { action: "NODE_ENROLLED", targetType: "server", targetId: server.id, actorNodeId: server.id, data: { hostname, roles: wanted, joinTokenId: row.id } });
      });
    },
  };
}

export type JoinTokenService = ReturnType<typeof createJoinTokenService>;
