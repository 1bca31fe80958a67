import { mkdtemp, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type AgentHooks, type RunningAgent } from "../../agent/src/agent";
import { parseAgentConfig, type AgentConfig } from "../../agent/src/config";
import { AGENT_VERSION } from "../../agent/src/version";
import { withJobs } from "../src/jobs/enqueue";
import { eventually, joinToken, startTestCoordinator, testLog, waitForJob, type ApiBody, type TestCoordinator } from "./support/harness";

/**
 * Issue 7, acceptance 5: a staged agent rollout stops when the new agents fail their health
 * check, and a good version goes to 100%.
 *
 * Real: the coordinator, its rollout controller (on its timer), the bundle served at
 * `/install/agent.tar.gz`, four in-process agents that download it, check its SHA-256, unpack it
 * and swap their install link, their Hellos, health reports and disconnects.
 * Simulated: the process restart. The agent's restart hook (systemd's `Restart=` in production)
 * stops the agent and starts it again in-process, reporting as its version the directory the
 * install link now points at. Every bundle is today's build; what makes a "version" bad is the
 * behaviour the hook gives it: "0.2.0-bad" comes back with its nginx probe failing (a pid file
 * that does not exist) on the first enrolled node and does not come back at all on the second.
 */

interface Node {
  index: number;
  dir: string;
  config: AgentConfig;
  agent: RunningAgent | null;
  restarting: Promise<void>;
  serverId: string;
}

let t: TestCoordinator;
let bundleUrl = "";
let sha256 = "";
const nodes: Node[] = [];

function configFor(node: Pick<Node, "dir" | "index">, healthy: boolean): AgentConfig {
  return parseAgentConfig({
    coordinator: t.grpcAddress,
    stateDir: join(node.dir, "state"),
    roles: ["web"],
    hostname: `rollout-${node.index}`,
    podsRoot: join(node.dir, "pods"),
    // The health probe of the web role: nginx is "up" while this pid file names a live process.
    nginx: { pidFile: join(node.dir, healthy ? "nginx.pid" : "missing.pid") },
    upgrade: { installDir: join(node.dir, "opt") },
    metrics: { sampleMs: 200, batchMs: 1_000 },
    logLevel: process.env.MPANEL_TEST_LOG ?? "silent",
  });
}

/** The restart hook: stop, then start "the version the install link points at" (see the file comment). */
function hooksFor(node: Node, version = AGENT_VERSION): AgentHooks {
  return {
    version,
    restart(agent) {
      node.restarting = (async () => {
        await agent.stop(2_000);
        node.agent = null;
        const installed = basename(await readlink(join(node.dir, "opt", "agent")));
        let healthy = true;
        if (installed.endsWith("-bad")) {
          if (node.index === 1) return;
          healthy = false;
        }
        node.config = configFor(node, healthy);
        node.agent = await startAgent(node.config, testLog, undefined, hooksFor(node, installed));
      })();
    },
  };
}

async function api(method: string, url: string, body?: unknown): Promise<ApiBody & { status: number }> {
  const res = await t.api(method, url, body);
  return { ...res.body, status: res.status };
}

async function serverVersion(node: Node): Promise<unknown> {
  return (await api("GET", `/api/admin/servers/${node.serverId}`)).data?.agentVersion;
}

async function waitForStatus(id: string, statuses: string[]): Promise<Record<string, unknown>> {
  return eventually(`rollout ${id} to be ${statuses.join("|")}`, async () => {
    const rollout = (await api("GET", `/api/admin/rollouts/${id}`)).data;
    return rollout && statuses.includes(String(rollout.status)) ? rollout : null;
  }, 40_000);
}

beforeAll(async () => {
  t = await startTestCoordinator({ MPANEL_ROLLOUT_RUN_MS: "200" });
  bundleUrl = `${t.coordinator.httpUrl}/install/agent.tar.gz`;
  const bundle = await fetch(bundleUrl);
  sha256 = bundle.headers.get("x-mpanel-sha256") ?? "";
  await bundle.arrayBuffer();
  for (let index = 0; index < 4; index += 1) {
    const dir = await mkdtemp(join(tmpdir(), "mpanel-rollout-"));
    await writeFile(join(dir, "nginx.pid"), `${process.pid}\n`);
    const node: Node = { index, dir, config: configFor({ dir, index }, true), agent: null, restarting: Promise.resolve(), serverId: "" };
    node.agent = await startAgent(node.config, testLog, await joinToken(t, ["web"]), hooksFor(node));
    node.serverId = node.agent.nodeId;
    nodes.push(node);
  }
  await eventually("all nodes online and healthy", async () => {
    for (const node of nodes) {
      const health = (await api("GET", `/api/admin/servers/${node.serverId}/health`)).data as unknown as Array<{ up: boolean }> | undefined;
      if ((await api("GET", `/api/admin/servers/${node.serverId}`)).data?.status !== "online" || !health?.length || !health.every((h) => h.up)) return false;
    }
    return true;
  });
});

afterAll(async () => {
  for (const node of nodes) {
    await node.restarting.catch(() => undefined);
    await node.agent?.stop(1_000);
  }
  await t?.stop();
  for (const node of nodes) await rm(node.dir, { recursive: true, force: true });
});

describe("staged agent rollout", () => {
  it("rejects bad input with the field named and writes nothing", async () => {
    const res = await api("POST", "/api/admin/rollouts", { version: "1.0", bundleUrl, sha256, stages: [50, 10] });
    expect(res.status).toBe(400);
    expect(res.details?.map((d) => d.field).sort()).toEqual(["stages", "version"]);
    expect((await api("GET", "/api/admin/rollouts")).meta).toMatchObject({ total: 0 });
  });

  it("stops at 50% when the new agents fail their health check, leaving the other nodes on the old version", async () => {
    const created = await api("POST", "/api/admin/rollouts", { version: "0.2.0-bad", bundleUrl, sha256, stages: [50, 100], healthWindowMs: 10_000 });
    expect(created.status).toBe(201);
    const id = String(created.data?.id);
    const rollout = await waitForStatus(id, ["stopped", "completed"]);
    expect(rollout.status).toBe("stopped");
    const [a, b, c, d] = nodes as [Node, Node, Node, Node];
    expect(String(rollout.reason)).toContain(`${a.serverId}: unhealthy: nginx down`);
    expect(String(rollout.reason)).toContain(`${b.serverId}: not back online since the upgrade`);
    const states = Object.fromEntries((rollout.nodes as Array<{ serverId: string; state: string; stage: number }>).map((n) => [n.serverId, [n.stage, n.state]]));
    expect(states).toEqual({ [a.serverId]: [0, "failed"], [b.serverId]: [0, "failed"], [c.serverId]: [1, "pending"], [d.serverId]: [1, "pending"] });
    // The first stage really installed the bundle and swapped the link; the rest were not touched.
    expect(await readlink(join(a.dir, "opt", "agent"))).toBe(join("versions", "0.2.0-bad"));
    expect((await stat(join(a.dir, "opt", "agent", "agent.mjs"))).isFile()).toBe(true);
    expect(await serverVersion(a)).toBe("0.2.0-bad");
    for (const node of [c, d]) {
      await expect(stat(join(node.dir, "opt"))).rejects.toThrow();
      expect(await serverVersion(node)).toBe(AGENT_VERSION);
    }
    const stopped = await t.coordinator.database.db.prisma.auditEvent.findFirst({ where: { action: "ROLLOUT_STOPPED", targetId: id } });
    expect(String((stopped?.data as { reason?: string } | null)?.reason)).toContain("failed");
    // Nothing moves after the stop.
    expect((await api("POST", `/api/admin/rollouts/${id}/resume`)).status).toBe(409);
    expect(await t.coordinator.rollouts.advance()).toBe(0);
  });

  it("takes a good version to 100% of the online nodes, stage by stage, with pause and resume", async () => {
    const created = await api("POST", "/api/admin/rollouts", { version: "0.3.0", bundleUrl, sha256, stages: [50, 100], healthWindowMs: 20_000 });
    expect(created.status).toBe(201);
    const id = String(created.data?.id);
    expect((await api("POST", "/api/admin/rollouts", { version: "0.3.1", bundleUrl, sha256, stages: [100] })).status).toBe(409);
    // The controller may have started stage 1 already; once paused, nothing moves.
    const paused = await api("POST", `/api/admin/rollouts/${id}/pause`);
    expect(paused.status).toBe(200);
    expect(await t.coordinator.rollouts.advance()).toBe(0);
    expect((await api("GET", `/api/admin/rollouts/${id}`)).data).toMatchObject({ status: "paused", currentStage: paused.data?.currentStage });
    expect((await api("POST", `/api/admin/rollouts/${id}/resume`)).status).toBe(200);
    const rollout = await waitForStatus(id, ["stopped", "completed"]);
    expect(rollout.reason ?? null).toBeNull();
    expect(rollout.status).toBe("completed");
    const [a, b, c, d] = nodes as [Node, Node, Node, Node];
    // b never came back from the bad version: it is offline and not part of this rollout.
    const states = Object.fromEntries((rollout.nodes as Array<{ serverId: string; state: string; stage: number }>).map((n) => [n.serverId, [n.stage, n.state]]));
    expect(states).toEqual({ [a.serverId]: [0, "healthy"], [c.serverId]: [0, "healthy"], [d.serverId]: [1, "healthy"] });
    for (const node of [a, c, d]) {
      expect(await serverVersion(node)).toBe("0.3.0");
      expect(await readlink(join(node.dir, "opt", "agent"))).toBe(join("versions", "0.3.0"));
    }
    expect(await serverVersion(b)).toBe(AGENT_VERSION);
    const stages = await t.coordinator.database.db.prisma.auditEvent.count({ where: { action: "ROLLOUT_STAGE_STARTED", targetId: id } });
    expect(stages).toBe(2);
  });

  it("abort cancels the current stage's upgrade jobs no agent has taken yet, and they never run; a taken one finishes", async () => {
    const [a, , c, d] = nodes as [Node, Node, Node, Node];
    const online = [a, c, d];
    const blocked = [a, c];
    const enqueueNoops = (node: Node, count: number, sleepMs: number) => withJobs(t.coordinator.database.db, t.coordinator.wakeups, async (_tx, enqueue) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i += 1) ids.push((await enqueue({ type: "NOOP", payload: { sleepMs }, targetServerId: node.serverId })).id);
      return ids;
    });
    // Every slot (4 per agent) of a and c busy, so their upgrade jobs stay queued, not leased; d is free and takes its own.
    const blockers = (await Promise.all(blocked.map((node) => enqueueNoops(node, node.config.slots, 3_000)))).flat();
    const jobs = t.coordinator.database.db.prisma.job;
    await eventually("every slot of a and c busy", async () => (await jobs.count({ where: { id: { in: blockers }, status: "running" } })) === blockers.length);

    const created = await api("POST", "/api/admin/rollouts", { version: "0.4.0", bundleUrl, sha256, stages: [100], healthWindowMs: 60_000 });
    expect(created.status).toBe(201);
    const id = String(created.data?.id);
    const started = await eventually("stage 1 started and d's upgrade taken", async () => {
      const rollout = (await api("GET", `/api/admin/rollouts/${id}`)).data;
      const rows = (rollout?.nodes ?? []) as Array<{ serverId: string; state: string; jobId: string | null }>;
      if (rows.length !== online.length || !rows.every((n) => n.state === "upgrading" && n.jobId)) return null;
      const taken = await jobs.findUnique({ where: { id: String(rows.find((n) => n.serverId === d.serverId)?.jobId) }, select: { status: true } });
      return taken && taken.status !== "queued" ? new Map(rows.map((n) => [n.serverId, String(n.jobId)])) : null;
    });
    const queuedJobs = blocked.map((node) => String(started.get(node.serverId)));
    const takenJob = String(started.get(d.serverId));
    expect(await jobs.count({ where: { id: { in: queuedJobs }, status: "queued" } })).toBe(blocked.length);

    const aborted = await api("POST", `/api/admin/rollouts/${id}/abort`);
    expect(aborted.status).toBe(200);
    expect(aborted.data?.status).toBe("stopped");
    const states = Object.fromEntries((aborted.data?.nodes as Array<{ serverId: string; state: string }>).map((n) => [n.serverId, n.state]));
    expect(states).toEqual({ [a.serverId]: "canceled", [c.serverId]: "canceled", [d.serverId]: "upgrading" });
    for (const jobId of queuedJobs) {
      const job = (await api("GET", `/api/admin/jobs/${jobId}`)).data;
      expect(job).toMatchObject({ status: "canceled", errorCode: "canceled", attempts: 0 });
      expect((job?.events as Array<{ message: string }>).some((e) => e.message.includes("rollout was aborted"))).toBe(true);
    }
    const audit = await t.coordinator.database.db.prisma.auditEvent.findFirst({ where: { action: "ROLLOUT_STOPPED", targetId: id } });
    expect(((audit?.data as { canceledJobIds?: string[] } | null)?.canceledJobIds ?? []).sort()).toEqual([...queuedJobs].sort());
    expect((await api("POST", `/api/admin/rollouts/${id}/abort`)).status).toBe(409);

    // The job d's agent had taken runs to its end.
    expect((await waitForJob(t, takenJob)).status).toBe("succeeded");
    await eventually("d back on 0.4.0", async () => (await serverVersion(d)) === "0.4.0");
    // Once the slots free up, a and c pull again: a NOOP queued after the canceled upgrade
    // (claims go oldest first) runs, and the canceled upgrade never does.
    for (const jobId of blockers) await waitForJob(t, jobId);
    const later = (await Promise.all(blocked.map((node) => enqueueNoops(node, 1, 0)))).flat();
    for (const jobId of later) expect((await waitForJob(t, jobId)).status).toBe("succeeded");
    expect(await jobs.count({ where: { id: { in: queuedJobs }, status: "canceled", attempts: 0 } })).toBe(blocked.length);
    for (const node of blocked) {
      expect(await serverVersion(node)).toBe("0.3.0");
      expect(await readlink(join(node.dir, "opt", "agent"))).toBe(join("versions", "0.3.0"));
    }
  });
});
