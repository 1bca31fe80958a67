import { z } from "zod";
import { audit } from "../audit";
import { hashPassword, verifyPassword } from "../auth/passwords";
import type { Actor } from "../auth/rbac";
import type { Database } from "../db/client";
import { AppError } from "../errors";

/** A new password: 12 to 1024 characters (NIST SP 800-63B section 5.1.1: length over composition rules). */
export const NewPassword = z.string().min(12, "must be at least 12 characters").max(1024);

/** Body of `POST /api/auth/password`. */
export const PasswordChangeInput = z.strictObject({ currentPassword: z.string().min(1).max(1024), newPassword: NewPassword });

const listed = { id: true, createdAt: true, expiresAt: true, ip: true, userAgent: true, impersonatedBy: true } as const;

/** The signed-in user's sessions (list, revoke) and password change. */
export function createSessionService(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    /** Active (unrevoked, unexpired) sessions of the user, newest first; `current` marks the caller's. */
    async list(actor: Actor) {
      const rows = await prisma.session.findMany({
        where: { userId: actor.userId, revokedAt: null, expiresAt: { gt: new Date() } },
        orderBy: { createdAt: "desc" },
        select: listed,
      });
      return rows.map((row) => ({ ...row, current: row.id === actor.sessionId }));
    },

    /** Revokes one of the user's sessions (idempotent); another user's session is `not_found`. */
    async revoke(actor: Actor, id: string, requestId: string): Promise<void> {
      await prisma.$transaction(async (tx) => {
        const session = await tx.session.findFirst({ where: { id, userId: actor.userId } });
        if (!session) throw new AppError("not_found", "session not found");
        await tx.session.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
        await audit(tx, { action: "SESSION_REVOKED", targetType: "session", targetId: id, actorUserId: actor.userId, requestId });
      });
    },

    /**
     * Changes the password after checking the current one (`validation` on `currentPassword`
     * when wrong) and revokes every other session of the user.
     */
    async changePassword(actor: Actor, input: z.output<typeof PasswordChangeInput>, requestId: string): Promise<{ revokedSessions: number }> {
      const user = await prisma.user.findUniqueOrThrow({ where: { id: actor.userId } });
      if (!(await verifyPassword(user.passwordHash, input.currentPassword))) {
        throw new AppError("validation", "wrong current password", [{ field: "currentPassword", message: "wrong password" }]);
      }
      const passwordHash = await hashPassword(input.newPassword);
      return prisma.$transaction(async (tx) => {
        await tx.user.update({ where: { id: user.id }, data: { passwordHash } });
        const revoked = await tx.session.updateMany({ where: { userId: user.id, revokedAt: null, id: { not: actor.sessionId } }, data: { revokedAt: new Date() } });
        await audit(tx, { action: "PASSWORD_CHANGED", targetType: "user", targetId: user.id, actorUserId: actor.userId, requestId, data: { revokedSessions: revoked.count } });
        return { revokedSessions: revoked.count };
      });
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
