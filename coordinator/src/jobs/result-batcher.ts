import type { Logger } from "pino";
import type { JobOutcome, JobStore } from "./store";

interface Pending {
  serverId: string;
  outcome: JobOutcome;
  resolve(applied: boolean): void;
  reject(error: unknown): void;
}

const MAX_BATCH = 500;

/**
 * Groups successful job results from every agent stream into one transaction per round
 * (`JobStore.completeSuccesses`): while one batch is being written, the next accumulates, so
 * under load results are stored in batches and when idle each is written at once. Failures
 * take the single-job path (`JobStore.complete`), which handles retries and dependents.
 */
export function createResultBatcher(deps: { store: JobStore; log: Logger }) {
  let queue: Pending[] = [];
  let writing = false;

  async function flush(): Promise<void> {
    if (writing || queue.length === 0) return;
    writing = true;
    const batch = queue.slice(0, MAX_BATCH);
    queue = queue.slice(batch.length);
    try {
      const applied = await deps.store.completeSuccesses(batch.map((p) => ({ serverId: p.serverId, jobId: p.outcome.jobId, result: p.outcome.result })));
      for (const p of batch) {
        if (!applied.has(p.outcome.jobId)) deps.log.warn({ jobId: p.outcome.jobId, serverId: p.serverId }, "result for a job not held by this node ignored");
        p.resolve(applied.has(p.outcome.jobId));
      }
    } catch (error) {
      // One bad row (a failing hook) must not sink the others: retry each on the single-job path.
      deps.log.warn({ err: error, size: batch.length }, "batched results failed; storing them one by one");
      for (const p of batch) deps.store.complete(p.serverId, p.outcome).then(p.resolve, p.reject);
    } finally {
      writing = false;
      if (queue.length > 0) setImmediate(() => void flush());
    }
  }

  return {
    /** Stores one outcome; resolves true when applied, false when the node no longer held the job. */
    submit(serverId: string, outcome: JobOutcome): Promise<boolean> {
      if (!outcome.success) return deps.store.complete(serverId, outcome);
      return new Promise<boolean>((resolve, reject) => {
        queue.push({ serverId, outcome, resolve, reject });
        if (!writing) setImmediate(() => void flush());
      });
    },
  };
}

export type ResultBatcher = ReturnType<typeof createResultBatcher>;
