import { cp, mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAgentConfig } from "../../agent/src/config";
import { startAgent, type RunningAgent } from "../../agent/src/agent";
import { freePort } from "../../agent/src/drivers/free-port";
import { createUser } from "../src/auth/users";
import { openDatabase, type Database } from "../src/db/client";
import { startEmbeddedPostgres } from "../src/db/embedded";
import { startPrivateHaproxy, type PrivateHaproxy } from "./support/haproxy-instance";
import { eventually, testLog } from "./support/harness";
import { startPrivateRedis, type PrivateRedis } from "./support/redis-instance";
import { startReplica, type ReplicaProcess } from "./support/replica";
import { scratchDatabase } from "./support/scratch-db";

/** HTTP JSON call on a fresh connection (no keep-alive), returning status and body. */
function call(base: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: { data?: Record<string, unknown> } }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(new URL(path, base), {
      method, agent: false,
      headers: { ...(payload ? { "content-type": "application/json" } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

describe("two coordinator replicas on one PostgreSQL and one Redis", () => {
  const cleanups: Array<() => Promise<void>> = [];
  let db: Database;
  let redis: PrivateRedis;
  let a: ReplicaProcess;
  let b: ReplicaProcess;
  let proxy: PrivateHaproxy;
  let adminToken: string;
  /** Agents 0-1 reach the gateway through a frontend that prefers replica B, agents 2-3 one that prefers A. */
  const agents: RunningAgent[] = [];
  /** Every "job started" (the handler ran) any agent logged, by job id. */
  const started = new Map<string, number>();
  let replays = 0;
  let viaB = 0;
  let viaA = 0;

  const agentLog = () => pino({ level: "info" }, new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) {
        if (!line) continue;
        const entry = JSON.parse(line) as { msg?: string; jobId?: string };
        if (entry.msg === "job started" && entry.jobId) started.set(entry.jobId, (started.get(entry.jobId) ?? 0) + 1);
        if (entry.msg === "job already finished; replaying its result") replays += 1;
      }
      done();
    },
  }));

  async function newAgent(port: number, name: string): Promise<RunningAgent> {
    const stateDir = await mkdtemp(join(tmpdir(), "mpanel-scale-agent-"));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const token = await call(a.httpUrl, "POST", "/api/admin/join-tokens", { roles: ["dns"], ttlSeconds: 600 }, adminToken);
    expect(token.status).toBe(201);
    const config = parseAgentConfig({ coordinator: `127.0.0.1:${port}`, stateDir, roles: ["dns"], hostname: name, podsRoot: join(stateDir, "pods"), slots: 8, logLevel: "silent" });
    return startAgent(config, agentLog(), { token: String(token.body.data?.token), caHash: a.caHash });
  }

  const jobStatuses = async (type: string) =>
    (await db.pool.query<{ id: string; status: string }>("SELECT id, status FROM jobs WHERE type = $1", [type])).rows;

  beforeAll(async () => {
    // One PostgreSQL both replicas share: a scratch database on DATABASE_URL, else a private embedded server.
    let url: string;
    if (process.env.DATABASE_URL) {
      const scratch = await scratchDatabase(process.env.DATABASE_URL, "mpanel_scale");
      cleanups.push(scratch.drop);
      url = scratch.url;
    } else {
      const pgDir = await mkdtemp(join(tmpdir(), "mpanel-scale-pg-"));
      const embedded = await startEmbeddedPostgres(pgDir, await freePort(), testLog);
      cleanups.push(async () => {
        await embedded.stop();
        await rm(pgDir, { recursive: true, force: true });
      });
      url = embedded.url;
    }
    redis = await startPrivateRedis();
    cleanups.push(() => redis.stop());
    const env = (dataDir: string): Record<string, string> => ({
      MPANEL_DATA_DIR: dataDir, DATABASE_URL: url, MPANEL_REDIS_URL: redis.url,
      MPANEL_HTTP_PORT: "0", MPANEL_GRPC_PORT: "0", MPANEL_GRPC_SANS: "localhost,127.0.0.1", LOG_LEVEL: "silent",
      MPANEL_JOB_LEASE_MS: "3000", MPANEL_HEARTBEAT_MS: "500", MPANEL_REAPER_MS: "500", MPANEL_LOGIN_RATE_MAX: "4",
      MPANEL_RENEWAL_SCAN_MS: "3600000", MPANEL_BILLING_RUN_MS: "3600000", MPANEL_BACKUP_SCAN_MS: "3600000",
    });
    const dirA = await mkdtemp(join(tmpdir(), "mpanel-scale-a-"));
    const dirB = await mkdtemp(join(tmpdir(), "mpanel-scale-b-"));
    cleanups.push(() => rm(dirA, { recursive: true, force: true }), () => rm(dirB, { recursive: true, force: true }));
    a = await startReplica(env(dirA));
    cleanups.push(() => a.stop());
    // What an operator does for a second replica: copy the first one's CA (ca.crt + ca.key, 0600) into its data dir.
    await cp(join(dirA, "ca"), join(dirB, "ca"), { recursive: true, preserveTimestamps: true });
    b = await startReplica(env(dirB));
    cleanups.push(() => b.stop());
    db = openDatabase(url, 4);
    cleanups.push(() => db.close());

    [viaB, viaA] = [await freePort(), await freePort()];
    proxy = await startPrivateHaproxy([
      { name: "prefer_b", port: viaB, servers: [b.grpcPort, a.grpcPort], balance: "failover" },
      { name: "prefer_a", port: viaA, servers: [a.grpcPort, b.grpcPort], balance: "failover" },
    ]);
    cleanups.push(() => proxy.stop());

    const admin = await createUser(db, { email: "root@scale.test", name: "Root", platformRole: "SUPER_ADMIN" });
    const login = await call(a.httpUrl, "POST", "/api/auth/login", { email: "root@scale.test", password: admin.password });
    adminToken = String(login.body.data?.token);
    for (const [i, port] of [viaB, viaB, viaA, viaA].entries()) agents.push(await newAgent(port, `scale-${i}`));
    cleanups.push(async () => {
      await Promise.all(agents.map((agent) => agent.stop(1000)));
    });
    await eventually("two sessions on each replica", async () => (await a.sessions()) === 2 && (await b.sessions()) === 2);
  }, 120_000);

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }, 60_000);

  /** Waits until every job of `ids` succeeded (throws after `timeoutMs`). */
  const allSucceeded = (ids: Array<string | undefined>, timeoutMs: number) => eventually(`jobs ${ids.join(", ")} to succeed`, async () => {
    const { rows } = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'succeeded'", [ids]);
    return rows[0]?.n === ids.length;
  }, timeoutMs);

  const node = (i: number): string => (agents[i] as RunningAgent).nodeId;

  it("shares one CA: both replicas present the same pin", () => {
    expect(b.caHash).toBe(a.caHash);
  });

  it("wakes an idle agent held by the other replica when a job is committed", async () => {
    // Nothing polls: without the Redis bridge these jobs would wait forever for an agent on the other replica.
    const [onA] = await a.enqueue([node(0)], 1);
    const [onB] = await b.enqueue([node(2)], 1);
    await allSucceeded([onA, onB], 15_000);
  });

  it("counts login attempts once for both replicas", async () => {
    const attempt = (base: string) => call(base, "POST", "/api/auth/login", { email: "nobody@scale.test", password: "wrong-password" });
    // The limit is 4 per minute per client address and route; the admin's login on A was the first.
    const statuses = [];
    for (const base of [b.httpUrl, a.httpUrl, b.httpUrl]) statuses.push((await attempt(base)).status);
    expect(statuses).toEqual([401, 401, 401]);
    // In-process counters would allow 4 more on B; shared ones refuse a fifth attempt on either replica.
    expect((await attempt(a.httpUrl)).status).toBe(429);
    expect((await attempt(b.httpUrl)).status).toBe(429);
  });

  it("enqueues each due certificate renewal once when both replicas run the renewal at the same time", async () => {
    const { prisma } = db;
    const tenant = await prisma.tenant.create({ data: { name: "Scale", slug: "scale-renewals" } });
    const server = await prisma.server.create({ data: { hostname: "renewal-web", roles: ["web"] } });
    const pod = await prisma.cloudPod.create({ data: { tenantId: tenant.id, serverId: server.id, name: "scale", systemUser: "cpscale" } });
    for (const domain of ["one.scale.test", "two.scale.test", "three.scale.test"]) {
      const site = await prisma.website.create({ data: { tenantId: tenant.id, cloudPodId: pod.id, domain, status: "active" } });
      await prisma.tlsCertificate.create({ data: { tenantId: tenant.id, websiteId: site.id, domains: [domain], status: "issued", serial: "01", renewAfter: new Date(Date.now() - 60_000) } });
    }
    // While another holder has the renewal lock, neither replica runs it.
    const holder = await db.pool.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT pg_advisory_xact_lock(7245003)");
      expect(await Promise.all([a.scheduleRenewals(), b.scheduleRenewals()])).toEqual([0, 0]);
      await holder.query("COMMIT");
    } finally {
      holder.release();
    }
    for (let round = 0; round < 3; round += 1) {
      const counts = await Promise.all([a.scheduleRenewals(), b.scheduleRenewals()]);
      expect(counts[0] + counts[1]).toBe(round === 0 ? 3 : 0);
    }
    expect(await jobStatuses("RENEW_SSL")).toHaveLength(3);
  });

  it("cuts a revoked node's stream on the replica that holds it", async () => {
    const extra = await newAgent(viaB, "scale-revoked");
    await eventually("the extra agent on B", async () => (await b.sessions()) === 3);
    const revoked = await call(a.httpUrl, "POST", `/api/admin/servers/${extra.nodeId}/revoke`, undefined, adminToken);
    expect(revoked.status).toBe(200);
    await expect(extra.done).rejects.toThrow();
    expect(await b.sessions()).toBe(2);
  });

  it("keeps waking agents across replicas after Redis restarts", async () => {
    await redis.stop(true);
    // Committed while Redis is down: the wake-up for B's agent cannot travel now.
    const [whileDown] = await a.enqueue([node(1)], 1);
    await redis.restart();
    const [afterRestart] = await a.enqueue([node(0)], 1);
    await allSucceeded([whileDown, afterRestart], 20_000);
  });

  it("runs every job exactly once when jobs flow through both replicas and one is killed", async () => {
    const nodes = [0, 1, 2, 3].map(node);
    const inFlight: Array<Promise<unknown>> = [];
    for (let round = 0; round < 16; round += 1) {
      inFlight.push(a.enqueue(nodes, 3, 20));
      if (round < 6) inFlight.push(b.enqueue(nodes, 3, 20).catch(() => []));
      if (round === 6) {
        // Abruptly, while its agents run jobs and its result batches may be unwritten.
        await eventually("jobs running on B's agents", async () => {
          const { rows } = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE status = 'running' AND claimed_by = ANY($1::uuid[])", [[node(0), node(1)]]);
          return (rows[0]?.n ?? 0) > 0;
        });
        await b.kill();
      }
      await new Promise((r) => setTimeout(r, 40));
    }
    await Promise.all(inFlight);
    await eventually("B's agents to reconnect to A", async () => (await a.sessions()) === 4);
    await eventually("every NOOP job to finish", async () => (await jobStatuses("NOOP")).every((j) => j.status === "succeeded" || j.status === "failed"), 60_000);
    const jobs = await jobStatuses("NOOP");
    expect(jobs.length).toBeGreaterThan(16 * 12);
    expect(jobs.filter((j) => j.status !== "succeeded")).toEqual([]);
    // Each job's handler ran once on its node; re-deliveries were answered from the journal.
    expect(new Set(started.keys())).toEqual(new Set(jobs.map((j) => j.id)));
    expect([...started.entries()].filter(([, count]) => count !== 1)).toEqual([]);
    const { rows } = await db.pool.query<{ n: number }>("SELECT count(DISTINCT job_id)::int AS n FROM job_events WHERE message LIKE 'lease expired%'");
    testLog.info({ jobs: jobs.length, requeuedAfterLease: rows[0]?.n ?? 0, answeredFromJournal: replays }, "scale-out: replica killed under load");
  }, 120_000);
});
