import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startTestCoordinator, type TestCoordinator } from "./support/harness";

describe("API keys: scopes intersect the owner's permissions, expiry, revocation, audited use", () => {
  let t: TestCoordinator;
  let tenantA = "";
  let tenantB = "";
  let ownerToken = "";

  async function tenantWithOwner(name: string, email: string) {
    const res = await t.api("POST", "/api/admin/tenants", { name, owner: { email, name: `${name} Owner` } });
    expect(res.status).toBe(201);
    const owner = res.body.data?.owner as { oneTimePassword: string };
    return { id: (res.body.data?.tenant as { id: string }).id, email, password: owner.oneTimePassword };
  }
  async function login(email: string, password: string): Promise<string> {
    const res = await t.coordinator.app.inject({ method: "POST", url: "/api/auth/login", payload: { email, password } });
    return String((JSON.parse(res.body) as { data: { token: string } }).data.token);
  }
  async function newKey(token: string, body: Record<string, unknown>): Promise<{ id: string; token: string }> {
    const res = await t.api("POST", "/api/auth/api-keys", { name: "automation", ...body }, token);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { id: String(res.body.data?.id), token: String(res.body.data?.token) };
  }

  beforeAll(async () => {
    t = await startTestCoordinator({ MPANEL_LOGIN_RATE_MAX: "1000" });
    const a = await tenantWithOwner("Keys A", "keys-a@example.test");
    tenantA = a.id;
    tenantB = (await tenantWithOwner("Keys B", "keys-b@example.test")).id;
    ownerToken = await login(a.email, a.password);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("a domains-only key manages domains and gets 403 on every other area", async () => {
    const key = await newKey(ownerToken, { scopes: ["domains"] });
    expect(key.token).toMatch(/^mpk_[A-Za-z0-9_-]{43}$/);
    const listed = await t.api("GET", "/api/auth/api-keys", undefined, ownerToken);
    expect(JSON.stringify(listed.body)).not.toContain(key.token);
    expect((listed.body.data as unknown as Array<{ prefix: string }>)[0]?.prefix).toBe(key.token.slice(0, 12));
    const stored = await t.coordinator.database.db.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } });
    expect(stored.tokenHash).not.toContain(key.token);

    const created = await t.api("POST", "/api/admin/domains", { tenantId: tenantA, name: "keyed.example.com", dns: false }, key.token);
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const domainId = (created.body.data?.domain as { id: string }).id;
    expect((await t.api("GET", `/api/admin/domains/${domainId}`, undefined, key.token)).status).toBe(200);
    expect((await t.api("GET", "/api/admin/domains", undefined, key.token)).body.meta?.total).toBe(1);
    expect((await t.api("POST", "/api/admin/domains", { tenantId: tenantB, name: "other.example.com", dns: false }, key.token)).status).toBe(404);
    expect((await t.api("DELETE", `/api/admin/domains/${domainId}`, undefined, key.token)).status).toBe(202);

    for (const [method, url] of [
      ["GET", "/api/admin/billing/invoices"], ["GET", "/api/admin/billing/subscriptions"],
      ["GET", "/api/admin/cloudpods"], ["GET", "/api/admin/hosting/databases"], ["GET", "/api/admin/websites"], ["GET", "/api/admin/email/domains"],
      ["GET", "/api/admin/jobs"], ["GET", "/api/admin/tenants"], ["GET", `/api/admin/tenants/${tenantA}/roles`], ["GET", "/api/auth/api-keys"],
      ["GET", "/api/auth/sessions"], ["POST", "/api/auth/logout"],
    ] as const) {
      const res = await t.api(method, url, undefined, key.token);
      expect(res.status, `${method} ${url}`).toBe(403);
    }
    const db = await t.api("POST", "/api/admin/hosting/databases", { tenantId: tenantA, engine: "mariadb", name: "keydb" }, key.token);
    expect(db.status).toBe(403);
    expect((await t.api("GET", "/api/auth/me", undefined, key.token)).body.data).toMatchObject({ apiKeyId: key.id, tenants: [tenantA] });
  });

  it("acts with at most its owner's permissions", async () => {
    const member = await t.api("POST", `/api/admin/tenants/${tenantA}/users`, { email: "reader@example.test", name: "Reader", role: "TENANT_USER" }, ownerToken);
    expect(member.status).toBe(201);
    const readerToken = await login("reader@example.test", String(member.body.data?.oneTimePassword));
    const key = await newKey(readerToken, { scopes: ["domains", "databases"] });
    expect((await t.api("GET", "/api/admin/domains", undefined, key.token)).status).toBe(200);
    expect((await t.api("POST", "/api/admin/domains", { tenantId: tenantA, name: "reader.example.com", dns: false }, key.token)).status).toBe(403);
  });

  it("a platform admin's key bound to one tenant acts in that tenant only", async () => {
    const key = await newKey(t.adminToken, { scopes: ["domains"], tenantId: tenantA });
    expect((await t.api("POST", "/api/admin/domains", { tenantId: tenantA, name: "bound.example.com", dns: false }, key.token)).status).toBe(202);
    expect((await t.api("POST", "/api/admin/domains", { tenantId: tenantB, name: "bound-b.example.com", dns: false }, key.token)).status).toBe(404);
    expect((await t.api("GET", "/api/admin/servers", undefined, key.token)).status).toBe(403);
  });

  it("an expired or revoked key gets 401; a past expiry is refused at creation", async () => {
    const past = await t.api("POST", "/api/auth/api-keys", { name: "old", scopes: ["domains"], expiresAt: new Date(Date.now() - 1000).toISOString() }, ownerToken);
    expect(past.status).toBe(400);
    expect(past.body.details?.[0]?.field).toBe("expiresAt");
    const bad = await t.api("POST", "/api/auth/api-keys", { name: "bad", scopes: ["everything"] }, ownerToken);
    expect(bad.status).toBe(400);

    const shortLived = await newKey(ownerToken, { scopes: ["domains"], expiresAt: new Date(Date.now() + 1500).toISOString() });
    expect((await t.api("GET", "/api/admin/domains", undefined, shortLived.token)).status).toBe(200);
    await eventually("the key to expire", async () => (await t.api("GET", "/api/admin/domains", undefined, shortLived.token)).status === 401, 10_000);

    const key = await newKey(ownerToken, { scopes: ["domains"] });
    expect((await t.api("GET", "/api/admin/domains", undefined, key.token)).status).toBe(200);
    expect((await t.api("DELETE", `/api/auth/api-keys/${key.id}`, undefined, ownerToken)).status).toBe(200);
    expect((await t.api("GET", "/api/admin/domains", undefined, key.token)).status).toBe(401);
    // Another user cannot revoke (or see) this owner's key.
    expect((await t.api("DELETE", `/api/auth/api-keys/${key.id}`)).status).toBe(404);
  });

  it("audits creation, revocation and use (one API_KEY_USED per key per minute) and records last use", async () => {
    const key = await newKey(ownerToken, { scopes: ["domains"] });
    for (let i = 0; i < 5; i++) expect((await t.api("GET", "/api/admin/domains", undefined, key.token)).status).toBe(200);
    const prisma = t.coordinator.database.db.prisma;
    expect(await prisma.auditEvent.count({ where: { action: "API_KEY_USED", targetId: key.id } })).toBe(1);
    expect(await prisma.auditEvent.count({ where: { action: "API_KEY_CREATED", targetId: key.id } })).toBe(1);
    expect(await prisma.auditEvent.count({ where: { action: "API_KEY_REVOKED" } })).toBe(1);
    const listed = await t.api("GET", "/api/auth/api-keys", undefined, ownerToken);
    const row = (listed.body.data as unknown as Array<{ id: string; lastUsedAt: string | null }>).find((k) => k.id === key.id);
    expect(row?.lastUsedAt).not.toBeNull();
  });
});
