import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent } from "../../agent/src/agent";
import { parseAgentConfig } from "../../agent/src/config";
import { eventually, fetchSite, joinToken, prepareWebNode, startTestAgent, startTestCoordinator, testLog, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Runs the real agent binary as a child process (so it can be killed with SIGKILL). */
function spawnAgent(configFile: string, enrollWith?: { token: string; caHash: string }): ChildProcess {
  const args = ["--import", "tsx", "agent/src/main.ts", "--config", configFile];
  if (enrollWith) args.push("--token", enrollWith.token, "--ca-hash", enrollWith.caHash);
  return spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
}

async function createSite(t: TestCoordinator, domain: string): Promise<{ websiteId: string; jobId: string }> {
  const tenant = await t.api("POST", "/api/admin/tenants", { name: `Tenant of ${domain}` });
  const tenantId = (tenant.body.data?.tenant as { id: string }).id;
  const res = await t.api("POST", "/api/admin/websites", { tenantId, domain });
  expect(res.status).toBe(202);
  return { websiteId: (res.body.data?.website as { id: string }).id, jobId: String(res.body.data?.jobId) };
}

async function nginxTestPasses(node: TestWebNode): Promise<boolean> {
  const result = await execa("nginx", ["-p", join(node.dir, "nginx"), "-c", node.nginx.confFile, "-t"], { reject: false });
  return result.exitCode === 0;
}

describe("agent killed with SIGKILL while a job runs", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    t = await startTestCoordinator({ MPANEL_JOB_LEASE_MS: "2000", MPANEL_HEARTBEAT_MS: "300", MPANEL_REAPER_MS: "200" });
    // A long settle time keeps the website job inside its apply step for ~3 s: the window for the kill.
    node = await prepareWebNode(t);
    const config = { ...node.config, nginx: { ...node.config.nginx, settleMs: 3000 } };
    await writeFile(join(node.dir, "agent.json"), JSON.stringify(config));
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await node?.stop();
    await t?.stop();
  });

  it("requeues the job when its lease expires and runs it again when the agent is back", async () => {
    const configFile = join(node.dir, "agent.json");
    child = spawnAgent(configFile, await joinToken(t));
    const checks: boolean[] = [];
    let checking = true;
    const watcher = (async () => {
      while (checking) {
        checks.push(await nginxTestPasses(node));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    await eventually("agent online", async () => (await t.api("GET", "/api/admin/servers")).body.data && (await t.coordinator.database.db.prisma.server.count({ where: { status: "online" } })) === 1);
    const site = await createSite(t, "killed.example.com");
    await waitForJob(t, site.jobId, ["running"]);
    await new Promise((r) => setTimeout(r, 500));
    child.kill("SIGKILL");

    const requeued = await waitForJob(t, site.jobId, ["queued"], 15_000);
    expect(requeued.attempts).toBe(1);
    expect(JSON.stringify(requeued.events)).toContain("lease expired");

    child = spawnAgent(configFile);
    const done = await waitForJob(t, site.jobId, ["succeeded", "failed"], 30_000);
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(2);
    const page = await fetchSite(node, "killed.example.com");
    expect(page.status).toBe(200);
    expect(page.body).toContain("killed.example.com");

    checking = false;
    await watcher;
    expect(checks.length).toBeGreaterThan(5);
    expect(checks.every(Boolean)).toBe(true);
    child.kill("SIGTERM");
  });
});

describe("a server block nginx rejects", () => {
  let t: TestCoordinator;
  let node: TestWebNode;

  beforeAll(async () => {
    t = await startTestCoordinator();
    node = await prepareWebNode(t);
  });
  afterAll(async () => {
    await node?.stop();
    await t?.stop();
  });

  it("fails the job with nginx's message and keeps the previous config serving", async () => {
    const agent = await startTestAgent(t, node);
    const good = await createSite(t, "good.example.com");
    expect((await waitForJob(t, good.jobId)).status).toBe("succeeded");
    await agent.stop(2000);

    // Same node, now rendering `listen 127.0.0.1:99999`, which nginx -t rejects ("invalid port").
    const badConfig = parseAgentConfig({ ...node.config, nginx: { ...node.config.nginx, listen: "127.0.0.1:99999" } });
    const broken = await startAgent(badConfig, testLog);
    try {
      const bad = await createSite(t, "bad.example.com");
      const job = await waitForJob(t, bad.jobId);
      expect(job.status).toBe("failed");
      expect(job.errorCode).toBe("nginx_config_rejected");
      expect(job.attempts).toBe(1);
      expect(JSON.stringify(job.events)).toMatch(/invalid port/);
      const website = await t.api("GET", `/api/admin/websites/${bad.websiteId}`);
      expect(website.body.data?.status).toBe("failed");

      expect(await nginxTestPasses(node)).toBe(true);
      const page = await fetchSite(node, "good.example.com");
      expect(page.status).toBe(200);
      expect(page.body).toContain("good.example.com");
      expect((await fetchSite(node, "bad.example.com")).status).toBe(404);
    } finally {
      await broken.stop(2000);
    }
  });
});
