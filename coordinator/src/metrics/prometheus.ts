import { timingSafeEqual } from "node:crypto";
import type { Pool } from "pg";
import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { AppError } from "../errors";
import type { MetricField } from "./store";
import type { MetricsStore } from "./store";

/** The per-node gauges: Prometheus name (base units, per the naming guide) of each figure. */
const NODE_GAUGES: Record<MetricField, string> = {
  cpuPercent: "mpanel_node_cpu_busy_percent",
  load1: "mpanel_node_load1",
  memoryUsedBytes: "mpanel_node_memory_used_bytes",
  memoryTotalBytes: "mpanel_node_memory_total_bytes",
  diskUsedBytes: "mpanel_node_disk_used_bytes",
  diskTotalBytes: "mpanel_node_disk_total_bytes",
  netRxBytesPerSecond: "mpanel_node_network_receive_bytes_per_second",
  netTxBytesPerSecond: "mpanel_node_network_transmit_bytes_per_second",
};

/**
 * The coordinator's Prometheus export (text exposition format 0.0.4, via prom-client, on a
 * registry of its own so several coordinators can share a process): process defaults
 * (`mpanel_process_*`, `mpanel_nodejs_*`), `mpanel_http_request_duration_seconds{method,route,status_code}`
 * (route = the URL pattern, never the raw URL), `mpanel_agent_streams` (connected to this
 * replica), `mpanel_jobs{status}` (all replicas), and per node (`server_id`, `hostname`
 * labels): `mpanel_node_up`, the newest sample's figures (a figure not measured has no series,
 * never 0) and `mpanel_node_service_up{service}`.
 */
export function createPrometheusExport(deps: { pool: Pool; store: MetricsStore; streams: () => number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "mpanel_" });
  const requests = new Histogram({
    name: "mpanel_http_request_duration_seconds", help: "HTTP API request latency by route pattern",
    labelNames: ["method", "route", "status_code"], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  });
  new Gauge({ name: "mpanel_agent_streams", help: "Agent streams connected to this coordinator replica", registers: [registry], collect() { this.set(deps.streams()); } });
  const jobs = new Gauge({ name: "mpanel_jobs", help: "Jobs by status", labelNames: ["status"], registers: [registry] });
  const nodeUp = new Gauge({ name: "mpanel_node_up", help: "1 when the node's agent is connected (status online), else 0", labelNames: ["server_id", "hostname"], registers: [registry] });
  const serviceUp = new Gauge({ name: "mpanel_node_service_up", help: "1 when the daemon answered its last probe, else 0", labelNames: ["server_id", "hostname", "service"], registers: [registry] });
  const figures = Object.entries(NODE_GAUGES).map(([field, name]) =>
    [field as MetricField, new Gauge({ name, help: `Newest sample of the node's ${field}`, labelNames: ["server_id", "hostname"], registers: [registry] })] as const);

  /** Reads what the gauges show from the database (one round of queries per scrape). */
  async function refresh(): Promise<void> {
    const [jobRows, servers, health, latest] = await Promise.all([
      deps.pool.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM jobs GROUP BY status"),
      deps.pool.query<{ id: string; hostname: string; status: string }>("SELECT id, hostname, status FROM servers WHERE revoked_at IS NULL"),
      deps.pool.query<{ server_id: string; hostname: string; name: string; up: boolean }>(
        "SELECT h.server_id, s.hostname, h.name, h.up FROM service_health h JOIN servers s ON s.id = h.server_id WHERE s.revoked_at IS NULL"),
      deps.store.latest(),
    ]);
    jobs.reset();
    for (const row of jobRows.rows) jobs.set({ status: row.status }, row.n);
    nodeUp.reset();
    for (const row of servers.rows) nodeUp.set({ server_id: row.id, hostname: row.hostname }, row.status === "online" ? 1 : 0);
    serviceUp.reset();
    for (const row of health.rows) serviceUp.set({ server_id: row.server_id, hostname: row.hostname, service: row.name }, row.up ? 1 : 0);
    for (const [field, gauge] of figures) {
      gauge.reset();
      for (const point of latest) {
        const value = point[field];
        if (value !== null) gauge.set({ server_id: point.serverId, hostname: point.hostname }, value);
      }
    }
  }

  return {
    /** Counts one answered HTTP request; `route` is the matched URL pattern ("unmatched" for 404s without one). */
    observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
      requests.observe({ method, route, status_code: String(statusCode) }, seconds);
    },
    /** The exposition text and its content type. */
    async scrape(): Promise<{ contentType: string; body: string }> {
      await refresh();
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

export type PrometheusExport = ReturnType<typeof createPrometheusExport>;

/**
 * Checks a scrape's `Authorization: Bearer <token>` against the configured token (constant
 * time). Throws AppError `not_found` when no token is configured (the export is off) and
 * `unauthenticated` for a missing or wrong token.
 */
export function checkScrapeToken(configured: string | undefined, header: string | undefined): void {
  if (!configured) throw new AppError("not_found", "the metrics export is off: set MPANEL_METRICS_TOKEN");
  const given = Buffer.from(header?.startsWith("Bearer ") ? header.slice(7).trim() : "");
  const expected = Buffer.from(configured);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new AppError("unauthenticated", "a valid metrics bearer token is required");
}
