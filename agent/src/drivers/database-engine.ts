import { DbName, DbPasswordVerifier, DbUserName, type DbEngine } from "@mpanel/proto";

/** Why a database operation failed; handlers branch on this, never on the message. */
export type DatabaseErrorCode =
  | "invalid_argument" // a name or verifier the schema refuses, or a verifier of the other engine
  | "reserved_name" // the name is the admin's, a system database, or an account with server-wide rights
  | "database_missing" // a user was to be granted a database that does not exist (yet)
  | "server_error"; // the server refused the statement or could not be reached

/**
 * The one error type of the database drivers. `serverMessage` is the server's own text (never a
 * statement or parameter, so no verifier); `retryable` is true for connection loss, timeouts,
 * lock conflicts and a missing database, false for bad input and refused statements.
 */
export class DatabaseError extends Error {
  override readonly name = "DatabaseError";

  constructor(
    readonly code: DatabaseErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly serverMessage = "",
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A tenant database user as CREATE_DB_USER describes it. */
export interface DbUserSpec {
  /** DbName-valid user name (3-32 characters, a-z first, then a-z, 0-9, _). */
  username: string;
  /** The engine's verifier: `*<40 hex>` for MariaDB, `SCRAM-SHA-256$...` for PostgreSQL. */
  verifier: string;
  /** The one database the user gets all privileges on; must already exist. */
  database: string;
}

/**
 * One database server (MariaDB or PostgreSQL) reached through an admin connection. Every method
 * is an idempotent ensure, checks its arguments with the proto schemas first (DatabaseError
 * "invalid_argument", nothing sent to the server), refuses system names and accounts with
 * server-wide rights ("reserved_name"), and otherwise throws DatabaseError("server_error").
 */
export interface DatabaseEngine {
  readonly engine: DbEngine;
  /** Server version string, e.g. "10.11.19-MariaDB-0+deb12u1" or "15.14 (Debian 15.14-0+deb12u1)". */
  version(): Promise<string>;
  /** Creates the database if missing; only users granted it can use it. */
  ensureDatabase(name: string): Promise<"created" | "exists">;
  /** Ends the database's sessions, forgets every grant on it and drops it. */
  dropDatabase(name: string): Promise<"dropped" | "absent">;
  /**
   * Creates the user or sets its verifier (password rotation), grants it all privileges on
   * `spec.database` and revokes what it had on any other database.
   * Throws DatabaseError("database_missing", retryable) when that database does not exist.
   */
  ensureUser(spec: DbUserSpec): Promise<"created" | "updated">;
  /** Ends the user's sessions, hands what it owns to the admin, and drops it. */
  dropUser(username: string): Promise<"dropped" | "absent">;
  /** Closes the admin pool; later calls fail. */
  close(): Promise<void>;
}

/** `value` if `schema` accepts it, else DatabaseError("invalid_argument") naming `field`. */
function checked(schema: typeof DbName, field: string, value: string): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new DatabaseError("invalid_argument", `${field}: ${parsed.error.issues.map((i) => i.message).join("; ")}`, false);
  return parsed.data;
}

/** A DbName-valid database name, or DatabaseError("invalid_argument"). */
export const checkDatabaseName = (name: string): string => checked(DbName, "name", name);

/** A DbUserName-valid user name, or DatabaseError("invalid_argument"). */
export const checkUserName = (name: string): string => checked(DbUserName, "username", name);

/**
 * Checks a whole DbUserSpec; `verifierPrefix` is what this engine's verifier starts with
 * ("*" or "SCRAM-SHA-256$"). Throws DatabaseError("invalid_argument") naming the field.
 */
export function checkUserSpec(spec: DbUserSpec, verifierPrefix: string): DbUserSpec {
  const verifier = checked(DbPasswordVerifier, "passwordVerifier", spec.verifier);
  if (!verifier.startsWith(verifierPrefix)) throw new DatabaseError("invalid_argument", `passwordVerifier: this engine needs a verifier starting with ${verifierPrefix}`, false);
  return { username: checkUserName(spec.username), verifier, database: checked(DbName, "database", spec.database) };
}

/** Throws DatabaseError("reserved_name") when `name` is in `reserved`. */
export function refuseReserved(kind: "database" | "user", name: string, reserved: ReadonlySet<string>): void {
  if (reserved.has(name)) throw new DatabaseError("reserved_name", `${kind} name ${name} is reserved`, false);
}

/** Node socket error codes after which a retry may succeed. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EPIPE", "EAI_AGAIN", "ENOENT"]);
