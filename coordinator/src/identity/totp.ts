import { generateSecret, generateURI, verify } from "otplib";
import { audit } from "../audit";
import type { Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { consumeRecoveryCode, issueRecoveryCodes } from "./recovery-codes";

/** TOTP parameters (RFC 6238 defaults every authenticator app supports): SHA-1, 6 digits, 30 s steps. */
const PERIOD_S = 30;
/** Clock drift accepted on either side, in seconds (one step). */
const TOLERANCE_S = 30;

/**
 * Checks a 6-digit TOTP `code` against the user's secret (RFC 6238, one step of drift either
 * way) and records its time step, so the same code, or an older one, is refused afterwards
 * (RFC 6238 section 5.2). The step is recorded with a conditional update, so two concurrent
 * uses of one code cannot both pass. Returns false for a wrong, reused or expired code.
 */
export async function useTotpCode(tx: Tx, user: { id: string; totpSecret: string | null; totpLastStep: bigint | null }, code: string): Promise<boolean> {
  if (!user.totpSecret || !/^\d{6}$/.test(code)) return false;
  const after = user.totpLastStep === null ? undefined : Number(user.totpLastStep);
  const result = await verify({ secret: user.totpSecret, token: code, period: PERIOD_S, epochTolerance: TOLERANCE_S, ...(after === undefined ? {} : { afterTimeStep: after }) });
  if (!result.valid || !("timeStep" in result)) return false;
  const step = BigInt(result.timeStep);
  const recorded = await tx.user.updateMany({
    where: { id: user.id, OR: [{ totpLastStep: null }, { totpLastStep: { lt: step } }] },
    data: { totpLastStep: step },
  });
  return recorded.count === 1;
}

/**
 * Checks a second factor: a TOTP code, or else a single-use recovery code (audited as used).
 * Returns which one passed, or null.
 */
export async function useSecondFactor(
  tx: Tx,
  user: { id: string; totpSecret: string | null; totpLastStep: bigint | null },
  factor: { code?: string | undefined; recoveryCode?: string | undefined },
  requestId: string,
): Promise<"totp" | "recovery_code" | null> {
  if (factor.code !== undefined && (await useTotpCode(tx, user, factor.code))) return "totp";
  if (factor.recoveryCode !== undefined && (await consumeRecoveryCode(tx, user.id, factor.recoveryCode))) {
    const left = await tx.recoveryCode.count({ where: { userId: user.id, usedAt: null } });
    await audit(tx, { action: "MFA_RECOVERY_CODE_USED", targetType: "user", targetId: user.id, actorUserId: user.id, requestId, data: { remaining: left } });
    return "recovery_code";
  }
  return null;
}

/**
 * TOTP enrolment for the signed-in user: `enroll` stores a pending secret and returns it with
 * its `otpauth://` URI (for the QR code); `confirm` checks a code from the app, turns TOTP on
 * and returns the recovery codes (shown once); `disable` needs a current code or a recovery code.
 */
export function createTotpService(deps: { db: Database; issuer: string }) {
  const { prisma } = deps.db;
  return {
    /** Whether the user has TOTP on (confirmed enrolment). */
    async enabled(actor: Actor): Promise<boolean> {
      const user = await prisma.user.findUniqueOrThrow({ where: { id: actor.userId }, select: { totpEnabledAt: true } });
      return user.totpEnabledAt !== null;
    },

    /** Starts (or restarts) enrolment. Throws `conflict` when TOTP is already on. */
    async enroll(actor: Actor): Promise<{ secret: string; otpauthUri: string }> {
      const user = await prisma.user.findUniqueOrThrow({ where: { id: actor.userId } });
      if (user.totpEnabledAt) throw new AppError("conflict", "two-factor authentication is already enabled");
      const secret = generateSecret();
      await prisma.user.update({ where: { id: user.id }, data: { totpSecret: secret, totpLastStep: null } });
      return { secret, otpauthUri: generateURI({ issuer: deps.issuer, label: user.email, secret, period: PERIOD_S }) };
    },

    /** Confirms enrolment with a code; lifts an MFA-setup-only restriction from the user's sessions. Throws `validation` on a wrong code. */
    async confirm(actor: Actor, code: string, requestId: string): Promise<{ recoveryCodes: string[] }> {
      return prisma.$transaction(async (tx) => {
        const user = await tx.user.findUniqueOrThrow({ where: { id: actor.userId } });
        if (user.totpEnabledAt) throw new AppError("conflict", "two-factor authentication is already enabled");
        if (!user.totpSecret) throw new AppError("conflict", "start enrolment first (POST /api/auth/totp/enroll)");
        if (!(await useTotpCode(tx, user, code))) throw new AppError("validation", "wrong code", [{ field: "code", message: "wrong or expired code" }]);
        await tx.user.update({ where: { id: user.id }, data: { totpEnabledAt: new Date() } });
        await tx.session.updateMany({ where: { userId: user.id, mfaSetupRequired: true }, data: { mfaSetupRequired: false } });
        const recoveryCodes = await issueRecoveryCodes(tx, user.id);
        await audit(tx, { action: "MFA_ENABLED", targetType: "user", targetId: user.id, actorUserId: actor.userId, requestId, data: { method: "totp" } });
        return { recoveryCodes };
      });
    },

    /** Turns TOTP off after a current code or recovery code. Throws `validation` when neither passes, `forbidden` when policy requires TOTP. */
    async disable(actor: Actor, factor: { code?: string | undefined; recoveryCode?: string | undefined }, requiredRoles: readonly string[], requestId: string): Promise<void> {
      if (actor.platformRole && requiredRoles.includes(actor.platformRole)) throw new AppError("forbidden", "two-factor authentication is required for your role");
      await prisma.$transaction(async (tx) => {
        const user = await tx.user.findUniqueOrThrow({ where: { id: actor.userId } });
        if (!user.totpEnabledAt) throw new AppError("conflict", "two-factor authentication is not enabled");
        if (!(await useSecondFactor(tx, user, factor, requestId))) throw new AppError("validation", "wrong code", [{ field: "code", message: "wrong or expired code" }]);
        await tx.user.update({ where: { id: user.id }, data: { totpEnabledAt: null, totpSecret: null, totpLastStep: null } });
        await tx.recoveryCode.deleteMany({ where: { userId: user.id } });
        await audit(tx, { action: "MFA_DISABLED", targetType: "user", targetId: user.id, actorUserId: actor.userId, requestId });
      });
    },
  };
}

export type TotpService = ReturnType<typeof createTotpService>;
