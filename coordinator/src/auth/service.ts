import type { Database, Tx } from "../db/client";
import { audit } from "../audit";
import { AppError } from "../errors";
import { resolveApiKey, API_KEY_PREFIX } from "../identity/api-keys";
import { noteFailedLogin, noteSuccessfulLogin } from "../identity/security-events";
import { useSecondFactor } from "../identity/totp";
import { actorFrom, loadUserGrants } from "./actors";
import { hashPassword, verifyPassword } from "./passwords";
import type { Actor } from "./rbac";
import { hashSecret, newSecret } from "./tokens";

/** What a successful login hands out: the session token (cookie or bearer) and its CSRF pair. */
export interface LoginResult {
  token: string;
  csrfToken: string;
  expiresAt: Date;
  userId: string;
  /** The session may only enrol TOTP until it is confirmed (policy requires it for the user's role). */
  mfaSetupRequired: boolean;
}

/** The first login step's answer when the account has TOTP on: complete it at `POST /api/auth/login/totp`. */
export interface MfaChallengeResult {
  mfaRequired: true;
  mfaToken: string;
  expiresAt: Date;
}

/** Who logs in from where (for the session row and the audit trail). */
export interface LoginMeta {
  ip: string;
  userAgent?: string | undefined;
  requestId: string;
}

/** Login policy: account lock after `lockThreshold` failures in a row for `lockMs`; TOTP required for `mfaRequiredRoles`. */
export interface LoginPolicy {
  lockThreshold: number;
  lockMs: number;
  mfaRequiredRoles: readonly string[];
}

/** Lifetime of the second-step token (ms) and how many codes it may try. */
const MFA_CHALLENGE_TTL_MS = 5 * 60_000;
const MFA_CHALLENGE_ATTEMPTS = 5;

// A valid argon2id hash of a random string, verified on unknown emails so both paths cost the same.
const dummyHash = hashPassword(newSecret("dummy"));

/**
 * Creates a session row for `userId` inside `tx` and audits it. Returns the token (shown
 * once; stored as SHA-256) with its CSRF pair. `impersonatedBy` marks a staff member acting
 * as the user.
 */
export async function issueSession(
  tx: Tx,
  userId: string,
  meta: LoginMeta,
  options: { ttlMs: number; impersonatedBy?: string; mfaSetupRequired?: boolean },
): Promise<LoginResult> {
  const token = newSecret("mps_");
  const expiresAt = new Date(Date.now() + options.ttlMs);
  const session = await tx.session.create({
    data: {
      userId, tokenHash: hashSecret(token), expiresAt, ip: meta.ip, userAgent: meta.userAgent ?? null,
      impersonatedBy: options.impersonatedBy ?? null, mfaSetupRequired: options.mfaSetupRequired ?? false,
    },
  });
  await audit(tx, {
    action: "SESSION_CREATED", targetType: "session", targetId: session.id, actorUserId: options.impersonatedBy ?? userId, requestId: meta.requestId,
    data: { ip: meta.ip, userId, ...(options.impersonatedBy ? { impersonatedBy: options.impersonatedBy } : {}) },
  });
  return { token, csrfToken: csrfFor(token), expiresAt, userId, mfaSetupRequired: options.mfaSetupRequired ?? false };
}

/**
 * Login (password, then TOTP when enabled), logout and token resolution. Sessions are rows
 * (revocable), tokens stored hashed. Every failure answers the same `unauthenticated`
 * message, whether the email is unknown, the password wrong or the account locked.
 */
export function createAuthService(deps: { db: Database; sessionTtlMs: number; policy: LoginPolicy }) {
  const { prisma } = deps.db;
  const { policy } = deps;

  /**
   * Audits a failed login (and checks the address for an alert pattern); a wrong password
   * also counts towards the lock, which locks the account for `lockMs` at the threshold.
   */
  async function recordFailure(userId: string | null, meta: LoginMeta, reason: string): Promise<void> {
    await prisma.$transaction(async (tx) => {
      await audit(tx, { action: "LOGIN_FAILED", targetType: "user", targetId: userId, requestId: meta.requestId, data: { ip: meta.ip, reason } });
      await noteFailedLogin(tx, meta.ip, meta.requestId);
      if (!userId || reason !== "wrong_password") return;
      const user = await tx.user.update({ where: { id: userId }, data: { failedLogins: { increment: 1 } } });
      if (user.failedLogins >= policy.lockThreshold) {
        const lockedUntil = new Date(Date.now() + policy.lockMs);
        await tx.user.update({ where: { id: userId }, data: { lockedUntil, failedLogins: 0 } });
        await audit(tx, { action: "ACCOUNT_LOCKED", targetType: "user", targetId: userId, requestId: meta.requestId, data: { ip: meta.ip, lockedUntil: lockedUntil.toISOString() } });
      }
    });
  }

  /** Opens a session for a user who passed every factor: security signals, lock cleared, session issued. */
  async function openSession(tx: Tx, user: { id: string; lockedUntil: Date | null }, meta: LoginMeta, mfaSetupRequired = false): Promise<LoginResult> {
    await noteSuccessfulLogin(tx, user, meta);
    await tx.user.update({ where: { id: user.id }, data: { failedLogins: 0, lockedUntil: null } });
    return issueSession(tx, user.id, meta, { ttlMs: deps.sessionTtlMs, mfaSetupRequired });
  }

  /** After the first factor: an MFA challenge when the user has TOTP on, else a session (held to TOTP enrolment when policy requires it for the role). */
  async function afterFirstFactor(user: { id: string; lockedUntil: Date | null; totpEnabledAt: Date | null; platformRole: { name: string } | null }, meta: LoginMeta): Promise<LoginResult | MfaChallengeResult> {
    if (user.totpEnabledAt) {
      const mfaToken = newSecret("mpm_");
      const expiresAt = new Date(Date.now() + MFA_CHALLENGE_TTL_MS);
      await prisma.mfaChallenge.create({ data: { userId: user.id, tokenHash: hashSecret(mfaToken), expiresAt } });
      return { mfaRequired: true, mfaToken, expiresAt };
    }
    const mfaSetupRequired = user.platformRole !== null && policy.mfaRequiredRoles.includes(user.platformRole.name);
    return prisma.$transaction((tx) => openSession(tx, user, meta, mfaSetupRequired));
  }

  return {
    /**
     * First login step: email + password (argon2id). Answers a session, or an MFA challenge
     * when the user has TOTP on. Throws `unauthenticated` for an unknown email, a wrong
     * password, a disabled or a locked account (one message for all).
     */
    async login(email: string, password: string, meta: LoginMeta): Promise<LoginResult | MfaChallengeResult> {
      const user = await prisma.user.findUnique({ where: { email: email.toLowerCase() }, include: { platformRole: true } });
      const ok = await verifyPassword(user?.passwordHash ?? (await dummyHash), password);
      const locked = user?.lockedUntil !== null && user?.lockedUntil !== undefined && user.lockedUntil > new Date();
      if (!user || !ok || user.status !== "active" || locked) {
        await recordFailure(user?.id ?? null, meta, !user ? "unknown_email" : locked ? "locked" : !ok ? "wrong_password" : "inactive");
        throw new AppError("unauthenticated", "wrong email or password");
      }
      return afterFirstFactor(user, meta);
    },

    /**
     * Login of a user an identity provider vouched for (OIDC): the same second step as
     * `login` (TOTP challenge, or a session). Throws `unauthenticated` (audited) for a
     * disabled or locked account.
     */
    async loginVerified(userId: string, meta: LoginMeta): Promise<LoginResult | MfaChallengeResult> {
      const user = await prisma.user.findUniqueOrThrow({ where: { id: userId }, include: { platformRole: true } });
      const locked = user.lockedUntil !== null && user.lockedUntil > new Date();
      if (user.status !== "active" || locked) {
        await recordFailure(user.id, meta, locked ? "locked" : "inactive");
        throw new AppError("unauthenticated", "the account cannot sign in");
      }
      return afterFirstFactor(user, meta);
    },

    /**
     * Second login step: the challenge token from `login` and a TOTP code or a recovery code.
     * A challenge is single use and allows `MFA_CHALLENGE_ATTEMPTS` tries; a wrong, reused or
     * expired code throws `unauthenticated` (audited as MFA_FAILED).
     */
    async completeMfa(mfaToken: string, factor: { code?: string | undefined; recoveryCode?: string | undefined }, meta: LoginMeta): Promise<LoginResult> {
      const outcome = await prisma.$transaction(async (tx) => {
        const challenge = await tx.mfaChallenge.findUnique({ where: { tokenHash: hashSecret(mfaToken) }, include: { user: true } });
        if (!challenge || challenge.usedAt || challenge.expiresAt <= new Date() || challenge.attempts >= MFA_CHALLENGE_ATTEMPTS) return null;
        const { user } = challenge;
        const passed = user.status === "active" && (await useSecondFactor(tx, user, factor, meta.requestId));
        if (!passed) return { failedUserId: user.id };
        const claimed = await tx.mfaChallenge.updateMany({ where: { id: challenge.id, usedAt: null }, data: { usedAt: new Date() } });
        if (claimed.count !== 1) return null;
        return openSession(tx, user, meta);
      });
      if (outcome && "token" in outcome) return outcome;
      await prisma.$transaction(async (tx) => {
        if (outcome) await tx.mfaChallenge.updateMany({ where: { tokenHash: hashSecret(mfaToken) }, data: { attempts: { increment: 1 } } });
        await audit(tx, { action: "MFA_FAILED", targetType: "user", targetId: outcome?.failedUserId ?? null, requestId: meta.requestId, data: { ip: meta.ip } });
      });
      throw new AppError("unauthenticated", "wrong or expired code");
    },

    /** Revokes the session of `actor` (idempotent). */
    async logout(actor: Actor, requestId: string): Promise<void> {
      await prisma.$transaction(async (tx) => {
        await tx.session.updateMany({ where: { id: actor.sessionId, revokedAt: null }, data: { revokedAt: new Date() } });
        await audit(tx, { action: "SESSION_REVOKED", targetType: "session", targetId: actor.sessionId, actorUserId: actor.userId, requestId });
      });
    },

    /**
     * The actor behind a bearer token or session cookie, or null when it is unknown, expired
     * or revoked, or its user is not active. `mpk_` tokens are API keys (see `resolveApiKey`).
     */
    async resolve(token: string, requestId: string): Promise<Actor | null> {
      if (token.startsWith(API_KEY_PREFIX)) return resolveApiKey(prisma, token, requestId);
      const session = await prisma.session.findUnique({ where: { tokenHash: hashSecret(token) } });
      if (!session || session.revokedAt || session.expiresAt <= new Date()) return null;
      const grants = await loadUserGrants(prisma, session.userId);
      if (!grants || grants.status !== "active") return null;
      return actorFrom(grants, session.id, { impersonatedBy: session.impersonatedBy, mfaSetupRequired: session.mfaSetupRequired });
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

/** The CSRF token paired with a session token (double-submit: cookie + header must match). */
export function csrfFor(sessionToken: string): string {
  return hashSecret(`csrf:${sessionToken}`).slice(0, 32);
}
