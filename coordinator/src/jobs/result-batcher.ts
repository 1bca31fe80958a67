import type { Logger } from "pino";
import { createMicroBatcher } from "./micro-batcher";
import type { JobOutcome, JobStore } from "./store";

/**
 * Stores successful job results from every agent stream in one transaction per round
 * (`JobStore.completeSuccesses`, through `createMicroBatcher`). Failures take the single-job
 * path (`JobStore.complete`), which handles retries and dependents; so does every item of a
 * batch that fails as a whole (one bad hook must not sink the others).
 */
export function createResultBatcher(deps: { store: JobStore; log: Logger }) {
  const { store, log } = deps;
  const storeSuccess = createMicroBatcher(async (items: Array<{ serverId: string; outcome: JobOutcome }>) => {
    try {
      const applied = await store.completeSuccesses(items.map((i) => ({ serverId: i.serverId, jobId: i.outcome.jobId, result: i.outcome.result })));
      return items.map((i) => {
        const ok = applied.has(i.outcome.jobId);
        if (!ok) log.warn({ jobId: i.outcome.jobId, serverId: i.serverId }, "result for a job not held by this node ignored");
        return ok;
      });
    } catch (error) {
      log.warn({ err: error, size: items.length }, "batched results failed; storing them one by one");
      return Promise.all(items.map((i) => store.complete(i.serverId, i.outcome)));
    }
  });
  return {
    /** Stores one outcome; resolves true when applied, false when the node no longer held the job. */
    submit(serverId: string, outcome: JobOutcome): Promise<boolean> {
      return outcome.success ? storeSuccess({ serverId, outcome }) : store.complete(serverId, outcome);
    },
  };
}

export type ResultBatcher = ReturnType<typeof createResultBatcher>;
