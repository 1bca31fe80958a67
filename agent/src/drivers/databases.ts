import type { Logger } from "pino";
import { z } from "zod";
import type { DatabaseEngine } from "./database-engine";
import { createMariaDbEngine } from "./mariadb-engine";
import { createPostgreSqlEngine } from "./postgresql-engine";

export { DatabaseError, type DatabaseEngine, type DatabaseErrorCode, type DbUserSpec } from "./database-engine";

const Host = z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/, "must be a host name or IP address");
const Port = z.number().int().min(1).max(65535);
const AdminUser = z.string().min(1).max(80);
/** The admin's password: a secret, so there is no default; omit it for socket (peer / unix_socket) auth. */
const AdminPassword = z.string().min(1).max(256).optional();
const SocketPath = z.string().startsWith("/").max(200).optional();

/** MariaDB admin connection (role db). `socketPath` wins over host:port when set. */
export const MariaDbServerConfig = z.strictObject({
  host: Host.default("127.0.0.1"),
  port: Port.default(3306),
  /** An account with ALL PRIVILEGES ON *.* WITH GRANT OPTION. */
  user: AdminUser.default("root"),
  password: AdminPassword,
  /** The server's Unix socket, e.g. "/run/mysqld/mysqld.sock" (Debian's root uses unix_socket auth). */
  socketPath: SocketPath,
  /** Host part of every tenant account: "%" (any client host) or a pattern such as "10.0.0.%". */
  userHost: z.string().regex(/^[A-Za-z0-9.%_:-]{1,255}$/, "must be a MariaDB host pattern").default("%"),
});
export type MariaDbServerConfig = z.infer<typeof MariaDbServerConfig>;

/** PostgreSQL admin connection (role db). `socketPath` (the socket directory) wins over host when set. */
export const PostgreSqlServerConfig = z.strictObject({
  host: Host.default("127.0.0.1"),
  port: Port.default(5432),
  /** A superuser (it creates roles, databases, and reassigns a dropped user's objects). */
  user: AdminUser.default("postgres"),
  password: AdminPassword,
  /** Directory of the server's socket, e.g. "/var/run/postgresql". */
  socketPath: SocketPath,
  /** Database the admin pool connects to. */
  database: z.string().min(1).max(63).default("postgres"),
});
export type PostgreSqlServerConfig = z.infer<typeof PostgreSqlServerConfig>;

/** The `databases` section of the agent config: the engines this db node runs (at least one). */
export const DatabasesConfig = z.strictObject({
  mariadb: MariaDbServerConfig.optional(),
  postgresql: PostgreSqlServerConfig.optional(),
}).refine((c) => c.mariadb !== undefined || c.postgresql !== undefined, "must configure mariadb, postgresql or both");
export type DatabasesConfig = z.infer<typeof DatabasesConfig>;

/**
 * The db role's drivers: one `DatabaseEngine` per configured engine (absent when its config
 * section is), each over its own admin pool. Pools connect lazily, on the first job.
 */
export interface DatabaseServers {
  mariadb?: DatabaseEngine;
  postgresql?: DatabaseEngine;
  /** Closes every admin pool (agent shutdown, test teardown). */
  close(): Promise<void>;
}

/**
 * Builds the drivers from the (already validated) config section. Opens no connection yet, so
 * it never throws for an unreachable server; `log` gets child loggers (component "mariadb" /
 * "postgresql"). Passwords and verifiers are never logged.
 */
export function createDatabaseServers(cfg: DatabasesConfig, log: Logger): DatabaseServers {
  const mariadb = cfg.mariadb ? createMariaDbEngine(cfg.mariadb, log) : undefined;
  const postgresql = cfg.postgresql ? createPostgreSqlEngine(cfg.postgresql, log) : undefined;
  return {
    ...(mariadb ? { mariadb } : {}),
    ...(postgresql ? { postgresql } : {}),
    async close() {
      await Promise.all([mariadb?.close(), postgresql?.close()]);
    },
  };
}
