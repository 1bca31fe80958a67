import { randomBytes } from "node:crypto";
import type { Tx } from "../db/client";
import { hashSecret } from "../auth/tokens";

/** How many recovery codes an enrolment hands out. */
export const RECOVERY_CODE_COUNT = 10;

/** Canonical form of a typed code: lowercase, separators and spaces removed. */
function canonical(code: string): string {
  return code.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/**
 * Replaces the user's recovery codes with `RECOVERY_CODE_COUNT` new ones and returns them
 * (the only time they are shown). Each is 80 random bits as 20 hex digits in groups of 5
 * (`1a2b3-...`); only the SHA-256 of its canonical form is stored.
 */
export async function issueRecoveryCodes(tx: Tx, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => randomBytes(10).toString("hex").match(/.{5}/g)?.join("-") ?? "");
  await tx.recoveryCode.deleteMany({ where: { userId } });
  await tx.recoveryCode.createMany({ data: codes.map((code) => ({ userId, codeHash: hashSecret(canonical(code)) })) });
  return codes;
}

/** Marks one unused recovery code of the user as used; true when `code` was such a code (single use, race-safe). */
export async function consumeRecoveryCode(tx: Tx, userId: string, code: string): Promise<boolean> {
  const used = await tx.recoveryCode.updateMany({ where: { userId, codeHash: hashSecret(canonical(code)), usedAt: null }, data: { usedAt: new Date() } });
  return used.count === 1;
}
