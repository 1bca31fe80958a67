import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, MetricSampleSchema } from "@mpanel/proto";
import { eventually, joinToken, prepareWebNode, startTestCoordinator, type TestCoordinator, type TestWebNode } from "./support/harness";
import { startPrivatePrometheus } from "./support/prometheus-instance";

const ROOT = new URL("../../", import.meta.url).pathname;
const SCRAPE_TOKEN = "scrape-token-for-the-test-0123";

type Point = Record<string, number | string | null>;

/** The real agent binary as a child process, so it can be frozen (SIGSTOP) and killed (SIGKILL). */
function spawnAgent(configFile: string, enrollWith?: { token: string; caHash: string }): ChildProcess {
  const args = ["--import", "tsx", "agent/src/main.ts", "--config", configFile];
  if (enrollWith) args.push("--token", enrollWith.token, "--ca-hash", enrollWith.caHash);
  return spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
}

describe("metrics and health from a real agent", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let child: ChildProcess | undefined;
  let serverId: string;
  const configFile = (): string => join(node.dir, "agent.json");
  const status = async (): Promise<string | undefined> => (await t.coordinator.database.db.prisma.server.findUnique({ where: { id: serverId } }))?.status;
  const scrape = async (token = SCRAPE_TOKEN) => t.coordinator.app.inject({ method: "GET", url: "/metrics", headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    t = await startTestCoordinator({ MPANEL_HEARTBEAT_MS: "1000", MPANEL_METRICS_TOKEN: SCRAPE_TOKEN, MPANEL_METRICS_RUN_MS: "500" });
    node = await prepareWebNode(t, { metrics: { sampleMs: 300, batchMs: 1000 } });
    await writeFile(configFile(), JSON.stringify(node.config));
    child = spawnAgent(configFile(), await joinToken(t));
    serverId = await eventually("the node online", async () => {
      const found = await t.coordinator.database.db.prisma.server.findFirst({ where: { status: "online" } });
      return found?.id;
    });
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await node?.stop();
    await t?.stop();
  });

  it("stores the agent's samples and serves them through the API and /metrics", async () => {
    const { prisma } = t.coordinator.database.db;
    const row = await eventually("a sample with CPU and memory", () =>
      prisma.nodeMetric.findFirst({ where: { serverId, stepSeconds: 0, cpuPercent: { not: null }, memoryUsedBytes: { not: null } } }));
    expect(row.memoryTotalBytes).toBeGreaterThan(row.memoryUsedBytes ?? Infinity);
    expect(row.diskTotalBytes).toBeGreaterThan(0);

    const series = await t.api("GET", `/api/admin/servers/${serverId}/metrics?step=1`);
    expect(series.status).toBe(200);
    const points = series.body.data?.points as Point[];
    expect(points.length).toBeGreaterThan(0);
    expect(typeof points.at(-1)?.cpuPercent).toBe("number");

    const denied = await scrape("wrong-token-wrong-token-wrong");
    expect(denied.statusCode).toBe(401);
    const text = (await scrape()).body;
    expect(text).toMatch(new RegExp(`mpanel_node_cpu_busy_percent\\{server_id="${serverId}",hostname="web-test"\\} \\d`));
    expect(text).toMatch(new RegExp(`mpanel_node_up\\{server_id="${serverId}",hostname="web-test"\\} 1`));
    expect(text).toMatch(/mpanel_agent_streams 1/);
    expect(text).toMatch(/mpanel_http_request_duration_seconds_count\{method="GET",route="\/api\/admin\/servers\/:id\/metrics",status_code="200"\} 1/);
    expect(text).toMatch(/mpanel_jobs|# TYPE mpanel_jobs gauge/);
  });

  it("is scraped by a real Prometheus with the bearer token", async () => {
    const target = new URL(t.coordinator.httpUrl).host;
    const prometheus = await startPrivatePrometheus({ target, metricsPath: "/metrics", bearerToken: SCRAPE_TOKEN });
    try {
      const up = await eventually("a successful scrape", async () => (await prometheus.query('up{job="mpanel"}')).find((s) => s.value === 1), 30_000);
      expect(up.metric.instance).toBe(target);
      const node = await eventually("the node's CPU series", async () => (await prometheus.query("mpanel_node_cpu_busy_percent")).find((s) => s.metric.server_id === serverId), 30_000);
      expect(node.metric.hostname).toBe("web-test");
      expect(node.value).toBeGreaterThanOrEqual(0);
      expect((await prometheus.query("mpanel_agent_streams"))[0]?.value).toBe(1);
    } finally {
      await prometheus.stop();
    }
  });

  it("keeps a figure the agent could not measure as null (N/A), never 0, through the roll-ups", async () => {
    const at = Date.now() - 90 * 60_000;
    await t.coordinator.metrics.ingest(serverId, [create(MetricSampleSchema, { atMs: BigInt(at), cpuPercent: 42 })]);
    await t.coordinator.metrics.rollUp();
    const raw = await t.api("GET", `/api/admin/servers/${serverId}/metrics?from=${new Date(at - 1000).toISOString()}&to=${new Date(at + 1000).toISOString()}&step=1`);
    expect(raw.body.data?.points).toEqual([expect.objectContaining({ cpuPercent: 42, memoryUsedBytes: null, netRxBytesPerSecond: null })]);
    const minute = await t.api("GET", `/api/admin/servers/${serverId}/metrics?from=${new Date(at - 120_000).toISOString()}&to=${new Date(at + 120_000).toISOString()}&step=60`);
    expect(minute.body.data?.points).toEqual([expect.objectContaining({ cpuPercent: 42, memoryUsedBytes: null })]);
    const bad = await t.api("GET", `/api/admin/servers/${serverId}/metrics?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`);
    expect(bad.status).toBe(400);
    expect(bad.body.details?.[0]?.field).toBe("to");
  });

  it("reports nginx down when it stops, with an alert", async () => {
    const health = await eventually("nginx reported up", async () => {
      const res = await t.api("GET", `/api/admin/servers/${serverId}/health`);
      const list = res.body.data as unknown as Array<{ name: string; up: boolean }>;
      return list.find((s) => s.name === "nginx" && s.up) ? list : null;
    });
    expect(health.map((s) => s.name)).toEqual(["nginx"]);
    await node.nginx.stop();
    const down = await eventually("nginx reported down", async () => {
      const res = await t.api("GET", `/api/admin/servers/${serverId}/health`);
      return (res.body.data as unknown as Array<{ name: string; up: boolean; detail: string }>).find((s) => s.name === "nginx" && !s.up);
    });
    expect(down.detail).toMatch(/not running|no pid/);
    const alert = await t.coordinator.database.db.prisma.auditEvent.findFirst({ where: { action: "SERVICE_DOWN", targetId: serverId } });
    expect(alert?.data).toMatchObject({ service: "nginx" });
    expect((await scrape()).body).toMatch(new RegExp(`mpanel_node_service_up\\{server_id="${serverId}",hostname="web-test",service="nginx"\\} 0`));
  });

  it("marks a frozen agent offline after missed heartbeats, and a killed one at once", async () => {
    const { prisma } = t.coordinator.database.db;
    child?.kill("SIGSTOP");
    await eventually("the frozen node offline", async () => (await status()) === "offline", 15_000);
    expect(await prisma.auditEvent.findFirst({ where: { action: "NODE_OFFLINE", targetId: serverId } })).toMatchObject({ data: { reason: "missed 3 heartbeats" } });
    child?.kill("SIGCONT");
    await eventually("the node back online", async () => (await status()) === "online", 30_000);
    child?.kill("SIGKILL");
    await eventually("the killed node offline", async () => (await status()) === "offline", 15_000);
    expect(await prisma.auditEvent.count({ where: { action: "NODE_OFFLINE", targetId: serverId } })).toBe(2);
  });
});
