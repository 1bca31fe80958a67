import type { Logger } from "pino";
import { audit } from "../audit";
import type { Database } from "../db/client";
import type { MetricsStore } from "./store";

/** Heartbeats a node may miss before it counts as offline. */
export const MISSED_HEARTBEATS = 3;

/**
 * Marks nodes offline and raises the alert (a `NODE_OFFLINE` audit event with `reason`) in one
 * transaction. `ids`: these nodes (their stream ended); `staleBefore`: every online node not
 * seen since (its coordinator replica died without ending the stream). Revoked nodes and nodes
 * already offline are left alone, so the alert is raised once per outage. Returns the ids marked.
 */
export async function markOffline(db: Database, target: { ids: string[] } | { staleBefore: Date }, reason: string): Promise<string[]> {
  return db.prisma.$transaction(async (tx) => {
    const rows = "ids" in target
      ? await tx.$queryRaw<Array<{ id: string; hostname: string }>>`
          UPDATE servers SET status = 'offline' WHERE id = ANY(${target.ids}::uuid[]) AND status = 'online' AND revoked_at IS NULL RETURNING id, hostname`
      : await tx.$queryRaw<Array<{ id: string; hostname: string }>>`
          UPDATE servers SET status = 'offline' WHERE status = 'online' AND revoked_at IS NULL AND (last_seen_at IS NULL OR last_seen_at < ${target.staleBefore}) RETURNING id, hostname`;
    for (const row of rows) {
      await audit(tx, { action: "NODE_OFFLINE", targetType: "server", targetId: row.id, actorNodeId: row.id, data: { hostname: row.hostname, reason } });
    }
    return rows.map((row) => row.id);
  });
}

/**
 * The periodic metrics work, every `intervalMs`: the roll-up run (under its advisory lock) and
 * the sweep that marks online nodes offline when no heartbeat was recorded for
 * `MISSED_HEARTBEATS` heartbeat intervals plus one flush interval of `last_seen_at`. Errors are
 * logged; the next round tries again.
 */
export function startMetricsMonitor(deps: { db: Database; store: MetricsStore; heartbeatMs: number; intervalMs: number; log: Logger }): { stop(): void } {
  const graceMs = (MISSED_HEARTBEATS + 1) * deps.heartbeatMs;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    Promise.all([
      deps.store.rollUp(),
      markOffline(deps.db, { staleBefore: new Date(Date.now() - graceMs) }, `no heartbeat for ${graceMs} ms`),
    ]).catch((error: unknown) => deps.log.error({ err: error }, "metrics monitor run failed")).finally(() => {
      running = false;
    });
  }, deps.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
