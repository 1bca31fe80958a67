import type { Logger } from "pino";
import type { AgentConfig } from "./config";
import { closeServices, createServices, discoverCapabilities } from "./services";
import { enroll } from "./enroll";
import { loadIdentity } from "./identity";
import { JobJournal } from "./journal";
import { JobRunner } from "./runner";
import { startFileManager } from "./files/manager";
import { createHealthProbes } from "./metrics/health";
import { startReporter } from "./metrics/reporter";
import { createSampler } from "./metrics/sampler";
import { AgentSession } from "./session";
import { AGENT_VERSION } from "./version";
import { startTerminals } from "./terminal/manager";

/** Enrollment parameters, needed only on the first start (no identity in the state dir yet). */
export interface JoinOptions {
  token: string;
  caHash: string;
}

/**
 * How the process around the agent reacts to its requests. `restart`: called after a job asked
 * for a restart (UPGRADE_AGENT) and its result was sent; the CLI stops the agent and exits with
 * `AGENT_RESTART_EXIT_CODE` so systemd starts the new version, a test restarts it in-process.
 * `version` overrides the reported agent version (tests simulate an upgraded build with it).
 */
export interface AgentHooks {
  restart(agent: RunningAgent): void;
  version?: string;
}

/** A running agent. `stop` drains: no new jobs, running ones get `graceMs` to finish, then the stream ends. */
export interface RunningAgent {
  nodeId: string;
  done: Promise<void>;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts the agent: enrolls if the state dir holds no identity (needs `join`), discovers
 * capabilities (daemon versions), opens the job journal and runs the session loop.
 * Throws EnrollError when enrollment is refused.
 */
export async function startAgent(config: AgentConfig, log: Logger, join?: JoinOptions, hooks?: AgentHooks): Promise<RunningAgent> {
  let identity = await loadIdentity(config.stateDir);
  if (!identity) {
    if (!join) throw new Error("this node is not enrolled: pass --token and --ca-hash");
    identity = await enroll({ coordinator: config.coordinator, token: join.token, caHash: join.caHash, roles: [...config.roles], hostname: config.hostname, stateDir: config.stateDir });
    log.info({ nodeId: identity.nodeId }, "enrolled");
  }
  const services = createServices(config, log);
  const capabilities = (await discoverCapabilities(services, log)).filter((c) => c.name !== "nginx" || config.roles.includes("web"));
  const journal = await JobJournal.open(config.stateDir);
  const session = new AgentSession(identity, { config, capabilities, log, agentVersion: hooks?.version ?? AGENT_VERSION });
  const restart = (): void => {
    log.info("restart requested");
    if (hooks) hooks.restart(agent);
  };
  const runner = new JobRunner({ config, services, journal, log, output: session, restart });
  session.attach(runner);
  const reporter = startReporter({
    session, sampler: createSampler(config.podsRoot), health: createHealthProbes(config, services),
    timing: config.metrics, log: log.child({ component: "metrics" }),
  });
  const files = startFileManager({ config, session, log: log.child({ component: "files" }) });
  const terminals = startTerminals({ config, session, log: log.child({ component: "terminal" }) });
  const controller = new AbortController();
  const done = session.run(controller.signal);
  const agent: RunningAgent = {
    nodeId: identity.nodeId,
    done,
    async stop(graceMs = 20_000) {
      session.drain();
      const deadline = Date.now() + graceMs;
      while (runner.runningIds().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      runner.abortAll();
      reporter.stop();
      files.stop();
      terminals.stop();
      controller.abort();
      session.close();
      await done.catch(() => undefined);
      await closeServices(services);
    },
  };
  return agent;
}
