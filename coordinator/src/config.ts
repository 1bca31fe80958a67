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
  /** How often the backup scheduler looks for CloudPods whose backup policy is due (ms). */
  MPANEL_BACKUP_SCAN_MS: ms.default(60_000),
  /** How often a random succeeded backup is restore-tested (checked on the backup scheduler's runs; ms). */
  MPANEL_RESTORE_TEST_EVERY_MS: ms.default(86_400_000),
  /** How often the agent rollout controller judges the current stage and starts the next (ms). */
  MPANEL_ROLLOUT_RUN_MS: ms.default(5_000),
  /** Proxies (addresses or CIDRs, comma separated) whose X-Forwarded-For is believed for the client address; empty = none. */
  MPANEL_TRUSTED_PROXIES: z.string().regex(/^[0-9a-fA-F.:/,\s]*$/, "must be comma-separated addresses or CIDRs").default(""),
  /** Login, second-step and password-reset attempts allowed per client address per minute. */
  MPANEL_LOGIN_RATE_MAX: z.coerce.number().int().min(1).default(10),
  /** Failed logins in a row that lock an account, and for how long (ms). */
  MPANEL_LOCK_THRESHOLD: z.coerce.number().int().min(1).default(5),
  MPANEL_LOCK_MS: ms.default(15 * 60_000),
  /** Platform roles that must use TOTP (comma separated, e.g. "SUPER_ADMIN,PLATFORM_ADMIN"); empty = optional for all. */
  MPANEL_MFA_REQUIRED_ROLES: z.string().regex(/^[A-Z_,\s]*$/, "must be comma-separated role names").default(""),
  /** SMTP server for password-reset mail (smtp://host:port); unset = password reset by email is off. */
  MPANEL_SMTP_URL: z.url().optional(),
  MPANEL_MAIL_FROM: z.email().default("mpanel@localhost"),
  /** Public URL of the panel, used in emailed links. */
  MPANEL_PUBLIC_URL: z.url().default("http://localhost:8080"),
  /** Admit `http://` OpenID Connect issuers (tests and local development only; production issuers must use https). */
  MPANEL_OIDC_ALLOW_HTTP: z.stringbool().default(false),
  /** Stripe secret key (`sk_...`); unset = checkout is off (503). */
  MPANEL_STRIPE_SECRET_KEY: z.string().min(1).optional(),
  /** Signing secret of the Stripe webhook endpoint (`whsec_...`); unset = webhooks are refused. */
  MPANEL_STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** Base URL of the Stripe API (default Stripe's); a Stripe-compatible server in tests, e.g. http://127.0.0.1:12111. */
  MPANEL_STRIPE_API_URL: z.url().optional(),
  /** The seller printed on invoices, and its country (ISO 3166-1 alpha-2; decides EU reverse charge). */
  MPANEL_BILLING_SELLER: z.string().min(1).default("mPanel hosting"),
  MPANEL_BILLING_COUNTRY: z.string().regex(/^[A-Z]{2}$/, "must be an ISO 3166-1 alpha-2 code").default("DE"),
  /** Days from issue to due date of renewal invoices. */
  MPANEL_INVOICE_DUE_DAYS: z.coerce.number().int().min(0).max(90).default(7),
  /** Dunning steps of an unpaid invoice: `days after due:action`, actions reminder, suspend, terminate. */
  MPANEL_DUNNING_SCHEDULE: z.string().regex(/^\d{1,3}:(reminder|suspend|terminate)(,\d{1,3}:(reminder|suspend|terminate))*$/, "must be like 1:reminder,7:suspend,30:terminate").default("1:reminder,3:reminder,7:suspend,30:terminate"),
  /** How often the renewal and dunning runs look for due work (ms). */
  MPANEL_BILLING_RUN_MS: ms.default(3_600_000),
  /** Redis (redis://[:password@]host:port[/db]) shared by coordinator replicas: job wake-ups, node disconnects, login rate limits. Unset = in-process (one replica). */
  MPANEL_REDIS_URL: z.string().regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL").optional(),
  /** Bearer token Prometheus sends to scrape `GET /metrics` (16+ characters); unset = the export is off (404). */
  MPANEL_METRICS_TOKEN: z.string().min(16).optional(),
  /** How often node metrics are rolled up (raw -> 1 min -> 1 h) and silent nodes marked offline (ms). */
  MPANEL_METRICS_RUN_MS: ms.default(30_000),
  /** How long raw samples, one-minute and one-hour averages are kept (ms): default 2 days, 30 days, 400 days. */
  MPANEL_METRICS_RAW_RETENTION_MS: ms.default(2 * 86_400_000),
  MPANEL_METRICS_MINUTE_RETENTION_MS: ms.default(30 * 86_400_000),
  MPANEL_METRICS_HOUR_RETENTION_MS: ms.default(400 * 86_400_000),
  /** How often due uptime checks are probed (ms); each check has its own interval (30 s or more). */
  MPANEL_UPTIME_RUN_MS: ms.default(10_000),
  /** How long uptime probe results are kept (ms): default 30 days. */
  MPANEL_UPTIME_RETENTION_MS: ms.default(30 * 86_400_000),
  /** Host pins for uptime probes, `host=address` comma separated (like curl --resolve): sites reached at an internal address. */
  MPANEL_UPTIME_RESOLVE: z.string().regex(/^[^\s]*$/, "must be comma-separated host=address pins").default(""),
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
