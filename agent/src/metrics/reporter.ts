import type { Logger } from "pino";
import type { AgentSession } from "../session";
import type { DaemonStatus } from "./health";
import type { Sample } from "./sampler";

/** Samples kept while disconnected (the oldest are dropped beyond it): one hour at 1 s. */
const MAX_BUFFERED_SAMPLES = 3_600;

/** How often to sample and probe, and how often to send the samples (ms). */
export interface ReporterTiming {
  sampleMs: number;
  batchMs: number;
}

/** Same daemons, same states? */
function sameHealth(a: readonly DaemonStatus[], b: readonly DaemonStatus[]): boolean {
  return a.length === b.length && a.every((s, i) => s.name === b[i]?.name && s.up === b[i]?.up);
}

/**
 * Streams the node's figures and daemon states (DESIGN section 7): every `sampleMs` it takes a
 * sample and probes the daemons; every `batchMs` it sends the samples taken since as one
 * `MetricsBatch`. `ServiceHealth` (every daemon) goes out at each (re)connection and as soon as
 * a probe sees a change, so a daemon going down is reported within one sampling interval.
 * Samples taken while disconnected are kept (up to an hour's worth) and sent after the Welcome.
 */
export function startReporter(deps: {
  session: AgentSession;
  sampler: { prime(): Promise<void>; sample(): Promise<Sample> };
  health: { check(): Promise<DaemonStatus[]> };
  timing: ReporterTiming;
  log: Logger;
}): { stop(): void } {
  const { session, timing, log } = deps;
  let buffered: Sample[] = [];
  let lastHealth: DaemonStatus[] | null = null;
  let healthSent = false;
  let busy = false;
  let stopped = false;

  const sendHealth = (states: readonly DaemonStatus[]): void => {
    healthSent = session.sendLive({ case: "serviceHealth", value: { atMs: BigInt(Date.now()), services: states.map((s) => ({ ...s })) } });
  };
  const flush = (): void => {
    if (buffered.length === 0) return;
    if (session.sendLive({ case: "metricsBatch", value: { samples: buffered } })) buffered = [];
  };

  async function tick(): Promise<void> {
    if (busy || stopped) return;
    busy = true;
    try {
      const [sample, states] = await Promise.all([deps.sampler.sample(), deps.health.check()]);
      buffered.push(sample);
      if (buffered.length > MAX_BUFFERED_SAMPLES) buffered = buffered.slice(-MAX_BUFFERED_SAMPLES);
      const changed = lastHealth === null || !sameHealth(lastHealth, states);
      lastHealth = states;
      if (changed || !healthSent) {
        if (changed) log.info({ services: states.filter((s) => !s.up).map((s) => s.name) }, "daemon states changed");
        sendHealth(states);
      }
    } catch (error) {
      log.warn({ err: error }, "sampling failed");
    } finally {
      busy = false;
    }
  }

  session.listen({
    connected(): void {
      if (lastHealth) sendHealth(lastHealth);
      flush();
    },
  });
  let sampling: NodeJS.Timeout | undefined;
  let batching: NodeJS.Timeout | undefined;
  void deps.sampler.prime().finally(() => {
    if (stopped) return;
    void tick();
    sampling = setInterval(() => void tick(), timing.sampleMs);
    batching = setInterval(flush, timing.batchMs);
  });
  return {
    /** Stops sampling; unsent samples are dropped. */
    stop(): void {
      stopped = true;
      clearInterval(sampling);
      clearInterval(batching);
    },
  };
}
