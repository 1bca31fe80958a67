import { readFile } from "node:fs/promises";
import { connect } from "node:net";
import { execa } from "execa";
import type { AgentConfig } from "../config";
import { httpGet } from "../drivers/nginx";
import type { AgentServices } from "../services";

/** One daemon's state: `detail` says why it counts as down ("" when up). */
export interface DaemonStatus {
  name: string;
  up: boolean;
  detail: string;
}

/** A probe: resolves "" when the daemon answers, or the reason it does not. */
type Probe = () => Promise<string>;

const PROBE_TIMEOUT_MS = 2_000;

/** "" when the pid in `file` names a live process (signal 0, kill(2)), else why not. */
async function pidAlive(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => null);
  const pid = text === null ? NaN : Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) return `no pid in ${file}`;
  try {
    process.kill(pid, 0);
    return "";
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM" ? "" : `process ${pid} from ${file} is not running`;
  }
}

/** "" when `host:port` accepts a TCP connection within the probe timeout. */
function tcpAnswers(hostPort: string): Promise<string> {
  const at = hostPort.lastIndexOf(":");
  const host = hostPort.slice(0, at);
  const port = Number(hostPort.slice(at + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: PROBE_TIMEOUT_MS });
    const done = (reason: string): void => {
      socket.destroy();
      resolve(reason);
    };
    socket.once("connect", () => done(""));
    socket.once("error", (error) => done(`${hostPort}: ${error.message}`));
    socket.once("timeout", () => done(`${hostPort}: no answer within ${PROBE_TIMEOUT_MS} ms`));
  });
}

/** "" when `answer` resolves to a value, the failure's message otherwise. */
async function answers(answer: () => Promise<unknown>, what: string): Promise<string> {
  try {
    return (await answer()) ? "" : `${what} did not answer`;
  } catch (error) {
    return `${what}: ${(error as Error).message}`;
  }
}

/**
 * The daemons this node runs for its roles, each with the cheapest probe that proves it is
 * alive: nginx by its master's pid file (or an HTTP answer on `probeUrl` without one), PHP-FPM
 * by its pid file, Postfix by a TCP connect to smtpd, Dovecot by `doveadm who` (it needs the
 * running anvil service), MariaDB and PostgreSQL by a `SELECT version()` through the driver's
 * pool, PowerDNS by its HTTP API. Daemons whose config section is absent are not listed.
 */
export function createHealthProbes(config: AgentConfig, services: AgentServices): { check(): Promise<DaemonStatus[]> } {
  const probes: Array<[string, Probe]> = [];
  if (config.roles.includes("web")) {
    const { pidFile, probeUrl } = config.nginx;
    probes.push(["nginx", pidFile ? () => pidAlive(pidFile) : async () => ((await httpGet(new URL(probeUrl), "localhost", PROBE_TIMEOUT_MS)) ? "" : `${probeUrl} did not answer`)]);
    const php = config.php;
    if (php) probes.push(["php-fpm", () => pidAlive(php.pidFile)]);
  }
  const mail = config.mail;
  if (mail && config.roles.includes("mail")) {
    probes.push(["postfix", () => tcpAnswers(mail.smtpProbe)]);
    probes.push(["dovecot", async () => {
      const result = await execa(mail.doveadmBinary, ["-c", mail.dovecotConfFile, "who"], { reject: false, timeout: PROBE_TIMEOUT_MS });
      return result.exitCode === 0 ? "" : (result.stderr.split("\n").at(-1) ?? "doveadm who failed");
    }]);
  }
  const mariadb = services.databases?.mariadb;
  if (mariadb) probes.push(["mariadb", () => answers(() => mariadb.version(), "mariadb")]);
  const postgresql = services.databases?.postgresql;
  if (postgresql) probes.push(["postgresql", () => answers(() => postgresql.version(), "postgresql")]);
  const powerdns = services.powerdns;
  if (powerdns) probes.push(["pdns", () => answers(() => powerdns.version(), "pdns")]);
  return {
    /** Runs every probe at once; never throws. */
    async check(): Promise<DaemonStatus[]> {
      return Promise.all(probes.map(async ([name, probe]) => {
        const detail = await probe().catch((error: unknown) => String(error));
        return { name, up: detail === "", detail };
      }));
    },
  };
}
