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

/** Enrollment parameters, needed only on the first start (no identity in the state dir yet). */
export interface JoinOptions {
  token: string;
  caHash: string;
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
export async function startAgent(config: AgentConfig, log: Logger, join?: JoinOptions): Promise<RunningAgent> {
  let identity = await loadIdentity(config.stateDir);
  if (!identity) {
    if (!join) throw new Error("this node is not enrolled: pass --token and --ca-hash");
    identity = await enroll({ coordinator: config.coordinator, token: join.token, caHash: join.caHash, roles: [...config.roles], hostname: config.hostname, stateDir: config.stateDir });
    log.info({ nodeId: identity.nodeId }, "enrolled");
  }
  const services = createServices(config, log);
  const capabilities = (await discoverCapabilities(services, log)).filter((c) => c.name !== "nginx" || config.roles.includes("web"));
  const journal = await JobJournal.open(config.stateDir);
  const session = new AgentSession(identity, { config, capabilities, log });
  const runner = new JobRunner({ config, services, journal, log, output: session });
  session.attach(runner);
  const reporter = startReporter({
    session, sampler: createSampler(config.podsRoot), health: createHealthProbes(config, services),
    timing: config.metrics, log: log.child({ component: "metrics" }),
  });
  const files = startFileManager({ config, session, log: log.child({ component: "files" }) });
  const controller = new AbortController();
  const done = session.run(controller.signal);
  return {
    nodeId: identity.nodeId,
    done,
    async stop(graceMs = 20_000) {
      session.drain();
      const deadline = Date.now() + graceMs;
      while (runner.runningIds().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      runner.abortAll();
      reporter.stop();
      files.stop();
      controller.abort();
      session.close();
      await done.catch(() => undefined);
      await closeServices(services);
    },
  };
}
