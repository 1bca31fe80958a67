import { createHash, randomBytes } from "node:crypto";

/**
 * A random secret of `bytes` bytes (default 32 = 256 bits) as base64url, with a prefix that
 * tells what it is (`mps_` session, `mpj_` join token) so it is recognisable in a leak scan.
 */
export function newSecret(prefix: string, bytes = 32): string {
  return `${prefix}${randomBytes(bytes).toString("base64url")}`;
}

/**
 * SHA-256 (hex) of a high-entropy secret: what is stored instead of the secret. A slow hash is
 * unnecessary for 256-bit random tokens; passwords use argon2id instead (`passwords.ts`).
 */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}
