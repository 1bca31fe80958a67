import nodemailer from "nodemailer";
import { z } from "zod";
import { audit } from "../audit";
import { hashPassword } from "../auth/passwords";
import { hashSecret, newSecret } from "../auth/tokens";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { NewPassword } from "./sessions";

/** Body of `POST /api/auth/password-reset`. */
export const ResetRequestInput = z.strictObject({ email: z.email().max(254) });
/** Body of `POST /api/auth/password-reset/complete`: the token from the emailed link and the new password. */
export const ResetCompleteInput = z.strictObject({ token: z.string().regex(/^mpr_[A-Za-z0-9_-]{43}$/, "not a reset token"), newPassword: NewPassword });

/** How long an emailed reset link works (ms). */
const RESET_TTL_MS = 30 * 60_000;

/** Where reset mail goes out: an SMTP URL (`smtp://host:port`), the sender and the panel's public URL for the link. */
export interface ResetMailConfig {
  smtpUrl: string | undefined;
  from: string;
  publicUrl: string;
}

/**
 * Password reset by emailed single-use link. `request` always answers the same way (whether
 * the email is known or not); `complete` sets the new password, uses the token up, clears
 * the account lock and revokes every session of the user.
 */
export function createPasswordResetService(deps: { db: Database; mail: ResetMailConfig }) {
  const { prisma } = deps.db;
  const transport = deps.mail.smtpUrl ? nodemailer.createTransport(deps.mail.smtpUrl) : null;
  return {
    /** Mails a reset link to a known, active user. Throws `forbidden` when no SMTP server is configured. */
    async request(email: string, meta: { ip: string; requestId: string }): Promise<void> {
      if (!transport) throw new AppError("forbidden", "password reset by email is not configured");
      const user = await prisma.user.findUnique({ where: { email: email.toLowerCase() } });
      if (!user || user.status !== "active") return;
      const token = newSecret("mpr_");
      await prisma.$transaction(async (tx) => {
        await tx.passwordReset.create({ data: { userId: user.id, tokenHash: hashSecret(token), expiresAt: new Date(Date.now() + RESET_TTL_MS) } });
        await audit(tx, { action: "PASSWORD_RESET_REQUESTED", targetType: "user", targetId: user.id, requestId: meta.requestId, data: { ip: meta.ip } });
      });
      const link = new URL(`/reset-password#token=${token}`, deps.mail.publicUrl).toString();
      await transport.sendMail({
        from: deps.mail.from,
        to: user.email,
        subject: "Reset your mPanel password",
        text: `Someone (hopefully you) asked to reset the password of ${user.email}.\n\nOpen this link within 30 minutes to choose a new one:\n${link}\n\nIf it was not you, ignore this message.\n`,
      });
    },

    /** Throws `unauthenticated` for an unknown, used or expired token. */
    async complete(input: z.output<typeof ResetCompleteInput>, requestId: string): Promise<void> {
      const passwordHash = await hashPassword(input.newPassword);
      await prisma.$transaction(async (tx) => {
        const reset = await tx.passwordReset.findUnique({ where: { tokenHash: hashSecret(input.token) } });
        if (!reset || reset.expiresAt <= new Date()) throw new AppError("unauthenticated", "invalid or expired reset link");
        const claimed = await tx.passwordReset.updateMany({ where: { id: reset.id, usedAt: null }, data: { usedAt: new Date() } });
        if (claimed.count !== 1) throw new AppError("unauthenticated", "invalid or expired reset link");
        await tx.user.update({ where: { id: reset.userId }, data: { passwordHash, failedLogins: 0, lockedUntil: null } });
        await tx.session.updateMany({ where: { userId: reset.userId, revokedAt: null }, data: { revokedAt: new Date() } });
        await audit(tx, { action: "PASSWORD_RESET", targetType: "user", targetId: reset.userId, actorUserId: reset.userId, requestId });
      });
    },

    close(): void {
      transport?.close();
    },
  };
}

export type PasswordResetService = ReturnType<typeof createPasswordResetService>;
