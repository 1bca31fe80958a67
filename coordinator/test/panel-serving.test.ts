import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LiveEvent } from "../src/panel/contract";
import { PANEL_DIST } from "../src/panel/routes";
import { eventually, startTestCoordinator, type TestCoordinator } from "./support/harness";

/** A live socket as a test sees it: the messages so far and how it ended. */
interface Socket {
  messages: Array<{ type: string; event?: LiveEvent }>;
  closed: Promise<{ code: number }>;
  close(): void;
}

describe("panel serving: built files with cache headers, SPA fallback, the live socket", () => {
  let t: TestCoordinator;
  let base: string;
  const sockets: Socket[] = [];

  /** Signs in over HTTP like a browser; returns the Cookie header of the session. */
  async function sessionCookie(email: string, password: string): Promise<string> {
    const res = await fetch(`${base}/api/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password }) });
    expect(res.status).toBe(200);
    return res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  }

  function open(headers: Record<string, string>): Socket {
    const ws = new WebSocket(`${base.replace("http", "ws")}/api/live`, { headers });
    const socket: Socket = {
      messages: [],
      closed: new Promise((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code }))),
      close: () => ws.close(),
    };
    ws.addEventListener("error", () => undefined);
    ws.addEventListener("message", (e) => socket.messages.push(JSON.parse(String(e.data)) as Socket["messages"][number]));
    sockets.push(socket);
    return socket;
  }

  const hello = (s: Socket) => eventually("hello", async () => s.messages.some((m) => m.type === "hello"));
  const jobEvents = (s: Socket) => s.messages.flatMap((m) => (m.event?.kind === "job" ? [m.event] : []));

  async function tenantWithOwner(name: string, email: string): Promise<{ id: string; password: string }> {
    const res = await t.api("POST", "/api/admin/tenants", { name, owner: { email, name } });
    expect(res.status).toBe(201);
    return { id: (res.body.data?.tenant as { id: string }).id, password: (res.body.data?.owner as { oneTimePassword: string }).oneTimePassword };
  }

  beforeAll(async () => {
    if (!existsSync(join(PANEL_DIST, "index.html"))) throw new Error("the panel is not built: run `npm run build -w panel` (install/test.sh does)");
    t = await startTestCoordinator();
    base = t.coordinator.httpUrl;
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.stop();
  });

  it("serves index.html no-cache with a CSP, hashed assets immutable, and index.html for client routes", async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/^text\/html/);
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(index.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] ?? "");
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    expect(assets.some((a) => a.endsWith(".css"))).toBe(true);
    for (const asset of assets) {
      const res = await fetch(`${base}${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get("cache-control"), asset).toBe("public, max-age=31536000, immutable");
      expect(res.headers.get("content-type"), asset).toMatch(asset.endsWith(".js") ? /javascript/ : /text\/css/);
      await res.arrayBuffer();
    }

    for (const path of ["/admin", "/admin/tenants?q=x", "/client/sites/7f1f4c9e-2a52-4d7e-9d0e-1c2b3a4d5e6f", "/login"]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("cache-control"), path).toBe("no-cache");
      expect(await res.text(), path).toBe(html);
    }
    const favicon = await fetch(`${base}/favicon.svg`);
    expect(favicon.headers.get("content-type")).toMatch(/image\/svg/);
    expect(favicon.headers.get("cache-control")).toBe("no-cache");
  });

  it("keeps unknown API paths and missing assets as 404s (no SPA fallback there)", async () => {
    const api = await fetch(`${base}/api/no-such-route`);
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ error: "not_found" });
    expect((await fetch(`${base}/assets/missing-0000.js`)).status).toBe(404);
    const climb = await fetch(`${base}/assets/%2e%2e/%2e%2e/package.json`);
    expect(await climb.text()).not.toContain("workspaces");
  });

  it("refuses the live socket without a session or from a foreign origin", async () => {
    const stranger = open({});
    expect((await stranger.closed).code).not.toBe(1000);
    expect(stranger.messages).toEqual([]);
    const admin = await sessionCookie("root@example.test", t.adminPassword);
    const foreign = open({ cookie: admin, origin: "http://evil.example" });
    expect((await foreign.closed).code).toBe(1008);
    expect(foreign.messages).toEqual([]);
  });

  it("pushes job changes only to the users allowed to see them, in commit order", async () => {
    const a = await tenantWithOwner("Live A", "live-a@example.test");
    const b = await tenantWithOwner("Live B", "live-b@example.test");
    const admin = open({ cookie: await sessionCookie("root@example.test", t.adminPassword) });
    const ownerA = open({ cookie: await sessionCookie("live-a@example.test", a.password) });
    const ownerB = open({ cookie: await sessionCookie("live-b@example.test", b.password) });
    await Promise.all([hello(admin), hello(ownerA), hello(ownerB)]);

    // A web node that never connects: both jobs stay queued, and the insert is what the sockets hear.
    const node = await t.coordinator.database.db.pool.query<{ id: string }>("INSERT INTO servers (id, hostname, roles) VALUES (gen_random_uuid(), 'web-live', '{web}') RETURNING id");
    const podA = await t.api("POST", "/api/admin/cloudpods", { tenantId: a.id, name: "pod-a" });
    const podB = await t.api("POST", "/api/admin/cloudpods", { tenantId: b.id, name: "pod-b" });
    if (podA.status !== 202 || podB.status !== 202) throw new Error(`cloudpods: ${JSON.stringify([podA.body, podB.body])}`);
    const jobA = String(podA.body.data?.jobId);
    const jobB = String(podB.body.data?.jobId);

    await eventually("admin hears both jobs", async () => jobEvents(admin).some((e) => e.id === jobB));
    expect(jobEvents(admin).map((e) => e.id)).toEqual([jobA, jobB]);
    expect(jobEvents(admin)[0]).toMatchObject({ kind: "job", tenantId: a.id, type: "CREATE_CLOUDPOD", status: "queued" });
    await eventually("owner A hears its job", async () => jobEvents(ownerA).some((e) => e.id === jobA));
    // B's own (later) job arriving proves A's earlier one was filtered, not merely late.
    await eventually("owner B hears its job", async () => jobEvents(ownerB).some((e) => e.id === jobB));
    expect(jobEvents(ownerB).map((e) => e.id)).toEqual([jobB]);
    expect(jobEvents(ownerA).map((e) => e.id)).toEqual([jobA]);

    // Status changes are pushed too (the rows move as an agent's results would move them).
    const fail = (id: string) => t.coordinator.database.db.pool.query("UPDATE jobs SET status = 'failed', error_code = 'test' WHERE id = $1", [id]);
    await fail(jobA);
    await fail(jobB);
    await eventually("owner A hears its status change", async () => jobEvents(ownerA).some((e) => e.id === jobA && e.status === "failed"));
    await eventually("owner B hears its status change", async () => jobEvents(ownerB).some((e) => e.id === jobB && e.status === "failed"));
    expect(jobEvents(ownerB).every((e) => e.id === jobB)).toBe(true);

    // Server status is for platform staff only.
    await t.coordinator.database.db.pool.query("UPDATE servers SET status = 'online' WHERE id = $1", [node.rows[0]?.id]);
    await eventually("admin hears the server", async () => admin.messages.some((m) => m.event?.kind === "server" && m.event.status === "online"));
    await fail(jobA);
    await t.coordinator.database.db.pool.query("UPDATE jobs SET status = 'canceled' WHERE id = $1", [jobB]);
    await eventually("owner B hears the cancel", async () => jobEvents(ownerB).some((e) => e.status === "canceled"));
    expect(ownerB.messages.some((m) => m.event && m.event.kind !== "job")).toBe(false);
    expect(ownerA.messages.some((m) => m.event && m.event.kind !== "job")).toBe(false);
  });
});
