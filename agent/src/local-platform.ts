import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { NodeRole } from "@mpanel/proto";
import { parseAgentConfig, type AgentConfig } from "./config";
import { freePort } from "./drivers/free-port";
import { startPrivateMail, type PrivateMail } from "./drivers/mail-instance";
import { startPrivateMariaDb, type PrivateMariaDb } from "./drivers/mariadb-instance";
import { startPrivateNginx, type PrivateNginx } from "./drivers/nginx-instance";
import { startPrivatePebble, type PrivatePebble } from "./drivers/pebble-instance";
import { startPrivatePhpFpm, type PrivatePhpFpm } from "./drivers/php-fpm-instance";
import { startPrivatePostgreSql, type PrivatePostgreSql } from "./drivers/postgresql-instance";
import { startPrivatePowerDns, type PrivatePowerDns } from "./drivers/powerdns-instance";

/** Options of `startLocalPlatform`. */
export interface LocalPlatformOptions {
  /** Absolute directory for every daemon's prefix and the agents' state; made 0755 (pod users, nginx and postgres traverse it), and so must its parents be. */
  dir: string;
  /** The coordinator's gRPC address (host:port) written into each agent config. */
  coordinator: string;
  /** nginx's plain HTTP port on 127.0.0.1 (default: a free one). */
  httpPort?: number;
  /** nginx's HTTPS port on 127.0.0.1 (default: a free one). */
  tlsPort?: number;
  /** Let nginx send unknown hosts to the first site (the quick start's "open the URL" convenience). */
  firstSiteIsDefault?: boolean;
  /** Agents' log level (default "silent"). */
  logLevel?: string;
}

/** Every private daemon of a one-machine hosting platform, and one agent config per role. */
export interface LocalPlatform {
  nginx: PrivateNginx;
  php: PrivatePhpFpm;
  powerdns: PrivatePowerDns;
  pebble: PrivatePebble;
  mail: PrivateMail;
  mariadb: PrivateMariaDb;
  postgresql: PrivatePostgreSql;
  /** HTTPS port of nginx (sites with a certificate). */
  tlsPort: number;
  /** Agent configs, one node per role: `web` (nginx, PHP-FPM, ACME), `dns`, `mail`, `db`. */
  agents: Record<NodeRole, AgentConfig>;
  /** Stops every daemon (in parallel, each best effort); safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the real daemons of every role privately on 127.0.0.1 under `dir` (DAEMONS.md recipes):
 * nginx (HTTP + HTTPS), PHP-FPM, PowerDNS, Pebble (resolving through that PowerDNS, so a
 * certificate needs the zone to be live), Postfix + Dovecot, MariaDB and PostgreSQL. Returns them
 * with one agent config per role, ready for `startAgent`. On a failed start, stops what started
 * and throws the first error.
 */
export async function startLocalPlatform(opts: LocalPlatformOptions): Promise<LocalPlatform> {
  await mkdir(opts.dir, { recursive: true });
  await chmod(opts.dir, 0o755);
  const at = (name: string) => join(opts.dir, name);
  const [httpPort, tlsPort, dnsPort, mariadbPort, postgresPort] = await Promise.all([
    opts.httpPort ?? freePort(), opts.tlsPort ?? freePort(), freePort(), freePort(), freePort(),
  ]);
  const started: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    await Promise.all(started.splice(0).map((daemon) => daemon.stop().catch(() => undefined)));
  };
  /** Waits for every start to settle (so none is left running unseen), keeps the started ones for `stopAll`, and throws the first failure. */
  const all = async <T extends readonly unknown[]>(starts: { [K in keyof T]: Promise<T[K]> }): Promise<T> => {
    const settled = await Promise.allSettled(starts);
    for (const result of settled) if (result.status === "fulfilled") started.push(result.value as { stop(): Promise<void> });
    const failed = settled.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    return settled.map((result) => (result as PromiseFulfilledResult<unknown>).value) as unknown as T;
  };
  for (const name of ["nginx", "php", "pdns", "mail", "mariadb", "postgresql", "pebble"]) await mkdir(at(name), { recursive: true });
  try {
    const [nginx, php, powerdns, mail, mariadb, postgresql] = await all<[PrivateNginx, PrivatePhpFpm, PrivatePowerDns, PrivateMail, PrivateMariaDb, PrivatePostgreSql]>([
      startPrivateNginx({ prefix: at("nginx"), port: httpPort, tlsPort, ...(opts.firstSiteIsDefault ? { firstSiteIsDefault: true } : {}) }),
      startPrivatePhpFpm({ prefix: at("php") }),
      startPrivatePowerDns({ prefix: at("pdns"), dnsPort }),
      startPrivateMail({ prefix: at("mail") }),
      startPrivateMariaDb({ prefix: at("mariadb"), port: mariadbPort }),
      startPrivatePostgreSql({ prefix: at("postgresql"), port: postgresPort }),
    ]);
    const [pebble] = await all<[PrivatePebble]>([startPrivatePebble({ prefix: at("pebble"), httpPort, dnsServer: `127.0.0.1:${dnsPort}` })]);
    const logLevel = opts.logLevel ?? "silent";
    const node = (role: NodeRole, extra: Record<string, unknown>) => parseAgentConfig({
      coordinator: opts.coordinator, roles: [role], hostname: `${role}.local`, stateDir: at(`agent-${role}`), logLevel, ...extra,
    });
    const agents: Record<NodeRole, AgentConfig> = {
      web: node("web", {
        podsRoot: at("pods"),
        acmeWebroot: at("acme"),
        nginx: { ...nginx.driverConfig, listen: `127.0.0.1:${httpPort}`, listenTls: `127.0.0.1:${tlsPort}` },
        php: php.config,
        acme: pebble.acmeConfig,
      }),
      dns: node("dns", { powerdns: powerdns.config }),
      mail: node("mail", { mail: mail.config }),
      db: node("db", { databases: { mariadb: mariadb.config, postgresql: postgresql.config } }),
    };
    return { nginx, php, powerdns, pebble, mail, mariadb, postgresql, tlsPort, agents, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
