import type { MetricSample, ServiceStatus } from "@mpanel/proto";
import type { Logger } from "pino";
import { audit } from "../audit";
import type { Database } from "../db/client";
import type { MetricPoint } from "../panel/contract";
import { LIVE_CHANNEL } from "../panel/live";

/** The measured figures of a sample, in the order of the `node_metrics` columns; null = not measured. */
export const METRIC_FIELDS = [
  "cpuPercent", "load1", "memoryUsedBytes", "memoryTotalBytes", "diskUsedBytes", "diskTotalBytes",
  "netRxBytesPerSecond", "netTxBytesPerSecond",
] as const;
export type MetricField = (typeof METRIC_FIELDS)[number];

/** The `node_metrics` column of each figure. */
const COLUMNS: Record<MetricField, string> = {
  cpuPercent: "cpu_percent", load1: "load1", memoryUsedBytes: "memory_used_bytes", memoryTotalBytes: "memory_total_bytes",
  diskUsedBytes: "disk_used_bytes", diskTotalBytes: "disk_total_bytes",
  netRxBytesPerSecond: "net_rx_bytes_per_second", netTxBytesPerSecond: "net_tx_bytes_per_second",
};


/** How long each resolution is kept (ms). */
export interface MetricsRetention {
  rawMs: number;
  minuteMs: number;
  hourMs: number;
}

/** Samples further than this into the future of the coordinator's clock are refused (agent clock skew). */
const MAX_FUTURE_MS = 5 * 60_000;
/** Advisory lock of the roll-up run (the coordinator's other locks: 7245001-7245010). */
const ROLLUP_LOCK = 7_245_020;

/** `<alias>.<column> AS "<field>"` for every figure. */
const selectFigures = (alias: string): string => METRIC_FIELDS.map((f) => `${alias}.${COLUMNS[f]} AS "${f}"`).join(", ");
const averages = METRIC_FIELDS.map((f) => `avg(${COLUMNS[f]}) AS ${COLUMNS[f]}`).join(", ");
const updates = METRIC_FIELDS.map((f) => `${COLUMNS[f]} = EXCLUDED.${COLUMNS[f]}`).join(", ");
const columns = METRIC_FIELDS.map((f) => COLUMNS[f]).join(", ");

/** A figure as stored: a finite number, else null (proto3 `optional` fields are undefined when not measured). */
function figure(value: number | undefined): number | null {
  return value !== undefined && Number.isFinite(value) ? value : null;
}

/** A sample as a point of the series. */
function toPoint(s: MetricSample): MetricPoint {
  return {
    at: new Date(Number(s.atMs)).toISOString(),
    cpuPercent: figure(s.cpuPercent), load1: figure(s.load1),
    memoryUsedBytes: figure(s.memoryUsedBytes), memoryTotalBytes: figure(s.memoryTotalBytes),
    diskUsedBytes: figure(s.diskUsedBytes), diskTotalBytes: figure(s.diskTotalBytes),
    netRxBytesPerSecond: figure(s.netRxBytesPerSecond), netTxBytesPerSecond: figure(s.netTxBytesPerSecond),
  };
}

/**
 * Stores what agents stream: samples (`node_metrics`, raw rows), daemon states
 * (`service_health`, with a `SERVICE_DOWN`/`SERVICE_UP` audit event on every change), the
 * roll-ups (raw -> one-minute -> one-hour averages) with retention, and the series the API
 * and the panel chart read. New samples and state changes are announced on the live channel
 * (`kind: "metrics"` / `"health"`) so charts update without polling.
 */
export function createMetricsStore(deps: { db: Database; retention: MetricsRetention; log: Logger }) {
  const { pool, prisma } = deps.db;

  return {
    /**
     * Stores a batch of raw samples of `serverId` (one statement; a sample at an instant already
     * stored is ignored, so a re-sent batch is harmless; samples far in the future are dropped)
     * and notifies the panel. Returns how many rows were written.
     */
    async ingest(serverId: string, samples: readonly MetricSample[]): Promise<number> {
      const limit = Date.now() + MAX_FUTURE_MS;
      const points = samples.filter((s) => Number(s.atMs) > 0 && Number(s.atMs) < limit).map(toPoint);
      if (points.length === 0) return 0;
      const at = points.map((p) => p.at);
      const values = METRIC_FIELDS.map((f) => points.map((p) => p[f]));
      const unnest = METRIC_FIELDS.map((_, i) => `$${i + 3}::float8[]`).join(", ");
      const result = await pool.query(
        `WITH rows AS (
           INSERT INTO node_metrics (server_id, step_seconds, at, ${columns})
           SELECT $1::uuid, 0, t.at, ${METRIC_FIELDS.map((f) => `t.${COLUMNS[f]}`).join(", ")}
           FROM unnest($2::timestamptz[], ${unnest}) AS t(at, ${columns})
           ON CONFLICT DO NOTHING RETURNING 1
         )
         SELECT count(*)::int AS n, pg_notify($${METRIC_FIELDS.length + 3}, $${METRIC_FIELDS.length + 4}) FROM rows`,
        [serverId, at, ...values, LIVE_CHANNEL, JSON.stringify({ kind: "metrics", serverId, points: points.slice(-10) })],
      );
      return Number((result.rows[0] as { n: number } | undefined)?.n ?? 0);
    },

    /**
     * Records the daemon states of `serverId`: upserts every reported daemon and writes one
     * audit event per change (`SERVICE_DOWN` with the probe's detail, `SERVICE_UP`), all in
     * one transaction; a daemon first seen up raises nothing, first seen down raises
     * `SERVICE_DOWN`. Notifies the panel of changes. Returns the daemons that changed.
     */
    async recordHealth(serverId: string, services: readonly ServiceStatus[], at: Date): Promise<Array<{ name: string; up: boolean }>> {
      const changed = await prisma.$transaction(async (tx) => {
        const previous = new Map((await tx.serviceHealth.findMany({ where: { serverId } })).map((row) => [row.name, row.up]));
        const changes: Array<{ name: string; up: boolean; detail: string }> = [];
        for (const s of services) {
          const before = previous.get(s.name);
          const flipped = before === undefined ? !s.up : before !== s.up;
          const detail = s.detail.slice(0, 1000);
          await tx.serviceHealth.upsert({
            where: { serverId_name: { serverId, name: s.name } },
            create: { serverId, name: s.name, up: s.up, detail, changedAt: at, checkedAt: at },
            update: { up: s.up, detail, checkedAt: at, ...(flipped ? { changedAt: at } : {}) },
          });
          if (!flipped) continue;
          changes.push({ name: s.name, up: s.up, detail });
          await audit(tx, { action: s.up ? "SERVICE_UP" : "SERVICE_DOWN", targetType: "server", targetId: serverId, actorNodeId: serverId, data: { service: s.name, detail } });
        }
        if (changes.length > 0) {
          await tx.$executeRaw`SELECT pg_notify(${LIVE_CHANNEL}, ${JSON.stringify({ kind: "health", serverId, services: changes })})`;
        }
        return changes;
      });
      if (changed.length > 0) deps.log.info({ serverId, changed }, "daemon states changed");
      return changed.map(({ name, up }) => ({ name, up }));
    },

    /** The last reported state of every daemon of `serverId`, by name. */
    async health(serverId: string) {
      return prisma.serviceHealth.findMany({
        where: { serverId }, orderBy: { name: "asc" },
        select: { name: true, up: true, detail: true, changedAt: true, checkedAt: true },
      });
    },

    /**
     * The series of `serverId` from `from` to `to` in buckets of `stepSeconds`: read from the
     * finest resolution that covers the step (raw below 60 s, one-minute averages below an
     * hour, one-hour averages above) and averaged per bucket (buckets aligned to the Unix
     * epoch). Buckets without samples are absent; figures never measured in a bucket are null.
     */
    async series(serverId: string, from: Date, to: Date, stepSeconds: number): Promise<MetricPoint[]> {
      const source = stepSeconds >= 3600 ? 3600 : stepSeconds >= 60 ? 60 : 0;
      const { rows } = await pool.query<MetricPoint & { at: Date }>(
        `SELECT date_bin(make_interval(secs => $4), at, 'epoch') AS at, ${METRIC_FIELDS.map((f) => `avg(${COLUMNS[f]}) AS "${f}"`).join(", ")}
         FROM node_metrics WHERE server_id = $1 AND step_seconds = $5 AND at >= $2 AND at < $3
         GROUP BY 1 ORDER BY 1`,
        [serverId, from, to, stepSeconds, source],
      );
      return rows.map((row) => ({ ...row, at: row.at.toISOString() }));
    },

    /** The newest raw sample of every node (the Prometheus per-node gauges). */
    async latest(): Promise<Array<MetricPoint & { serverId: string; hostname: string }>> {
      const { rows } = await pool.query<MetricPoint & { serverId: string; hostname: string; at: Date }>(
        `SELECT DISTINCT ON (m.server_id) m.server_id AS "serverId", s.hostname, m.at, ${selectFigures("m")}
         FROM node_metrics m JOIN servers s ON s.id = m.server_id
         WHERE m.step_seconds = 0 AND m.at > now() - interval '10 minutes' AND s.revoked_at IS NULL
         ORDER BY m.server_id, m.at DESC`,
      );
      return rows.map((row) => ({ ...row, at: row.at.toISOString() }));
    },

    /**
     * The roll-up run: averages raw samples into one-minute rows and one-minute rows into
     * one-hour rows for every bucket that ended before `now` (recomputing the last two hours
     * / two days, so late samples are counted and a second run changes nothing), then deletes
     * rows past their retention. Runs under an advisory lock: with several replicas one does
     * the work and the others return false at once.
     */
    async rollUp(now = new Date()): Promise<boolean> {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS ok", [ROLLUP_LOCK]);
        if (!rows[0]?.ok) {
          await client.query("ROLLBACK");
          return false;
        }
        for (const [step, source, window] of [[60, 0, "2 hours"], [3600, 60, "2 days"]] as const) {
          await client.query(
            `INSERT INTO node_metrics (server_id, step_seconds, at, samples, ${columns})
             SELECT server_id, ${step}, date_bin(interval '${step} seconds', at, 'epoch') AS bucket, sum(samples)::int, ${averages}
             FROM node_metrics
             WHERE step_seconds = ${source} AND at >= date_bin(interval '${step} seconds', $1::timestamptz - interval '${window}', 'epoch')
               AND at < date_bin(interval '${step} seconds', $1::timestamptz, 'epoch')
             GROUP BY server_id, bucket
             ON CONFLICT (server_id, step_seconds, at) DO UPDATE SET samples = EXCLUDED.samples, ${updates}`,
            [now],
          );
        }
        const { retention } = deps;
        await client.query(
          `DELETE FROM node_metrics WHERE (step_seconds = 0 AND at < $1) OR (step_seconds = 60 AND at < $2) OR (step_seconds = 3600 AND at < $3)`,
          [new Date(now.getTime() - retention.rawMs), new Date(now.getTime() - retention.minuteMs), new Date(now.getTime() - retention.hourMs)],
        );
        await client.query("COMMIT");
        return true;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

export type MetricsStore = ReturnType<typeof createMetricsStore>;
