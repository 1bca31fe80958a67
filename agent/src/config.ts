import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { NodeRole } from "@mpanel/proto";
import { z } from "zod";
import { AcmeConfig } from "./drivers/acme";
import { BackupConfig } from "./drivers/restic";
import { DatabasesConfig } from "./drivers/databases";
import { MailConfig } from "./drivers/mail";
import { PhpFpmConfig } from "./drivers/php-fpm";
import { PowerDnsConfig } from "./drivers/powerdns";

const AgentConfigSchema = z.strictObject({
  /** Coordinator gRPC address, host:port. */
  coordinator: z.string().regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, "must be host:port"),
  /** State: key, certificates, job journal (mode 0700). */
  stateDir: z.string().startsWith("/").default("/var/lib/mpanel-agent"),
  roles: z.array(NodeRole).min(1).default(["web"]),
  hostname: z.string().min(1).max(253).default(hostname()),
  /** Jobs run at once. */
  slots: z.number().int().min(1).max(256).default(4),
  /** Root of CloudPod directories on a web node. */
  podsRoot: z.string().startsWith("/").regex(/^[^\s"';{}\\]+$/, "must not contain spaces, quotes, ; { } or \\").default("/srv/mpanel/pods"),
  nginx: z.strictObject({
    binary: z.string().default("/usr/sbin/nginx"),
    prefix: z.string().startsWith("/").optional(),
    confFile: z.string().startsWith("/").default("/etc/nginx/nginx.conf"),
    sitesDir: z.string().startsWith("/").default("/etc/nginx/conf.d/mpanel"),
    /** Base URL of nginx's HTTP listener, used to check that a new config serves. */
    probeUrl: z.url().default("http://127.0.0.1:80"),
    /** `listen` value of every server block (address:port). */
    listen: z.string().regex(/^[0-9a-zA-Z.:[\]]+$/, "must be address:port").default("80"),
    /** `listen` value of the HTTPS server of a site with a certificate (address:port). */
    listenTls: z.string().regex(/^[0-9a-zA-Z.:[\]]+$/, "must be address:port").default("443"),
    /** The master's pid file: reloads are then a SIGHUP instead of `nginx -s reload` (one configuration parse fewer). */
    pidFile: z.string().startsWith("/").optional(),
    /** nginx's error log; its new lines are quoted when a reload does not take effect. */
    errorLog: z.string().startsWith("/").optional(),
    /** How long to wait for a reloaded config to serve (ms). */
    reloadTimeoutMs: z.number().int().min(100).max(120_000).optional(),
    /** How long the new config must answer consistently before a change counts as live (ms). */
    settleMs: z.number().int().min(0).max(10_000).optional(),
  }).default({ binary: "/usr/sbin/nginx", confFile: "/etc/nginx/nginx.conf", sitesDir: "/etc/nginx/conf.d/mpanel", probeUrl: "http://127.0.0.1:80", listen: "80", listenTls: "443" }),
  /** Web root every server block serves `/.well-known/acme-challenge/` from (HTTP-01, RFC 8555 section 8.3). */
  acmeWebroot: z.string().startsWith("/").regex(/^[^\s"';{}\\]+$/, "must not contain spaces, quotes, ; { } or \\").default("/srv/mpanel/acme"),
  /** PHP-FPM (web role); absent = static sites only. */
  php: PhpFpmConfig.optional(),
  /** ACME account and directory (web role); absent = no certificates. */
  acme: AcmeConfig.optional(),
  /** Postfix + Dovecot (mail role). */
  mail: MailConfig.optional(),
  /** MariaDB and PostgreSQL servers (db role). */
  databases: DatabasesConfig.optional(),
  /** PowerDNS Authoritative (dns role). */
  powerdns: PowerDnsConfig.optional(),
  /** The restic repository backups go to (web and db roles); absent = this node takes no backup jobs. */
  backup: BackupConfig.optional(),
  /** How often the node's figures are sampled and its daemons probed, and how often samples are sent (ms). */
  metrics: z.strictObject({
    sampleMs: z.number().int().min(100).max(600_000).default(1_000),
    batchMs: z.number().int().min(100).max(600_000).default(5_000),
  }).default({ sampleMs: 1_000, batchMs: 5_000 }),
  /**
   * Where UPGRADE_AGENT installs bundles: each version unpacks to `<installDir>/versions/<version>/`
   * and the link `<installDir>/agent` (what the unit runs, `/opt/mpanel/agent/agent.mjs`) is
   * switched to it atomically.
   */
  upgrade: z.strictObject({
    installDir: z.string().startsWith("/").default("/opt/mpanel"),
    downloadTimeoutMs: z.number().int().min(1_000).max(600_000).default(120_000),
  }).default({ installDir: "/opt/mpanel", downloadTimeoutMs: 120_000 }),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

/** The agent's configuration (DESIGN section 7): a JSON file, overridden by MPANEL_AGENT_* env. */
export type AgentConfig = Readonly<z.infer<typeof AgentConfigSchema>>;

/**
 * Reads `file` (JSON; missing file = `{}`), applies env overrides (`MPANEL_AGENT_COORDINATOR`,
 * `MPANEL_AGENT_STATE_DIR`, `LOG_LEVEL`) and validates. Throws an Error naming each bad field.
 */
export function loadAgentConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let raw: Record<string, unknown> = {};
  if (file) {
    try {
      raw = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`cannot read agent config ${file}: ${(error as Error).message}`);
    }
  }
  if (env.MPANEL_AGENT_COORDINATOR) raw.coordinator = env.MPANEL_AGENT_COORDINATOR;
  if (env.MPANEL_AGENT_STATE_DIR) raw.stateDir = env.MPANEL_AGENT_STATE_DIR;
  if (env.LOG_LEVEL) raw.logLevel = env.LOG_LEVEL;
  return parseAgentConfig(raw);
}

/** Validates a config object (see `loadAgentConfig`). */
export function parseAgentConfig(raw: unknown): AgentConfig {
  const parsed = AgentConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`invalid agent config:\n  ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  ")}`);
  }
  return Object.freeze(parsed.data);
}
