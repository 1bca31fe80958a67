import argon2 from "argon2";
import { randomBytes } from "node:crypto";

/** argon2id hash (PHC string) with the library's defaults (m=64 MiB, t=3, p=4; RFC 9106). */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

/** True when `password` matches the PHC hash; false on mismatch or a malformed hash. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  return argon2.verify(hash, password).catch(() => false);
}

/** A one-time password for a new account: 20 characters of base64url (120 bits). */
export function generatePassword(): string {
  return randomBytes(15).toString("base64url");
}
