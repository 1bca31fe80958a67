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

/** Rows one combined ingest statement takes before the round is cut (a larger single batch still goes alone). */
const MAX_ROWS_PER_STATEMENT = 5_000;
/** Ingest statements in flight at once; batches arriving meanwhile wait and share the next statement. */
const MAX_INGESTS_IN_FLIGHT = 4;

/**
 * A PostgreSQL array literal (`{1,2.5,null}`) of finite numbers or nulls, from V8's native
 * JSON encoder instead of the driver's element-by-element escaping: JSON's numbers are valid
 * float8/int8 input, and `null` is read as NULL (case-insensitive) in an array literal.
 */
function numberArray(values: ReadonlyArray<number | null>): string {
  return `{${JSON.stringify(values).slice(1, -1)}}`;
}

/** One node's batch waiting for an ingest statement. */
interface PendingIngest {
  serverId: string;
  samples: readonly MetricSample[];
  resolve(written: number): void;
  reject(error: unknown): void;
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

  /**
   * Writes the batches of `round` in one statement: the nodes' ids as a uuid[] parameter, every
   * row through `unnest` of number array literals (the node's 1-based position in that array,
   * the instant in epoch ms, the figures), `ON CONFLICT DO NOTHING`, one `pg_notify` per batch
   * with its last 10 points. Resolves each batch with the rows its node got in this statement.
   */
  async function writeRound(round: readonly PendingIngest[]): Promise<number[]> {
    const servers = new Map<string, number>();
    const positions: number[] = [];
    const ms: number[] = [];
    const values: Array<Array<number | null>> = METRIC_FIELDS.map(() => []);
    const notes: string[] = [];
    for (const item of round) {
      const position = servers.get(item.serverId) ?? servers.size + 1;
      servers.set(item.serverId, position);
      for (const sample of item.samples) {
        positions.push(position);
        ms.push(Number(sample.atMs));
        for (let i = 0; i < METRIC_FIELDS.length; i++) values[i]?.push(figure(sample[METRIC_FIELDS[i] as MetricField]));
      }
      notes.push(JSON.stringify({ kind: "metrics", serverId: item.serverId, points: item.samples.slice(-10).map(toPoint) }));
    }
    const unnest = METRIC_FIELDS.map((_, i) => `$${i + 4}::float8[]`).join(", ");
    const n = METRIC_FIELDS.length;
    const { rows } = await pool.query<{ counts: Record<string, number> }>(
      `WITH rows AS (
         INSERT INTO node_metrics (server_id, step_seconds, at, ${columns})
         SELECT ($1::uuid[])[t.position], 0, timestamptz 'epoch' + t.ms * interval '1 millisecond', ${METRIC_FIELDS.map((f) => `t.${COLUMNS[f]}`).join(", ")}
         FROM unnest($2::int4[], $3::int8[], ${unnest}) AS t(position, ms, ${columns})
         ON CONFLICT DO NOTHING RETURNING server_id
       )
       SELECT (SELECT count(pg_notify($${n + 4}, note))::int FROM unnest($${n + 5}::text[]) AS note) AS notified,
              coalesce((SELECT json_object_agg(c.id, c.n) FROM (SELECT server_id::text AS id, count(*)::int AS n FROM rows GROUP BY server_id) c), '{}'::json) AS counts`,
      [[...servers.keys()], numberArray(positions), numberArray(ms), ...values.map(numberArray), LIVE_CHANNEL, notes],
    );
    const counts = rows[0]?.counts ?? {};
    return round.map((item) => counts[item.serverId] ?? 0);
  }

  const waiting: PendingIngest[] = [];
  let inFlight = 0;
  let scheduled = false;

  /** Starts statements while fewer than MAX_INGESTS_IN_FLIGHT run, each taking waiting batches up to MAX_ROWS_PER_STATEMENT rows. */
  function pump(): void {
    scheduled = false;
    while (inFlight < MAX_INGESTS_IN_FLIGHT && waiting.length > 0) {
      let take = 0;
      let rows = 0;
      while (take < waiting.length && (take === 0 || rows + (waiting[take]?.samples.length ?? 0) <= MAX_ROWS_PER_STATEMENT)) {
        rows += waiting[take]?.samples.length ?? 0;
        take += 1;
      }
      const round = waiting.splice(0, take);
      inFlight += 1;
      // A failed shared statement (e.g. one node deleted meanwhile) is retried batch by batch, so
      // each batch succeeds or fails on its own, as with one statement per batch.
      const alone = (item: PendingIngest): Promise<void> =>
        writeRound([item]).then((written) => item.resolve(written[0] ?? 0), (error: unknown) => item.reject(error));
      writeRound(round).then(
        (written) => round.forEach((item, i) => item.resolve(written[i] ?? 0)),
        async (error: unknown) => {
          if (round.length === 1) round[0]?.reject(error);
          else for (const item of round) await alone(item);
        },
      ).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  }

  return {
    /**
     * Stores a batch of raw samples of `serverId` (a sample at an instant already stored is
     * ignored, so a re-sent batch is harmless; samples far in the future are dropped) and
     * notifies the panel (one notification per batch, with its last 10 points). Batches of
     * several nodes that arrive while MAX_INGESTS_IN_FLIGHT statements run share the next
     * statement (up to MAX_ROWS_PER_STATEMENT rows). Returns how many rows of this node that
     * statement wrote (two batches of one node in the same statement both see the node's total).
     * Rejects with the database error of its own batch: a shared statement that fails (say, one
     * node was deleted meanwhile) is retried batch by batch.
     */
    async ingest(serverId: string, samples: readonly MetricSample[]): Promise<number> {
      const limit = Date.now() + MAX_FUTURE_MS;
      const kept = samples.filter((s) => Number(s.atMs) > 0 && Number(s.atMs) < limit);
      if (kept.length === 0) return 0;
      return new Promise<number>((resolve, reject) => {
        waiting.push({ serverId, samples: kept, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(pump);
        }
      });
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
