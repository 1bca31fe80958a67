import type { Database } from "../db/client";
import { audit } from "../audit";
import { AppError } from "../errors";
import { hashPassword, verifyPassword } from "./passwords";
import type { Actor } from "./rbac";
import { hashSecret, newSecret } from "./tokens";

/** What a successful login hands out: the session token (cookie or bearer) and its CSRF pair. */
export interface LoginResult {
  token: string;
  csrfToken: string;
  expiresAt: Date;
  userId: string;
}

// A valid argon2id hash of a random string, verified on unknown emails so both paths cost the same.
const dummyHash = hashPassword(newSecret("dummy"));

/** Login, logout and session resolution; sessions are rows (revocable), tokens stored hashed. */
export function createAuthService(deps: { db: Database; sessionTtlMs: number }) {
  const { prisma } = deps.db;
  return {
    /** Checks email + password (argon2id). Throws `unauthenticated` with one message for every failure. */
    async login(email: string, password: string, meta: { ip: string; userAgent?: string | undefined; requestId: string }): Promise<LoginResult> {
      const user = await prisma.user.findUnique({ where: { email: email.toLowerCase() } });
      const ok = await verifyPassword(user?.passwordHash ?? (await dummyHash), password);
      if (!user || !ok || user.status !== "active") {
        await prisma.$transaction((tx) => audit(tx, { action: "LOGIN_FAILED", targetType: "user", targetId: user?.id ?? null, requestId: meta.requestId, data: { ip: meta.ip } }));
        throw new AppError("unauthenticated", "wrong email or password");
      }
      const token = newSecret("mps_");
      const expiresAt = new Date(Date.now() + deps.sessionTtlMs);
      await prisma.$transaction(async (tx) => {
        const session = await tx.session.create({
          data: { userId: user.id, tokenHash: hashSecret(token), expiresAt, ip: meta.ip, userAgent: meta.userAgent ?? null },
        });
        await audit(tx, { action: "SESSION_CREATED", targetType: "session", targetId: session.id, actorUserId: user.id, requestId: meta.requestId, data: { ip: meta.ip } });
      });
      return { token, csrfToken: csrfFor(token), expiresAt, userId: user.id };
    },

    /** Revokes the session of `actor` (idempotent). */
    async logout(actor: Actor, requestId: string): Promise<void> {
      await prisma.$transaction(async (tx) => {
        await tx.session.updateMany({ where: { id: actor.sessionId, revokedAt: null }, data: { revokedAt: new Date() } });
        await audit(tx, { action: "SESSION_REVOKED", targetType: "session", targetId: actor.sessionId, actorUserId: actor.userId, requestId });
      });
    },

    /** The actor behind a session token, or null when the token is unknown, expired or revoked. */
    async resolve(token: string): Promise<Actor | null> {
      const session = await prisma.session.findUnique({
        where: { tokenHash: hashSecret(token) },
        include: {
          user: {
            include: {
              platformRole: { include: { permissions: { include: { permission: true } } } },
              memberships: { include: { role: { include: { permissions: { include: { permission: true } } } } } },
            },
          },
        },
      });
      if (!session || session.revokedAt || session.expiresAt <= new Date() || session.user.status !== "active") return null;
      const { user } = session;
      return {
        userId: user.id,
        sessionId: session.id,
        platformRole: user.platformRole?.name ?? null,
        platformPermissions: new Set(user.platformRole?.permissions.map((rp) => rp.permission.code) ?? []),
        tenantGrants: new Map(user.memberships.map((m) => [m.tenantId, new Set(m.role.permissions.map((rp) => rp.permission.code))])),
      };
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

/** The CSRF token paired with a session token (double-submit: cookie + header must match). */
export function csrfFor(sessionToken: string): string {
  return hashSecret(`csrf:${sessionToken}`).slice(0, 32);
}
