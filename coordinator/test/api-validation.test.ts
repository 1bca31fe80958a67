import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { eventually, fetchSite, prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type ApiBody, type TestCoordinator, type TestWebNode } from "./support/harness";

/** Host names the API must refuse before anything is written or enqueued. */
const badDomains: Array<[string, string]> = [
  ["semicolon", "a;b.com"],
  ["newline and brace", "x.com\n}"],
  ["leading hyphen", "-x.com"],
  ["trailing hyphen", "x-.com"],
  ["over 253 characters", `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`],
  ["a 64-character label", `${"a".repeat(64)}.com`],
  ["a single label", "localhost"],
  ["an IPv4 address", "1.2.3.4"],
  ["a space", "exa mple.com"],
  ["a double quote", 'ex"ample.com'],
  ["empty", ""],
];

function fields(body: ApiBody): string[] {
  return (body.details ?? []).map((d) => d.field);
}

describe("API input validation", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let tenantId: string;

  /** What a refused request must leave untouched: websites, cloud pods and jobs. */
  async function counts(): Promise<{ websites: number; cloudPods: number; jobs: number }> {
    const total = async (url: string): Promise<number> => {
      const res = await t.api("GET", url);
      if (res.status !== 200 || typeof res.body.meta?.total !== "number") throw new Error(`${url}: ${res.status}`);
      return res.body.meta.total;
    };
    return { websites: await total("/api/admin/websites"), cloudPods: await total("/api/admin/cloudpods"), jobs: await total("/api/admin/jobs") };
  }

  beforeAll(async () => {
    t = await startTestCoordinator();
    node = await prepareWebNode(t);
    agent = await startTestAgent(t, node);
    await eventually("node online", async () => (await t.api("GET", `/api/admin/servers/${agent.nodeId}`)).body.data?.status === "online");
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Validation Tenant" });
    expect(tenant.status).toBe(201);
    tenantId = String((tenant.body.data?.tenant as { id: string }).id);
  });
  afterAll(async () => {
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
  });

  describe("POST /api/admin/websites refuses bad domains with 400 on `domain` and creates nothing", () => {
    it.each(badDomains)("%s", async (_why, domain) => {
      const before = await counts();
      const res = await t.api("POST", "/api/admin/websites", { tenantId, domain });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("validation");
      expect(fields(res.body)).toEqual(["domain"]);
      expect(await counts()).toEqual(before);
    });

    it("refuses a domain that is not a string", async () => {
      const res = await t.api("POST", "/api/admin/websites", { tenantId, domain: ["x.com"] });
      expect(res.status).toBe(400);
      expect(fields(res.body)).toEqual(["domain"]);
    });
  });

  it("normalizes an uppercase domain", async () => {
    const res = await t.api("POST", "/api/admin/websites", { tenantId, domain: "Shop.Example.COM" });
    expect(res.status).toBe(202);
    expect((res.body.data?.website as { domain: string }).domain).toBe("shop.example.com");
    const listed = await t.api("GET", "/api/admin/websites?q=shop.example.com");
    expect((listed.body.data as unknown as Array<{ domain: string }>).map((w) => w.domain)).toEqual(["shop.example.com"]);
  });

  it("stores an IDN as punycode, and nginx serves it under that name", async () => {
    const res = await t.api("POST", "/api/admin/websites", { tenantId, domain: "Bücher.de" });
    expect(res.status).toBe(202);
    expect((res.body.data?.website as { domain: string }).domain).toBe("xn--bcher-kva.de");
    expect((await waitForJob(t, String(res.body.data?.jobId))).status).toBe("succeeded");
    expect((await fetchSite(node, "xn--bcher-kva.de")).status).toBe(200);
  });

  it("refuses the same domain twice with 409 on `domain`, however it is spelled", async () => {
    const first = await t.api("POST", "/api/admin/websites", { tenantId, domain: "twice.example.com" });
    expect(first.status).toBe(202);
    const before = await counts();
    for (const domain of ["twice.example.com", "TWICE.Example.com", "xn--bcher-kva.de", "bücher.de"]) {
      const again = await t.api("POST", "/api/admin/websites", { tenantId, domain });
      expect(again.status, domain).toBe(409);
      expect(again.body.error).toBe("conflict");
      expect(fields(again.body)).toEqual(["domain"]);
    }
    expect(await counts()).toEqual(before);
  });

  it("answers an unknown tenant with 404 naming the tenant", async () => {
    const before = await counts();
    const res = await t.api("POST", "/api/admin/websites", { tenantId: randomUUID(), domain: "nobody.example.com" });
    expect(res.status).toBe(404);
    expect(res.body.error).toBe("not_found");
    expect(res.body.message).toMatch(/tenant/);
    expect(fields(res.body)).toEqual(["tenantId"]);
    expect(await counts()).toEqual(before);
  });

  it("refuses a malformed tenant id with 400 on `tenantId`", async () => {
    const res = await t.api("POST", "/api/admin/websites", { tenantId: "not-a-uuid", domain: "malformed.example.com" });
    expect(res.status).toBe(400);
    expect(fields(res.body)).toEqual(["tenantId"]);
  });

  it("refuses an unknown server with 400 on `serverId` and rolls everything back", async () => {
    const before = await counts();
    const res = await t.api("POST", "/api/admin/websites", { tenantId, domain: "placed.example.com", serverId: randomUUID() });
    expect(res.status).toBe(400);
    expect(fields(res.body)).toEqual(["serverId"]);
    expect(await counts()).toEqual(before);
    const pod = await t.api("POST", "/api/admin/cloudpods", { tenantId, name: "pod", serverId: randomUUID() });
    expect(pod.status).toBe(400);
    expect(fields(pod.body)).toEqual(["serverId"]);
    expect(await counts()).toEqual(before);
  });

  it("refuses an unknown cloud pod with 400 on `cloudPodId`", async () => {
    const before = await counts();
    const res = await t.api("POST", "/api/admin/websites", { tenantId, domain: "pod.example.com", cloudPodId: randomUUID() });
    expect(res.status).toBe(400);
    expect(fields(res.body)).toEqual(["cloudPodId"]);
    expect(await counts()).toEqual(before);
  });

  it("refuses unknown fields", async () => {
    const before = await counts();
    const res = await t.api("POST", "/api/admin/websites", { tenantId, domain: "extra.example.com", docroot: "/etc" });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("validation");
    expect(await counts()).toEqual(before);
    expect((await t.api("POST", "/api/admin/tenants", { name: "X", plan: "gold" })).status).toBe(400);
    expect((await t.api("POST", "/api/admin/join-tokens", { roles: ["web"], admin: true })).status).toBe(400);
  });

  it("refuses a bad tenant slug with 400 on `slug` and creates no tenant", async () => {
    const before = Number((await t.api("GET", "/api/admin/tenants")).body.meta?.total);
    for (const slug of ["Bad_Slug", "-lead", "trail-", "a".repeat(49), "sp ace", ""]) {
      const res = await t.api("POST", "/api/admin/tenants", { name: "Slug Test", slug });
      expect(res.status, slug).toBe(400);
      expect(fields(res.body)).toEqual(["slug"]);
    }
    expect(Number((await t.api("GET", "/api/admin/tenants")).body.meta?.total)).toBe(before);
    const ok = await t.api("POST", "/api/admin/tenants", { name: "Slug Test", slug: "slug-test-1" });
    expect(ok.status).toBe(201);
    const dup = await t.api("POST", "/api/admin/tenants", { name: "Slug Test", slug: "slug-test-1" });
    expect(dup.status).toBe(409);
    expect(fields(dup.body)).toEqual(["slug"]);
  });

  it("creates a tenant and its owner together: a taken or bad owner email leaves no tenant behind", async () => {
    const tenants = async (): Promise<number> => Number((await t.api("GET", "/api/admin/tenants")).body.meta?.total);
    const first = await t.api("POST", "/api/admin/tenants", { name: "Owned", owner: { email: "taken@example.test", name: "Owner" } });
    expect(first.status).toBe(201);
    const before = await tenants();
    const again = await t.api("POST", "/api/admin/tenants", { name: "Owned Again", owner: { email: "TAKEN@example.test", name: "Owner" } });
    expect(again.status).toBe(409);
    expect(await tenants()).toBe(before);
    const bad = await t.api("POST", "/api/admin/tenants", { name: "Owned Badly", owner: { email: "not-an-email", name: "Owner" } });
    expect(bad.status).toBe(400);
    expect(fields(bad.body)).toEqual(["owner.email"]);
    expect(await tenants()).toBe(before);
  });

  it("refuses a join token for an unknown role", async () => {
    const res = await t.api("POST", "/api/admin/join-tokens", { roles: ["ftp"] });
    expect(res.status).toBe(400);
    expect(fields(res.body).every((f) => f.startsWith("roles"))).toBe(true);
    expect(fields(res.body)).not.toHaveLength(0);
    expect((await t.api("POST", "/api/admin/join-tokens", { roles: [] })).status).toBe(400);
    expect((await t.api("POST", "/api/admin/join-tokens", { roles: ["web"], ttlSeconds: 10 })).status).toBe(400);
  });
});
