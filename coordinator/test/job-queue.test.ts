import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withJobs } from "../src/jobs/enqueue";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";

describe("job queue on PostgreSQL", () => {
  let t: TestCoordinator;
  let nodeA: string;
  let nodeB: string;

  beforeAll(async () => {
    // The background reaper is slowed down so that the test's own reapExpired() call is the one that reaps.
    t = await startTestCoordinator({ MPANEL_JOB_LEASE_MS: "60000", MPANEL_REAPER_MS: "3600000" });
    const { prisma } = t.coordinator.database.db;
    nodeA = (await prisma.server.create({ data: { hostname: "a", roles: ["web"] } })).id;
    nodeB = (await prisma.server.create({ data: { hostname: "b", roles: ["web"] } })).id;
  });
  afterAll(async () => {
    await t?.stop();
  });

  const enqueueNoops = (count: number, serverId: string | null, extra: { dependsOn?: string[]; idempotencyKey?: string } = {}) =>
    withJobs(t.coordinator.database.db, t.coordinator.wakeups, async (_tx, enqueue) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i += 1) ids.push((await enqueue({ type: "NOOP", payload: {}, targetServerId: serverId, ...extra })).id);
      return ids;
    });

  it("never hands one job to two concurrent claimers", async () => {
    const ids = await enqueueNoops(200, nodeA);
    const { store } = t.coordinator;
    const batches = await Promise.all(Array.from({ length: 8 }, () => store.claim(nodeA, ["web"], 40)));
    const claimed = batches.flat().map((j) => j.id);
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(new Set(claimed)).toEqual(new Set(ids));
    expect(await store.claim(nodeB, ["web"], 10)).toEqual([]);
  });

  it("claims for several nodes in one statement, giving a role-targeted job to only one of them", async () => {
    const { store } = t.coordinator;
    const [forA] = await enqueueNoops(1, nodeA);
    const [forB] = await enqueueNoops(1, nodeB);
    const roleJob = await withJobs(t.coordinator.database.db, t.coordinator.wakeups, (_tx, enqueue) =>
      enqueue({ type: "CREATE_CLOUDPOD", payload: { cloudPodId: randomUUID(), systemUser: "cpclaimtest" } }));
    const claimed = await store.claimMany([{ serverId: nodeA, roles: ["web"], limit: 5 }, { serverId: nodeB, roles: ["web"], limit: 5 }]);
    const a = (claimed.get(nodeA) ?? []).map((j) => j.id);
    const b = (claimed.get(nodeB) ?? []).map((j) => j.id);
    expect(a).toContain(forA);
    expect(b).toContain(forB);
    expect([...a, ...b].filter((id) => id === roleJob.id)).toHaveLength(1);
    expect(a.filter((id) => b.includes(id))).toEqual([]);
  });

  it("keeps a dependent job unclaimable until its dependency succeeds, and fails it when the dependency fails", async () => {
    const { store } = t.coordinator;
    const [first] = await enqueueNoops(1, nodeB);
    const [second] = await enqueueNoops(1, nodeB, { dependsOn: [first as string] });
    const claimed = await store.claim(nodeB, ["web"], 10);
    expect(claimed.map((j) => j.id)).toEqual([first]);
    await store.complete(nodeB, { jobId: first as string, success: true, retryable: false });
    expect((await store.claim(nodeB, ["web"], 10)).map((j) => j.id)).toEqual([second]);

    const [third] = await enqueueNoops(1, nodeB);
    const [fourth] = await enqueueNoops(1, nodeB, { dependsOn: [third as string] });
    await store.claim(nodeB, ["web"], 10);
    await store.complete(nodeB, { jobId: third as string, success: false, retryable: false, errorCode: "boom", errorMessage: "it broke" });
    const job = await t.api("GET", `/api/admin/jobs/${fourth}`);
    expect(job.body.data?.status).toBe("failed");
    expect(job.body.data?.errorCode).toBe("dependency_failed");
  });

  it("requeues a retryable failure with backoff and ignores results from a node that no longer holds the job", async () => {
    const { store } = t.coordinator;
    const [id] = await enqueueNoops(1, nodeA);
    await store.claim(nodeA, ["web"], 10);
    expect(await store.complete(nodeB, { jobId: id as string, success: true, retryable: false })).toBe(false);
    await store.complete(nodeA, { jobId: id as string, success: false, retryable: true, errorCode: "flaky", errorMessage: "try again" });
    const job = await t.api("GET", `/api/admin/jobs/${id}`);
    expect(job.body.data?.status).toBe("queued");
    expect(new Date(String(job.body.data?.runAfter)).getTime()).toBeGreaterThan(Date.now());
    expect(JSON.stringify(job.body.data?.events)).toContain("retrying");
    expect(await store.claim(nodeA, ["web"], 10)).toEqual([]);
  });

  it("stores a batch of results in one go, skipping jobs the node does not hold, and unblocks dependents", async () => {
    const { store } = t.coordinator;
    const ids = await enqueueNoops(3, nodeA);
    const [dependent] = await enqueueNoops(1, nodeA, { dependsOn: [ids[0] as string] });
    await store.claim(nodeA, ["web"], 3);
    const applied = await store.completeSuccesses([
      ...ids.map((jobId) => ({ serverId: nodeA, jobId, result: { ok: true } })),
      { serverId: nodeB, jobId: ids[0] as string, result: null },
    ]);
    expect(applied).toEqual(new Set(ids));
    const job = await t.api("GET", `/api/admin/jobs/${ids[1]}`);
    expect(job.body.data?.status).toBe("succeeded");
    expect(job.body.data?.result).toEqual({ ok: true });
    expect((await store.claim(nodeA, ["web"], 10)).map((j) => j.id)).toEqual([dependent]);
  });

  it("returns the first job for a repeated idempotency key", async () => {
    const key = `test:${randomUUID()}`;
    const [a] = await enqueueNoops(1, nodeA, { idempotencyKey: key });
    const [b] = await enqueueNoops(1, nodeA, { idempotencyKey: key });
    expect(b).toBe(a);
  });

  it("requeues jobs whose lease lapsed, and fails them when no attempts are left", async () => {
    const { store } = t.coordinator;
    const { pool } = t.coordinator.database.db;
    const ids = await enqueueNoops(2, nodeB);
    await store.claim(nodeB, ["web"], 10);
    await pool.query(`UPDATE jobs SET lease_expires_at = now() - interval '1 second', max_attempts = CASE WHEN id = $1 THEN 1 ELSE 5 END WHERE id = ANY($2::uuid[])`, [ids[0], ids]);
    const reaped = await store.reapExpired();
    expect(new Set(reaped)).toEqual(new Set(ids));
    const statuses = await pool.query<{ id: string; status: string; error_code: string | null }>(`SELECT id, status, error_code FROM jobs WHERE id = ANY($1::uuid[])`, [ids]);
    const byId = new Map(statuses.rows.map((r) => [r.id, r]));
    expect(byId.get(ids[0] as string)?.status).toBe("failed");
    expect(byId.get(ids[0] as string)?.error_code).toBe("lease_expired");
    expect(byId.get(ids[1] as string)?.status).toBe("queued");
  });
});
