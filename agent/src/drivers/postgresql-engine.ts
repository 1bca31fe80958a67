import pg from "pg";
import type { Logger } from "pino";
import { checkDatabaseName, checkUserName, checkUserSpec, DatabaseError, NETWORK_ERROR_CODES, refuseReserved, type DatabaseEngine } from "./database-engine";

/** How the agent reaches PostgreSQL as a superuser (see PostgreSqlServerConfig in databases.ts). */
export interface PostgreSqlConnection {
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  /** Directory holding the server's `.s.PGSQL.<port>` socket; when set it is used instead of host. */
  socketPath?: string | undefined;
  /** The database the admin pool connects to, e.g. "postgres". */
  database: string;
}

/** System databases and roles no job may create, grant, alter or drop (`pg_*` roles are refused by the server itself). */
const RESERVED_DATABASES = new Set(["postgres", "template0", "template1"]);
const RESERVED_USERS = new Set(["postgres", "public"]);
/** SQLSTATE classes worth a retry: connection exception, transaction rollback, insufficient resources, operator intervention. */
const RETRYABLE_CLASSES = new Set(["08", "40", "53", "57"]);
/** Duplicate database / duplicate object: a concurrent job created it first. */
const DUPLICATE = new Set(["42P04", "42710"]);
/** lock_not_available; "tuple concurrently updated" (XX000) when two GRANTs race. */
const RETRYABLE_STATES = new Set(["55P03", "XX000"]);

const { escapeIdentifier: quoteId, escapeLiteral: quoteLiteral } = pg;

/** Wraps a pg error as DatabaseError("server_error") with the server's own message. */
function serverError(action: string, error: unknown): DatabaseError {
  if (error instanceof DatabaseError) return error;
  const e = error as { code?: string; message?: string };
  const code = e.code ?? "";
  const serverMessage = e.message ?? "";
  const retryable = NETWORK_ERROR_CODES.has(code) || RETRYABLE_CLASSES.has(code.slice(0, 2)) || RETRYABLE_STATES.has(code) || !/^[0-9A-Z]{5}$/.test(code);
  return new DatabaseError("server_error", `postgresql: ${action} failed: ${serverMessage || "connection error"}`, retryable, serverMessage, { cause: error });
}

/** True when `error` is a server error with one of the SQLSTATEs in `codes`. */
const hasState = (error: unknown, codes: ReadonlySet<string>): boolean => codes.has((error as { code?: string }).code ?? "");

/**
 * PostgreSQL driver over an admin pool (`pg`). Identifiers are validated by the proto schemas and
 * quoted with `escapeIdentifier`; verifiers go in as escaped literals because utility statements
 * (CREATE/ALTER ROLE) take no bound parameters. A pre-hashed SCRAM verifier is stored as given
 * (PostgreSQL docs "CREATE ROLE", "Password Authentication"). Each new database has all rights
 * revoked from PUBLIC, so only the users granted it can even connect.
 */
export function createPostgreSqlEngine(cfg: PostgreSqlConnection, parentLog: Logger): DatabaseEngine {
  const log = parentLog.child({ component: "postgresql" });
  const connection: pg.ClientConfig = {
    host: cfg.socketPath ?? cfg.host,
    port: cfg.port,
    user: cfg.user,
    ...(cfg.password !== undefined ? { password: cfg.password } : {}),
    connectionTimeoutMillis: 5_000,
  };
  const pool = new pg.Pool({ ...connection, database: cfg.database, max: 4, idleTimeoutMillis: 30_000 });
  pool.on("error", (error) => log.warn({ err: error.message }, "idle admin connection lost"));
  const reservedUsers = new Set([...RESERVED_USERS, cfg.user]);
  const reservedDatabases = new Set([...RESERVED_DATABASES, cfg.database]);

  const run = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw serverError(action, error);
    }
  };
  const exists = async (sql: string, value: string) => ((await pool.query(sql, [value])).rowCount ?? 0) > 0;
  const databaseExists = (name: string) => exists("SELECT 1 FROM pg_database WHERE datname = $1", name);

  /** Runs `statements` as the admin connected to `database` (GRANT ON SCHEMA and REASSIGN OWNED act per database). */
  const inDatabase = async (database: string, statements: string[]): Promise<void> => {
    const client = new pg.Client({ ...connection, database });
    client.on("error", () => undefined); // a terminated session surfaces through the pending query
    await client.connect();
    try {
      for (const sql of statements) await client.query(sql);
    } finally {
      await client.end();
    }
  };

  /** Refuses roles with server-wide rights (superuser, CREATEROLE, ...): they are not tenant users. */
  const refusePrivileged = async (username: string): Promise<void> => {
    if (await exists("SELECT 1 FROM pg_roles WHERE rolname = $1 AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)", username)) {
      throw new DatabaseError("reserved_name", `user ${username} has server-wide rights and is not managed by mPanel`, false);
    }
  };

  return {
    engine: "postgresql",

    version: () => run("version", async () => String((await pool.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? "")),

    async ensureDatabase(input) {
      const name = checkDatabaseName(input);
      refuseReserved("database", name, reservedDatabases);
      return run("create database", async () => {
        let existed = await databaseExists(name);
        if (!existed) {
          existed = await pool.query(`CREATE DATABASE ${quoteId(name)}`).then(() => false, (error: unknown) => {
            if (hasState(error, DUPLICATE)) return true;
            throw error;
          });
        }
        await pool.query(`REVOKE ALL ON DATABASE ${quoteId(name)} FROM PUBLIC`);
        log.info({ database: name, existed }, "database ensured");
        return existed ? "exists" : "created";
      });
    },

    async dropDatabase(input) {
      const name = checkDatabaseName(input);
      refuseReserved("database", name, reservedDatabases);
      return run("drop database", async () => {
        const existed = await databaseExists(name);
        // FORCE (PostgreSQL 13+) terminates the database's sessions; its grants go with it.
        await pool.query(`DROP DATABASE IF EXISTS ${quoteId(name)} WITH (FORCE)`);
        log.info({ database: name, existed }, "database dropped");
        return existed ? "dropped" : "absent";
      });
    },

    async ensureUser(input) {
      const spec = checkUserSpec(input, "SCRAM-SHA-256$");
      refuseReserved("user", spec.username, reservedUsers);
      refuseReserved("database", spec.database, reservedDatabases);
      const user = quoteId(spec.username);
      const attributes = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${quoteLiteral(spec.verifier)}`;
      return run("ensure user", async () => {
        if (!(await databaseExists(spec.database))) throw new DatabaseError("database_missing", `database ${spec.database} does not exist`, true);
        await refusePrivileged(spec.username);
        let existed = await exists("SELECT 1 FROM pg_roles WHERE rolname = $1", spec.username);
        if (!existed) {
          existed = await pool.query(`CREATE ROLE ${user} ${attributes}`).then(() => false, (error: unknown) => {
            if (hasState(error, DUPLICATE)) return true;
            throw error;
          });
        }
        if (existed) await pool.query(`ALTER ROLE ${user} WITH ${attributes}`);
        const others = await pool.query<{ datname: string }>(
          "SELECT DISTINCT d.datname FROM pg_database d, aclexplode(d.datacl) a, pg_roles r WHERE r.rolname = $1 AND a.grantee = r.oid AND d.datname <> $2",
          [spec.username, spec.database],
        );
        for (const { datname } of others.rows) await pool.query(`REVOKE ALL ON DATABASE ${quoteId(datname)} FROM ${user}`);
        await pool.query(`GRANT ALL ON DATABASE ${quoteId(spec.database)} TO ${user}`);
        // Since PostgreSQL 15 PUBLIC may not create in schema public: grant it to the user in that database.
        await inDatabase(spec.database, [`GRANT ALL ON SCHEMA public TO ${user}`]);
        log.info({ user: spec.username, database: spec.database, existed, revoked: others.rowCount }, "database user ensured");
        return existed ? "updated" : "created";
      });
    },

    async dropUser(input) {
      const username = checkUserName(input);
      refuseReserved("user", username, reservedUsers);
      const user = quoteId(username);
      return run("drop user", async () => {
        if (!(await exists("SELECT 1 FROM pg_roles WHERE rolname = $1", username))) return "absent";
        await refusePrivileged(username);
        await pool.query(`ALTER ROLE ${user} NOLOGIN`); // no new sessions while we end the current ones
        await pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [username]);
        // REASSIGN/DROP OWNED act on the current database (plus shared objects such as database grants):
        // run them in every database where the role owns or was granted something, and in the admin's.
        const databases = await pool.query<{ datname: string }>(
          "SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.refobjid WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = $1 AND d.datallowconn",
          [username],
        );
        const names = new Set([cfg.database, ...databases.rows.map((r) => r.datname)]);
        for (const database of names) await inDatabase(database, [`REASSIGN OWNED BY ${user} TO CURRENT_USER`, `DROP OWNED BY ${user}`]);
        await pool.query(`DROP ROLE IF EXISTS ${user}`);
        log.info({ user: username, databases: names.size }, "database user dropped");
        return "dropped";
      });
    },

    close: () => pool.end(),
  };
}
