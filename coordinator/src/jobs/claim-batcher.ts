import { createMicroBatcher } from "./micro-batcher";
import type { ClaimDemand, ClaimedJob, JobStore } from "./store";

/**
 * Groups the claims of every agent session into one statement per round
 * (`JobStore.claimMany`, through `createMicroBatcher`). A node must not have two claims
 * pending at once; the dispatcher never overlaps a session's claims.
 */
export function createClaimBatcher(store: Pick<JobStore, "claimMany">) {
  const claimOne = createMicroBatcher(async (demands: ClaimDemand[]) => {
    const claimed = await store.claimMany(demands);
    return demands.map((d) => claimed.get(d.serverId) ?? []);
  });
  return {
    /** Claims up to `limit` jobs for the node (same contract as `JobStore.claim`). */
    claim(serverId: string, roles: string[], limit: number, jobTypes: readonly string[]): Promise<ClaimedJob[]> {
      return limit <= 0 ? Promise.resolve([]) : claimOne({ serverId, roles, limit, jobTypes });
    },
  };
}
