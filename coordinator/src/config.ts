import { hostname } from "node:os";
import { z } from "zod";

const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(1);

const ConfigSchema = z.object({
  /** Directory for the coordinator's own state: embedded PostgreSQL, CA, uploads (absolute path). */
  MPANEL_DATA_DIR: z.string().startsWith("/").default("/var/lib/mpanel"),
  /** PostgreSQL URL; when unset the coordinator runs an embedded PostgreSQL in MPANEL_DATA_DIR/pg. */
  DATABASE_URL: z.url().optional(),
  /** Port of the embedded PostgreSQL (loopback only). 0 picks a free one. */
  MPANEL_EMBEDDED_PG_PORT: port.default(15432),
  MPANEL_HTTP_HOST: z.string().default("127.0.0.1"),
  MPANEL_HTTP_PORT: port.default(8080),
  MPANEL_GRPC_HOST: z.string().default("127.0.0.1"),
  MPANEL_GRPC_PORT: port.default(8443),
  /** Names and addresses put in the gRPC server certificate, comma separated. */
  MPANEL_GRPC_SANS: z.string().default(`localhost,127.0.0.1,${hostname()}`),
  /** Lease granted to a running job per heartbeat (ms). */
  MPANEL_JOB_LEASE_MS: ms.default(30_000),
  /** How often agents send heartbeats (ms); must be well under the lease. */
  MPANEL_HEARTBEAT_MS: ms.default(5_000),
  /** How often the reaper requeues jobs whose lease expired (ms). */
  MPANEL_REAPER_MS: ms.default(1_000),
  /** Lifetime of a panel/API session (ms). */
  MPANEL_SESSION_TTL_MS: ms.default(12 * 3600_000),
  /** Lifetime of node client certificates (days); agents renew at 2/3 of it. */
  MPANEL_NODE_CERT_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  /** Nameservers (NS at the apex) of every hosted zone, comma separated host names; empty = `ns1.<zone>`. */
  MPANEL_NAMESERVERS: z.string().regex(/^[a-z0-9.,-]*$/, "must be comma-separated host names").default(""),
  /** How often the certificate renewal run looks for certificates past 2/3 of their lifetime (ms). */
  MPANEL_RENEWAL_SCAN_MS: ms.default(60_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

/** The coordinator's configuration, parsed once from the environment at start and frozen. */
export type Config = Readonly<z.infer<typeof ConfigSchema>>;

/**
 * Parses the environment. Throws an Error naming every invalid variable, so a bad value fails
 * at start, never later.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  return Object.freeze(parsed.data);
}
