import type { Pool } from "pg";
import type { Logger } from "pino";

/**
 * Coalesces "node seen" marks from heartbeats into one `UPDATE servers ... WHERE id = ANY(...)`
 * per interval, instead of one write per heartbeat (10,000 agents heartbeating every 5 s would
 * otherwise cost 2,000 writes/s). `last_seen_at` is therefore accurate to `intervalMs`.
 */
export function createLastSeen(deps: { pool: Pool; intervalMs: number; log: Logger }) {
  let seen = new Set<string>();
  const flush = async (): Promise<void> => {
    if (seen.size === 0) return;
    const ids = [...seen];
    seen = new Set();
    await deps.pool.query(`UPDATE servers SET last_seen_at = now() WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL`, [ids]);
  };
  const timer = setInterval(() => {
    flush().catch((error: unknown) => deps.log.warn({ err: error }, "last-seen update failed"));
  }, deps.intervalMs);
  timer.unref();
  return {
    /** Marks the node as seen now (written at the next flush). */
    mark(nodeId: string): void {
      seen.add(nodeId);
    },
    /** Writes pending marks and stops the timer. */
    async stop(): Promise<void> {
      clearInterval(timer);
      await flush().catch(() => undefined);
    },
  };
}

export type LastSeen = ReturnType<typeof createLastSeen>;
