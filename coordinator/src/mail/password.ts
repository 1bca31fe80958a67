import argon2 from "argon2";

/** Argon2id cost (OWASP's minimum: 19 MiB, 2 passes); parallelism 1 because Dovecot verifies through libsodium, which only accepts p=1. */
const COST = { type: argon2.argon2id, parallelism: 1, memoryCost: 19456, timeCost: 2 } as const;
const PHC = /^\$argon2id\$v=19\$(?<params>[a-z]=\d+(?:,[a-z]=\d+)*)\$(?<rest>[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+)$/;

/**
 * Hashes a mailbox password for Dovecot's passwd-file: `{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`
 * (the `MailPasswordHash` payload format). The argon2 package writes the PHC parameters in
 * alphabetical order (`m,p,t`), but libsodium's `crypto_pwhash_str_verify`, which Dovecot's
 * `{ARGON2ID}` scheme calls, parses them strictly as `m,t,p`, so they are re-ordered here.
 * The plain password is neither kept nor logged. Throws when argon2 returns an unexpected format.
 */
export async function hashMailPassword(password: string): Promise<string> {
  const encoded = await argon2.hash(password, COST);
  const match = PHC.exec(encoded);
  const params = new Map(match?.groups?.params?.split(",").map((kv) => kv.split("=") as [string, string]));
  const [m, t, p] = [params.get("m"), params.get("t"), params.get("p")];
  if (!match?.groups?.rest || !m || !t || p !== "1") throw new Error("argon2 returned an unexpected hash format");
  return `{ARGON2ID}$argon2id$v=19$m=${m},t=${t},p=${p}$${match.groups.rest}`;
}
