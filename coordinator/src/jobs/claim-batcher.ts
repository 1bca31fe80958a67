import type { ClaimedJob, JobStore } from "./store";

interface Demand {
  serverId: string;
  roles: string[];
  limit: number;
  resolve(jobs: ClaimedJob[]): void;
  reject(error: unknown): void;
}

const MAX_DEMANDS = 500;

/**
 * Groups the claims of every agent session into one statement per round
 * (`JobStore.claimMany`): while one round runs, the next accumulates. When idle a claim goes
 * out at once (one event-loop turn later), so commit-to-agent latency stays low; under load
 * the number of statements per job falls with the batch size.
 */
export function createClaimBatcher(store: Pick<JobStore, "claimMany">) {
  let queue: Demand[] = [];
  let running = false;

  async function flush(): Promise<void> {
    if (running || queue.length === 0) return;
    running = true;
    const batch = queue.slice(0, MAX_DEMANDS);
    queue = queue.slice(batch.length);
    try {
      const claimed = await store.claimMany(batch);
      for (const d of batch) d.resolve(claimed.get(d.serverId) ?? []);
    } catch (error) {
      for (const d of batch) d.reject(error);
    } finally {
      running = false;
      if (queue.length > 0) setImmediate(() => void flush());
    }
  }

  return {
    /**
     * Claims up to `limit` jobs for the node (same contract as `JobStore.claim`). A node must
     * not have two claims pending at once (the dispatcher never overlaps a session's claims).
     */
    claim(serverId: string, roles: string[], limit: number): Promise<ClaimedJob[]> {
      if (limit <= 0) return Promise.resolve([]);
      return new Promise<ClaimedJob[]>((resolve, reject) => {
        queue.push({ serverId, roles, limit, resolve, reject });
        if (!running) setImmediate(() => void flush());
      });
    },
  };
}
