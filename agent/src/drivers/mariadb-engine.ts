import mariadb, { type Pool, type SqlError } from "mariadb";
import type { Logger } from "pino";
import { checkDatabaseName, checkUserName, checkUserSpec, DatabaseError, NETWORK_ERROR_CODES, refuseReserved, type DatabaseEngine } from "./database-engine";

/** How the agent reaches MariaDB as an administrator (see MariaDbServerConfig in databases.ts). */
export interface MariaDbConnection {
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  /** Unix socket; when set it is used instead of host:port (e.g. root with unix_socket auth). */
  socketPath?: string | undefined;
  /** Host part of every tenant account, e.g. "%" (any host) or "10.0.0.%". */
  userHost: string;
}

/** System schemas and accounts no job may create, grant, alter or drop. */
const RESERVED_DATABASES = new Set(["mysql", "information_schema", "performance_schema", "sys"]);
const RESERVED_USERS = new Set(["root", "mysql", "mariadb"]);
/** Errors after which a retry may succeed: lock wait timeout, deadlock, connection timeouts. */
const RETRYABLE_ERRNOS = new Set([1205, 1213, 45009, 45012, 45028]);
/** "Unknown thread id": the session ended by itself before KILL. */
const ER_NO_SUCH_THREAD = 1094;

/** A `backtick`-quoted identifier (MariaDB "Identifier Names"). */
const quoteId = (name: string): string => `\`${name.replaceAll("`", "``")}\``;

/**
 * The database-level grant pattern of `name`: in `GRANT ... ON db.*` (and in `mysql.db.Db`) `_`
 * and `%` are wildcards, so `shop_1` unescaped would also match a tenant's `shopx1`.
 */
const grantPattern = (name: string): string => name.replace(/[_%]/g, "\\$&");

/** Wraps a connector error as DatabaseError("server_error") with the server's own message (never the SQL). */
function serverError(action: string, error: unknown): DatabaseError {
  if (error instanceof DatabaseError) return error;
  const e = error as Partial<SqlError>;
  const network = NETWORK_ERROR_CODES.has(e.code ?? "");
  const serverMessage = e.sqlMessage ?? (network ? (e.code ?? "") : "");
  const retryable = Boolean(e.fatal) || network || RETRYABLE_ERRNOS.has(e.errno ?? 0) || (e.sqlState ?? "").startsWith("08");
  return new DatabaseError("server_error", `mariadb: ${action} failed: ${serverMessage || "connection error"}`, retryable, serverMessage, { cause: error });
}

/**
 * MariaDB driver over an admin pool (mariadb connector; values go through the connector's
 * client-side `?` escaping, identifiers are validated by the proto schemas and backtick-quoted).
 * Tenant accounts are `'<username>'@'<userHost>'` with `mysql_native_password`
 * (MariaDB KB "CREATE USER", "GRANT"). Note on hosts: with `--skip-name-resolve` a TCP client
 * from 127.0.0.1 matches `127.0.0.1` or `%`, never `localhost` (socket only); `%` matches both.
 */
export function createMariaDbEngine(cfg: MariaDbConnection, parentLog: Logger): DatabaseEngine {
  const log = parentLog.child({ component: "mariadb" });
  const pool: Pool = mariadb.createPool({
    ...(cfg.socketPath ? { socketPath: cfg.socketPath } : { host: cfg.host, port: cfg.port }),
    user: cfg.user,
    ...(cfg.password !== undefined ? { password: cfg.password } : {}),
    connectionLimit: 4,
    minimumIdle: 0,
    acquireTimeout: 5_000,
    connectTimeout: 5_000,
  });
  const reservedUsers = new Set([...RESERVED_USERS, cfg.user]);

  const run = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw serverError(action, error);
    }
  };
  const rows = <T>(sql: string, values: unknown[] = []): Promise<T[]> => pool.query<T[]>(sql, values);
  const databaseExists = async (name: string) => (await rows("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [name])).length > 0;

  /** Ends the sessions `where` selects from the processlist (not our own); a session that already ended is fine. */
  const killSessions = async (where: string, value: string): Promise<number> => {
    const ids = await rows<{ ID: number | bigint }>(`SELECT ID FROM information_schema.PROCESSLIST WHERE ${where} = ? AND ID <> CONNECTION_ID()`, [value]);
    for (const { ID } of ids) {
      await pool.query("KILL CONNECTION ?", [ID]).catch((error: SqlError) => {
        if (error.errno !== ER_NO_SUCH_THREAD) throw error;
      });
    }
    return ids.length;
  };

  /** Refuses accounts that hold any server-wide privilege (e.g. an operator's own admin user). */
  const refusePrivileged = async (username: string): Promise<void> => {
    const [grants] = await rows<{ n: number | bigint }>("SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND (Super_priv = 'Y' OR Grant_priv = 'Y' OR Create_user_priv = 'Y' OR Select_priv = 'Y' OR Create_priv = 'Y')", [username]);
    if (Number(grants?.n ?? 0) > 0) throw new DatabaseError("reserved_name", `user ${username} has server-wide privileges and is not managed by mPanel`, false);
  };

  return {
    engine: "mariadb",

    version: () => run("version", async () => String((await rows<{ v: string }>("SELECT VERSION() AS v"))[0]?.v ?? "")),

    async ensureDatabase(input) {
      const name = checkDatabaseName(input);
      refuseReserved("database", name, RESERVED_DATABASES);
      return run("create database", async () => {
        const existed = await databaseExists(name);
        await pool.query(`CREATE DATABASE IF NOT EXISTS ${quoteId(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
        log.info({ database: name, existed }, "database ensured");
        return existed ? "exists" : "created";
      });
    },

    async dropDatabase(input) {
      const name = checkDatabaseName(input);
      refuseReserved("database", name, RESERVED_DATABASES);
      return run("drop database", async () => {
        // Grants outlive the database in mysql.db: revoke them, or a later database of this name would inherit them.
        const pattern = grantPattern(name);
        const holders = await rows<{ User: string; Host: string }>("SELECT User, Host FROM mysql.db WHERE Db = ?", [pattern]);
        for (const h of holders) await pool.query(`REVOKE ALL PRIVILEGES ON ${quoteId(pattern)}.* FROM ?@?`, [h.User, h.Host]);
        const existed = await databaseExists(name);
        const killed = await killSessions("DB", name);
        await pool.query(`DROP DATABASE IF EXISTS ${quoteId(name)}`);
        log.info({ database: name, existed, revoked: holders.length, killed }, "database dropped");
        return existed ? "dropped" : "absent";
      });
    },

    async ensureUser(input) {
      const spec = checkUserSpec(input, "*");
      refuseReserved("user", spec.username, reservedUsers);
      refuseReserved("database", spec.database, RESERVED_DATABASES);
      return run("ensure user", async () => {
        if (!(await databaseExists(spec.database))) throw new DatabaseError("database_missing", `database ${spec.database} does not exist`, true);
        await refusePrivileged(spec.username);
        const account = [spec.username, cfg.userHost];
        const existed = (await rows("SELECT User FROM mysql.user WHERE User = ? AND Host = ?", account)).length > 0;
        await pool.query("CREATE USER IF NOT EXISTS ?@? IDENTIFIED VIA mysql_native_password USING ?", [...account, spec.verifier]);
        if (existed) await pool.query("ALTER USER ?@? IDENTIFIED VIA mysql_native_password USING ?", [...account, spec.verifier]);
        const pattern = grantPattern(spec.database);
        const others = await rows<{ Db: string }>("SELECT Db FROM mysql.db WHERE User = ? AND Host = ? AND Db <> ?", [...account, pattern]);
        for (const { Db } of others) await pool.query(`REVOKE ALL PRIVILEGES ON ${quoteId(Db)}.* FROM ?@?`, account);
        await pool.query(`GRANT ALL PRIVILEGES ON ${quoteId(pattern)}.* TO ?@?`, account);
        log.info({ user: spec.username, database: spec.database, existed, revoked: others.length }, "database user ensured");
        return existed ? "updated" : "created";
      });
    },

    async dropUser(input) {
      const username = checkUserName(input);
      refuseReserved("user", username, reservedUsers);
      return run("drop user", async () => {
        await refusePrivileged(username);
        const hosts = await rows<{ Host: string }>("SELECT Host FROM mysql.user WHERE User = ?", [username]);
        for (const { Host } of hosts) await pool.query("DROP USER IF EXISTS ?@?", [username, Host]);
        const killed = await killSessions("USER", username); // after the drop, so no new session slips in
        log.info({ user: username, accounts: hosts.length, killed }, "database user dropped");
        return hosts.length > 0 ? "dropped" : "absent";
      });
    },

    close: () => pool.end(),
  };
}
