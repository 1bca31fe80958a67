import type { Logger } from "pino";
import { z } from "zod";

/** Configuration of the MariaDB and PostgreSQL databases and users (db role) driver. */
export const DatabasesConfig = z.strictObject({});
export type DatabasesConfig = z.infer<typeof DatabasesConfig>;

/** The MariaDB and PostgreSQL databases and users (db role) driver. */
export type DatabaseServers = Record<string, never>;

/** Builds the driver from its configuration. */
export function createDatabaseServers(_cfg: DatabasesConfig, _log: Logger): DatabaseServers {
  return {};
}
