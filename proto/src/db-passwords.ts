import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

/**
 * Database passwords as the coordinator handles them: it generates the password, shows it to the
 * user once, and sends the db node only a verifier (`DbPasswordVerifier` in jobs.ts), so no
 * plain password is stored or carried anywhere.
 */

/** PostgreSQL's default and minimum useful SCRAM iteration count (`scram_iterations`, RFC 7677 section 4). */
const DEFAULT_SCRAM_ITERATIONS = 4096;
/** Salt length PostgreSQL itself uses (`SCRAM_DEFAULT_SALT_LEN`). */
const DEFAULT_SALT_BYTES = 16;
/** Bounds the `DbPasswordVerifier` schema accepts for the iteration count (4 to 7 digits). */
const MIN_ITERATIONS = 1000;
const MAX_ITERATIONS = 9_999_999;
/** Only printable ASCII: for it SASLprep (RFC 4013) is the identity, so our bytes equal PostgreSQL's. */
const SCRAM_SAFE_PASSWORD = /^[\x20-\x7e]+$/;

/**
 * MariaDB/MySQL `mysql_native_password` hash of `password` (UTF-8): `*` followed by the 40
 * upper-case hex digits of SHA1(SHA1(password)), what `PASSWORD('...')` returns and what
 * `IDENTIFIED VIA mysql_native_password USING '<hash>'` (or `IDENTIFIED BY PASSWORD`) expects.
 * Throws RangeError for an empty password.
 */
export function mysqlNativePasswordHash(password: string): string {
  if (password.length === 0) throw new RangeError("password must not be empty");
  const stage1 = createHash("sha1").update(password, "utf8").digest();
  return `*${createHash("sha1").update(stage1).digest("hex").toUpperCase()}`;
}

/**
 * PostgreSQL's SCRAM-SHA-256 verifier of `password`, exactly as stored in `pg_authid.rolpassword`
 * and accepted pre-hashed by `CREATE ROLE ... PASSWORD '<verifier>'`:
 * `SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`.
 *
 * Steps (RFC 5802 section 3, with SHA-256 per RFC 7677):
 *   SaltedPassword = Hi(password, salt, i) = PBKDF2-HMAC-SHA-256(password, salt, i, 32 bytes)
 *   ClientKey      = HMAC-SHA-256(SaltedPassword, "Client Key")
 *   StoredKey      = SHA-256(ClientKey)
 *   ServerKey      = HMAC-SHA-256(SaltedPassword, "Server Key")
 * The password should be SASLprep-normalized first (RFC 4013); for printable ASCII that is the
 * identity, so only such passwords are accepted (as `generateDbPassword` makes).
 *
 * `options.iterations` defaults to 4096 (integer 1000..9999999); `options.salt` defaults to 16
 * random bytes. Throws RangeError for a non-printable-ASCII or empty password, a bad iteration
 * count or an empty salt.
 */
export function scramSha256Verifier(password: string, options: { iterations?: number; salt?: Buffer } = {}): string {
  if (!SCRAM_SAFE_PASSWORD.test(password)) throw new RangeError("password must be non-empty printable ASCII (SASLprep would change it otherwise)");
  const iterations = options.iterations ?? DEFAULT_SCRAM_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new RangeError(`iterations must be an integer in ${MIN_ITERATIONS}..${MAX_ITERATIONS}`);
  }
  const salt = options.salt ?? randomBytes(DEFAULT_SALT_BYTES);
  if (salt.length === 0) throw new RangeError("salt must not be empty");
  const salted = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/**
 * A new database password: 32 characters of the URL-safe base64 alphabet (A-Z a-z 0-9 - _),
 * 192 random bits from the system CSPRNG. Show it once; store only its verifiers.
 */
export function generateDbPassword(): string {
  return randomBytes(24).toString("base64url");
}
