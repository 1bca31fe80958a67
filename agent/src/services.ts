import type { Logger } from "pino";
import type { AgentConfig } from "./config";
import { createAcme, type Acme } from "./drivers/acme";
import { createDatabaseServers, type DatabaseServers } from "./drivers/databases";
import { createMailServer, type MailServer } from "./drivers/mail";
import { createNginx, type Nginx } from "./drivers/nginx";
import { createPhpFpm, type PhpFpm } from "./drivers/php-fpm";
import { createPowerDns, type PowerDns } from "./drivers/powerdns";
import { createRestic, type Restic } from "./drivers/restic";
import { JobError } from "./jobs/define";

/** The drivers of the daemons this node runs; a driver is absent when its config section is. */
export interface AgentServices {
  nginx: Nginx;
  phpFpm?: PhpFpm;
  acme?: Acme;
  mail?: MailServer;
  databases?: DatabaseServers;
  powerdns?: PowerDns;
  backup?: Restic;
}

/** Builds every driver whose section `config` has. Throws what a driver factory throws (bad config). */
export function createServices(config: AgentConfig, log: Logger): AgentServices {
  const { listen: _listen, listenTls: _listenTls, ...nginxConfig } = config.nginx;
  return {
    nginx: createNginx(nginxConfig, log),
    ...(config.php ? { phpFpm: createPhpFpm(config.php, log) } : {}),
    ...(config.acme ? { acme: createAcme(config.acme, log, config.stateDir) } : {}),
    ...(config.mail ? { mail: createMailServer(config.mail, log) } : {}),
    ...(config.databases ? { databases: createDatabaseServers(config.databases, log) } : {}),
    ...(config.powerdns ? { powerdns: createPowerDns(config.powerdns, log) } : {}),
    ...(config.backup ? { backup: createRestic(config.backup, config.hostname, log.child({ component: "restic" }), config.stateDir) } : {}),
  };
}

/**
 * What this node can run, for the coordinator's placement (Hello.capabilities): each daemon
 * whose driver is configured and answers, with its version. A daemon that does not answer at
 * start is left out (and logged), so jobs are not placed on a node that cannot run them.
 */
export async function discoverCapabilities(services: AgentServices, log: Logger): Promise<Array<{ name: string; version: string }>> {
  const { nginx, powerdns } = services;
  const mariadb = services.databases?.mariadb;
  const postgresql = services.databases?.postgresql;
  const probes: Array<[string, (() => Promise<string | null>) | undefined]> = [
    ["nginx", () => nginx.version()],
    ["mariadb", mariadb && (() => mariadb.version())],
    ["postgresql", postgresql && (() => postgresql.version())],
    ["powerdns", powerdns && (() => powerdns.version())],
  ];
  const found: Array<{ name: string; version: string }> = [];
  for (const [name, probe] of probes) {
    if (!probe) continue;
    const version = await probe().catch((error: unknown) => {
      log.warn({ err: error, daemon: name }, "daemon did not answer; not announced as a capability");
      return null;
    });
    if (version) found.push({ name, version });
  }
  return found;
}

/** Releases what drivers hold open (database connection pools); safe to call twice. */
export async function closeServices(services: AgentServices): Promise<void> {
  await services.databases?.close();
}

/**
 * The driver `name`, or a non-retryable JobError("service_not_configured") naming the missing
 * config section when this node does not run that daemon.
 */
export function requireService<K extends keyof AgentServices>(services: AgentServices, name: K): NonNullable<AgentServices[K]> {
  const service = services[name];
  if (!service) throw new JobError("service_not_configured", `this node has no ${name} configured`, false);
  return service;
}
