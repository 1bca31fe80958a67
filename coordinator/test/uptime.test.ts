import { createServer, type Server } from "node:http";
import { readdir, unlink, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { isPublicAddress, parseResolvePins, probe } from "../src/uptime/probe";
import { prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";
import { auditOf, counts, fields, tenantWithOwner } from "./support/service-fixtures";

/** Finds the directory holding `name` under `root` (the site's document root on the node). */
async function dirHolding(root: string, name: string): Promise<string | null> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isFile() && entry.name === name) return root;
    if (entry.isDirectory() && !entry.isSymbolicLink()) {
      const found = await dirHolding(path, name);
      if (found) return found;
    }
  }
  return null;
}

describe("uptime probe", () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/slow") return; // never answers
      res.writeHead(req.url === "/teapot" ? 418 : 200, { "content-type": "text/plain" }).end("ok");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("classifies addresses: loopback, private, link-local, CGNAT and mapped forms are not public", () => {
    for (const address of ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "not-an-ip"]) {
      expect(isPublicAddress(address), address).toBe(false);
    }
    for (const address of ["1.1.1.1", "93.184.216.34", "2606:4700::1111"]) expect(isPublicAddress(address), address).toBe(true);
  });

  it("refuses a host that resolves to a non-public address unless the operator pinned it", async () => {
    const refused = await probe({ url: `http://localhost:${port}/`, timeoutMs: 2000, expectStatus: null }, new Map());
    expect(refused).toMatchObject({ ok: false, statusCode: null });
    expect(refused.error).toMatch(/non-public address/);
    const pinned = await probe({ url: `http://site.example.test:${port}/`, timeoutMs: 2000, expectStatus: null }, parseResolvePins("site.example.test=127.0.0.1"));
    expect(pinned).toMatchObject({ ok: true, statusCode: 200, error: null });
    expect(pinned.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it("judges the status (any 2xx/3xx, or the expected one) and stops at the timeout", async () => {
    const pins = parseResolvePins("site.example.test=127.0.0.1");
    expect(await probe({ url: `http://site.example.test:${port}/teapot`, timeoutMs: 2000, expectStatus: null }, pins)).toMatchObject({ ok: false, statusCode: 418, error: "HTTP 418" });
    expect(await probe({ url: `http://site.example.test:${port}/teapot`, timeoutMs: 2000, expectStatus: 418 }, pins)).toMatchObject({ ok: true, statusCode: 418 });
    expect(await probe({ url: `http://site.example.test:${port}/slow`, timeoutMs: 300, expectStatus: null }, pins)).toMatchObject({ ok: false, error: "no answer within 300 ms" });
  });

  it("refuses malformed pins, naming the entry", () => {
    expect(() => parseResolvePins("site.example.test")).toThrow(/"site.example.test" is not host=address/);
    expect(() => parseResolvePins("a.test=not-an-ip")).toThrow(/a.test=not-an-ip/);
  });
});

describe("uptime checks of a website served by a real nginx", () => {
  const domain = "up.example.test";
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let websiteId: string;
  let tenantId: string;

  beforeAll(async () => {
    t = await startTestCoordinator({ MPANEL_UPTIME_RESOLVE: `${domain}=127.0.0.1`, MPANEL_UPTIME_RUN_MS: "3600000" });
    node = await prepareWebNode(t);
    agent = await startTestAgent(t, node);
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Uptime Customer" });
    tenantId = String((tenant.body.data?.tenant as { id: string }).id);
    const created = await t.api("POST", "/api/admin/websites", { tenantId, domain });
    expect(created.status).toBe(202);
    websiteId = (created.body.data?.website as { id: string }).id;
    expect((await waitForJob(t, String(created.body.data?.jobId))).status).toBe("succeeded");
  });
  afterAll(async () => {
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
  });

  it("refuses bad input naming the field and writes nothing", async () => {
    const before = await counts(t, ["uptime_checks"]);
    for (const [body, field] of [
      [{ path: "health" }, "path"],
      [{ path: "/a b" }, "path"],
      [{ intervalSeconds: 5 }, "intervalSeconds"],
      [{ scheme: "ftp" }, "scheme"],
      [{ expectStatus: 99 }, "expectStatus"],
    ] as const) {
      const res = await t.api("POST", `/api/admin/websites/${websiteId}/uptime-checks`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(fields(res.body)).toContain(field);
    }
    expect((await t.api("POST", `/api/admin/websites/${websiteId}/uptime-checks`, { url: "http://10.0.0.1/" })).status).toBe(400);
    expect(await counts(t, ["uptime_checks"])).toEqual(before);
  });

  it("records up, goes down after two failures with SITE_DOWN, and comes back up with SITE_UP", async () => {
    const docroot = await dirHolding(join(node.dir, "pods"), "index.html");
    expect(docroot).not.toBeNull();
    const res = await t.api("POST", `/api/admin/websites/${websiteId}/uptime-checks`, { scheme: "http", port: node.nginx.port, path: "/health.txt", intervalSeconds: 30 });
    expect(res.status).toBe(201);
    const checkId = String(res.body.data?.id);
    expect(res.body.data?.url).toBe(`http://${domain}:${node.nginx.port}/health.txt`);
    const { uptime } = t.coordinator;
    const at = (seconds: number) => new Date(Date.now() + seconds * 1000);

    await writeFile(join(String(docroot), "health.txt"), "fine\n");
    expect(await uptime.runDue(at(0))).toBe(1);
    let check = (await t.api("GET", `/api/admin/uptime-checks/${checkId}`)).body.data;
    expect(check).toMatchObject({ status: "up", consecutiveFailures: 0 });
    expect(check?.summary).toMatchObject({ probes: 1, uptimePercent: 100 });
    expect((await uptime.runDue(at(1))), "not due again before its interval").toBe(0);

    await unlink(join(String(docroot), "health.txt"));
    expect(await uptime.runDue(at(31))).toBe(1);
    expect((await t.api("GET", `/api/admin/uptime-checks/${checkId}`)).body.data).toMatchObject({ status: "up", consecutiveFailures: 1 });
    expect(await uptime.runDue(at(62))).toBe(1);
    check = (await t.api("GET", `/api/admin/uptime-checks/${checkId}`)).body.data;
    expect(check).toMatchObject({ status: "down", consecutiveFailures: 2 });
    expect((await t.api("GET", `/api/admin/uptime-checks?status=down`)).body.meta?.total).toBe(1);
    const alerts = (await t.api("GET", "/api/admin/alerts")).body.data as unknown as Array<{ kind: string; subject: { id: string } }>;
    expect(alerts.filter((a) => a.kind === "site_down").map((a) => a.subject.id)).toEqual([websiteId]);

    await writeFile(join(String(docroot), "health.txt"), "fine again\n");
    expect(await uptime.runDue(at(93))).toBe(1);
    expect((await t.api("GET", `/api/admin/uptime-checks/${checkId}`)).body.data).toMatchObject({ status: "up", consecutiveFailures: 0 });

    expect(((await t.api("GET", "/api/admin/alerts")).body.data as unknown as Array<{ kind: string }>).some((a) => a.kind === "site_down")).toBe(false);
    const actions = (await auditOf(t, checkId)).map((e) => e.action);
    expect(actions).toEqual(["UPTIME_CHECK_CREATED", "SITE_DOWN", "SITE_UP"]);
    const history = await t.api("GET", `/api/admin/uptime-checks/${checkId}/results?pageSize=10`);
    expect(history.body.meta?.total).toBe(4);
    const rows = history.body.data as unknown as Array<{ ok: boolean; statusCode: number | null; latencyMs: number | null }>;
    expect(rows.map((r) => [r.ok, r.statusCode])).toEqual([[true, 200], [false, 404], [false, 404], [true, 200]]);
    expect(rows.every((r) => typeof r.latencyMs === "number")).toBe(true);
  });

  it("keeps checks inside their tenant", async () => {
    const other = await tenantWithOwner(t, "Other Customer", "other-uptime@example.test");
    const list = await t.api("GET", "/api/admin/uptime-checks", undefined, other.ownerToken);
    expect(list.body.meta?.total).toBe(0);
    const checkId = String(((await t.api("GET", `/api/admin/uptime-checks?websiteId=${websiteId}`)).body.data as unknown as Array<{ id: string }>)[0]?.id);
    expect((await t.api("GET", `/api/admin/uptime-checks/${checkId}`, undefined, other.ownerToken)).status).toBe(404);
    expect((await t.api("DELETE", `/api/admin/uptime-checks/${checkId}`, undefined, other.ownerToken)).status).toBe(404);
    expect((await t.api("POST", `/api/admin/websites/${websiteId}/uptime-checks`, {}, other.ownerToken)).status).toBe(404);
    expect((await t.api("DELETE", `/api/admin/uptime-checks/${checkId}`)).status).toBe(204);
    expect((await t.api("GET", `/api/admin/uptime-checks/${checkId}/results`)).status).toBe(404);
  });
});
