import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { fetchSite, prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, eventually, type TestCoordinator, type TestWebNode } from "./support/harness";

describe("walking skeleton: enroll, create a website, nginx serves it, delete it", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;

  beforeAll(async () => {
    t = await startTestCoordinator();
    node = await prepareWebNode(t);
    agent = await startTestAgent(t, node);
  });
  afterAll(async () => {
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
  });

  it("shows the enrolled node online with its nginx capability", async () => {
    const server = await eventually("node online", async () => {
      const res = await t.api("GET", `/api/admin/servers/${agent.nodeId}`);
      return res.body.data?.status === "online" ? res.body.data : null;
    });
    expect(server.roles).toEqual(["web"]);
    expect(JSON.stringify(server.capabilities)).toMatch(/"nginx"/);
  });

  it("serves a created website through nginx and stops serving it once deleted", async () => {
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Acme Hosting Customer" });
    expect(tenant.status).toBe(201);
    const tenantId = String((tenant.body.data?.tenant as { id: string }).id);
    const created = await t.api("POST", "/api/admin/websites", { tenantId, domain: "Shop.Example.COM" });
    expect(created.status).toBe(202);
    const website = created.body.data?.website as { id: string; domain: string };
    expect(website.domain).toBe("shop.example.com");

    const job = await waitForJob(t, String(created.body.data?.jobId));
    expect(job.status).toBe("succeeded");
    const page = await fetchSite(node, "shop.example.com");
    expect(page.status).toBe(200);
    expect(page.body).toContain("<h1>shop.example.com</h1>");
    expect((await fetchSite(node, "www.shop.example.com")).status).toBe(200);
    expect((await t.api("GET", `/api/admin/websites/${website.id}`)).body.data?.status).toBe("active");

    const deleted = await t.api("DELETE", `/api/admin/websites/${website.id}`);
    expect(deleted.status).toBe(202);
    expect((await waitForJob(t, String(deleted.body.data?.jobId))).status).toBe("succeeded");
    expect((await fetchSite(node, "shop.example.com")).status).toBe(404);
    expect((await t.api("GET", `/api/admin/websites/${website.id}`)).status).toBe(404);
  });
});
