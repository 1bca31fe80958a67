import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { registeredRoutes } from "../src/app";
import { prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";

type Kind = "tenant" | "website" | "cloudpod" | "job" | "server" | "domain" | "certificate" | "uptime";
type Ids = Record<Kind, string>;
/** What each route must answer. `other`: B's owner calling it on A's `id` (or with `body` naming A). */
type Expected = { public: true } | { id?: Kind; other: number; body?: (a: Ids) => unknown };

/** Every route of the API. A route missing here (or here but not registered) fails the walk. */
const table: Record<string, Expected> = {
  "GET /api/health": { public: true },
  "GET /api/health/ready": { public: true },
  "GET /api/openapi.json": { public: true },
  "POST /api/auth/login": { public: true },
  "POST /api/auth/logout": { other: 200 },
  "GET /api/auth/me": { other: 200 },
  "POST /api/auth/login/totp": { public: true },
  "POST /api/auth/password-reset": { public: true },
  "POST /api/auth/password-reset/complete": { public: true },
  // OIDC sign-in: public (identity-oidc.test.ts runs it against a real provider); managing providers is for super admins.
  "GET /api/auth/oidc/providers": { public: true },
  "GET /api/auth/oidc/:provider/start": { public: true },
  "GET /api/auth/oidc/:provider/callback": { public: true },
  "GET /api/admin/identity/oidc-providers": { other: 403 },
  "POST /api/admin/identity/oidc-providers": { other: 403, body: () => ({ slug: "intruder", displayName: "Intruder", issuer: "https://idp.example.test", clientId: "c", clientSecret: "s" }) },
  "DELETE /api/admin/identity/oidc-providers/:id": { id: "tenant", other: 403 },
  "GET /api/admin/security-events": { other: 403 },
  // Identity routes act on the caller's own account: A's ids are simply not found.
  "POST /api/auth/totp/enroll": { other: 200 },
  "POST /api/auth/totp/confirm": { other: 400, body: () => ({ code: "000000" }) },
  "POST /api/auth/totp/disable": { other: 409, body: () => ({ recoveryCode: "not-enabled" }) },
  "GET /api/auth/sessions": { other: 200 },
  "DELETE /api/auth/sessions/:id": { id: "tenant", other: 404 },
  "POST /api/auth/password": { other: 400, body: () => ({ currentPassword: "wrong", newPassword: "a-long-enough-password" }) },
  "POST /api/auth/api-keys": { other: 404, body: (a) => ({ name: "intruder", scopes: ["domains"], tenantId: a.tenant }) },
  "GET /api/auth/api-keys": { other: 200 },
  "DELETE /api/auth/api-keys/:id": { id: "tenant", other: 404 },
  "GET /api/admin/tenants/:id/roles": { id: "tenant", other: 404 },
  "POST /api/admin/tenants/:id/roles": { id: "tenant", other: 404, body: () => ({ name: "Intruder", permissions: ["domains:read"] }) },
  "POST /api/admin/tenants/:id/users": { id: "tenant", other: 404, body: () => ({ email: "intruder@example.test", name: "Intruder", role: "TENANT_ADMIN" }) },
  "POST /api/admin/tenants/:id/impersonate": { id: "tenant", other: 403 },
  "POST /api/admin/tenants": { other: 403, body: () => ({ name: "Sneaky" }) },
  "GET /api/admin/tenants": { other: 200 },
  "GET /api/admin/tenants/:id": { id: "tenant", other: 404 },
  "POST /api/admin/tenants/:id/suspend": { id: "tenant", other: 404 },
  "POST /api/admin/tenants/:id/unsuspend": { id: "tenant", other: 404 },
  "POST /api/admin/join-tokens": { other: 403, body: () => ({ roles: ["web"] }) },
  "GET /api/admin/servers": { other: 403 },
  "GET /api/admin/servers/:id": { id: "server", other: 403 },
  "POST /api/admin/servers/:id/revoke": { id: "server", other: 403 },
  "PATCH /api/admin/servers/:id": { id: "server", other: 403, body: () => ({ region: "elsewhere" }) },
  // Agent rollouts are platform work (servers:manage); rollout.test.ts runs them against real agents.
  "POST /api/admin/rollouts": { other: 403, body: () => ({ version: "9.9.9", bundleUrl: "http://127.0.0.1:9/agent.tar.gz", sha256: "0".repeat(64), stages: [100] }) },
  "GET /api/admin/rollouts": { other: 403 },
  "GET /api/admin/rollouts/:id": { id: "server", other: 403 },
  "POST /api/admin/rollouts/:id/pause": { id: "server", other: 403 },
  "POST /api/admin/rollouts/:id/resume": { id: "server", other: 403 },
  "POST /api/admin/rollouts/:id/abort": { id: "server", other: 403 },
  "POST /api/admin/hosting/cloudpods": { other: 404, body: (a) => ({ tenantId: a.tenant, domain: "intruder-pod.example.com" }) },
  "GET /api/admin/hosting/cloudpods": { other: 200 },
  "GET /api/admin/hosting/cloudpods/:id": { id: "cloudpod", other: 404 },
  "POST /api/admin/hosting/cloudpods/:id/retry": { id: "cloudpod", other: 404 },
  "POST /api/admin/hosting/cloudpods/:id/suspend": { id: "cloudpod", other: 404 },
  "POST /api/admin/hosting/cloudpods/:id/unsuspend": { id: "cloudpod", other: 404 },
  "POST /api/admin/domains": { other: 404, body: (a) => ({ tenantId: a.tenant, name: "intruder-domain.example.com", dns: false }) },
  "GET /api/admin/domains": { other: 200 },
  "GET /api/admin/domains/:id": { id: "domain", other: 404 },
  "DELETE /api/admin/domains/:id": { id: "domain", other: 404 },
  "GET /api/admin/domains/:id/records": { id: "domain", other: 404 },
  "POST /api/admin/domains/:id/records": { id: "domain", other: 404, body: () => ({ name: "www", type: "A", content: "127.0.0.9" }) },
  "PATCH /api/admin/domains/:id/records/:recordId": { id: "domain", other: 404, body: () => ({ ttl: 600 }) },
  "DELETE /api/admin/domains/:id/records/:recordId": { id: "domain", other: 404 },
  "POST /api/admin/ssl/certificates": { other: 404, body: (a) => ({ websiteId: a.website }) },
  "GET /api/admin/ssl/certificates": { other: 200 },
  "GET /api/admin/ssl/certificates/:id": { id: "certificate", other: 404 },
  "POST /api/admin/ssl/certificates/:id/renew": { id: "certificate", other: 404 },
  "POST /api/admin/cloudpods": { other: 404, body: (a) => ({ tenantId: a.tenant, name: "intruder" }) },
  "GET /api/admin/cloudpods": { other: 200 },
  "GET /api/admin/cloudpods/:id": { id: "cloudpod", other: 404 },
  "DELETE /api/admin/cloudpods/:id": { id: "cloudpod", other: 404 },
  "POST /api/admin/websites": { other: 404, body: (a) => ({ tenantId: a.tenant, domain: "intruder.example.com" }) },
  "POST /api/admin/websites/:id/uptime-checks": { id: "website", other: 404, body: () => ({}) },
  "GET /api/admin/uptime-checks": { other: 200 },
  "GET /api/admin/uptime-checks/:id": { id: "uptime", other: 404 },
  "GET /api/admin/uptime-checks/:id/results": { id: "uptime", other: 404 },
  "DELETE /api/admin/uptime-checks/:id": { id: "uptime", other: 404 },
  "GET /api/admin/alerts": { other: 200 },
  "GET /api/admin/websites": { other: 200 },
  "GET /api/admin/websites/:id": { id: "website", other: 404 },
  "DELETE /api/admin/websites/:id": { id: "website", other: 404 },
  // Email and databases: no fixtures of these kinds here, so `:id` gets another record of A (a 404 all the same);
  // mail-api.test.ts and databases-api.test.ts check tenant B against A's real mail and database ids.
  "POST /api/admin/email/domains": { other: 404, body: (a) => ({ tenantId: a.tenant, domain: "a-domain.example.com" }) },
  "GET /api/admin/email/domains": { other: 200 },
  "GET /api/admin/email/domains/:id": { id: "domain", other: 404 },
  "DELETE /api/admin/email/domains/:id": { id: "domain", other: 404 },
  "POST /api/admin/email/mailboxes": { other: 404, body: (a) => ({ mailDomainId: a.domain, localPart: "intruder", password: "intruder-password" }) },
  "GET /api/admin/email/mailboxes": { other: 200 },
  "GET /api/admin/email/mailboxes/:id": { id: "domain", other: 404 },
  "PATCH /api/admin/email/mailboxes/:id": { id: "domain", other: 404, body: () => ({ suspended: true }) },
  "DELETE /api/admin/email/mailboxes/:id": { id: "domain", other: 404 },
  "POST /api/admin/email/aliases": { other: 404, body: (a) => ({ mailDomainId: a.domain, localPart: "intruder", destinations: ["x@example.org"] }) },
  "GET /api/admin/email/aliases": { other: 200 },
  "GET /api/admin/email/aliases/:id": { id: "domain", other: 404 },
  "DELETE /api/admin/email/aliases/:id": { id: "domain", other: 404 },
  "POST /api/admin/hosting/databases": { other: 404, body: (a) => ({ tenantId: a.tenant, engine: "mariadb", name: "intruder" }) },
  "GET /api/admin/hosting/databases": { other: 200 },
  "GET /api/admin/hosting/databases/:id": { id: "tenant", other: 404 },
  "DELETE /api/admin/hosting/databases/:id": { id: "tenant", other: 404 },
  "POST /api/admin/hosting/databases/:id/users": { id: "tenant", other: 404, body: () => ({ username: "intruder" }) },
  "POST /api/admin/hosting/databases/:id/users/:userId/rotate-password": { id: "tenant", other: 404 },
  "DELETE /api/admin/hosting/databases/:id/users/:userId": { id: "tenant", other: 404 },
  "GET /api/admin/jobs": { other: 200 },
  // Audit log and users: tenant B's owner sees only B's (insights-api.test.ts checks the scoping); the pulse is staff-only.
  "GET /api/admin/audit": { other: 200 },
  "GET /api/admin/users": { other: 200 },
  "GET /api/admin/dashboard/pulse": { other: 403 },
  "GET /api/admin/jobs/:id": { id: "job", other: 404 },
  "GET /api/public/products": { public: true },
  "GET /api/public/plans": { public: true },
  "POST /api/public/checkout/session": { public: true },
  "POST /api/public/checkout/webhook": { public: true },
  "POST /api/webhooks/stripe": { public: true },
  // Billing: tenant A has no subscription or invoice here, so `:id` gets another record of A (a 404 all the same);
  // billing-checkout.test.ts checks a tenant sees only its own invoices.
  "GET /api/admin/billing/products": { other: 403 },
  "POST /api/admin/billing/products": { other: 403, body: () => ({ code: "intruder", name: "Intruder", type: "hosting", prices: [{ currency: "EUR", interval: "month", amountMinor: 1 }] }) },
  "POST /api/admin/billing/coupons": { other: 403, body: () => ({ code: "INTRUDER", percentOff: 100 }) },
  "POST /api/admin/billing/tax-rates": { other: 403, body: () => ({ country: "DE", rateBp: 0 }) },
  "GET /api/admin/billing/subscriptions": { other: 200 },
  "GET /api/admin/billing/subscriptions/:id": { id: "tenant", other: 404 },
  "POST /api/admin/billing/subscriptions/:id/change": { id: "tenant", other: 404, body: () => ({ planCode: "intruder" }) },
  "POST /api/admin/billing/subscriptions/:id/cancel": { id: "tenant", other: 404 },
  "POST /api/admin/billing/subscriptions/:id/reactivate": { id: "tenant", other: 404 },
  "GET /api/admin/billing/invoices": { other: 200 },
  "GET /api/admin/billing/invoices/:id": { id: "tenant", other: 404 },
  "GET /api/admin/billing/invoices/:id/pdf": { id: "tenant", other: 404 },
  "POST /api/admin/billing/invoices/:id/payments": { id: "tenant", other: 404, body: () => ({ amountMinor: 1, currency: "EUR", reference: "intruder" }) },
  "POST /api/admin/billing/invoices/:id/pay": { id: "tenant", other: 404 },
  "POST /api/admin/billing/invoices/:id/refund": { id: "tenant", other: 404, body: () => ({ amountMinor: 1, reason: "intruder" }) },
  "POST /api/admin/billing/runs/renewals": { other: 403 },
  "POST /api/admin/billing/runs/dunning": { other: 403 },
  // The panel (coordinator/src/panel): its files and SPA fallback are public; the live socket
  // authenticates like any API route (panel-live.test.ts checks it refuses strangers and scopes events).
  "GET /*": { public: true },
  "GET /api/live": { other: 200 },
  "GET /api/admin/enrollment": { other: 403 },
  // The one-line agent installer and its bundle: public downloads (install-agent.test.ts runs them).
  "GET /install/agent.sh": { public: true },
  "GET /install/agent.tar.gz": { public: true },
  // Node metrics (node-metrics.test.ts): staff only; the Prometheus scrape has its own bearer token (404 while none is configured).
  "GET /api/admin/servers/:id/metrics": { id: "server", other: 403 },
  "GET /api/admin/servers/:id/health": { id: "server", other: 403 },
  "GET /metrics": { public: true },
  // The file manager (file-manager.test.ts runs it against a real agent); the upload routes need
  // their query (path, uploadId, ...), so without one they stop at validation, before any lookup.
  "GET /api/admin/cloudpods/:id/files": { id: "cloudpod", other: 404 },
  // The web terminal's WebSocket (terminal-browser.test.ts); a plain GET on another tenant's CloudPod is 404.
  "GET /api/admin/cloudpods/:id/terminal": { id: "cloudpod", other: 404 },
  "GET /api/admin/cloudpods/:id/files/stat": { id: "cloudpod", other: 404 },
  "GET /api/admin/cloudpods/:id/files/content": { id: "cloudpod", other: 404 },
  "PUT /api/admin/cloudpods/:id/files/content": { id: "cloudpod", other: 404, body: () => ({ path: "intruder.txt", content: "x" }) },
  "POST /api/admin/cloudpods/:id/files/mkdir": { id: "cloudpod", other: 404, body: () => ({ path: "intruder" }) },
  "POST /api/admin/cloudpods/:id/files/rename": { id: "cloudpod", other: 404, body: () => ({ from: "a", to: "b" }) },
  "POST /api/admin/cloudpods/:id/files/copy": { id: "cloudpod", other: 404, body: () => ({ from: "a", to: "b" }) },
  "POST /api/admin/cloudpods/:id/files/delete": { id: "cloudpod", other: 404, body: () => ({ path: "a" }) },
  "POST /api/admin/cloudpods/:id/files/chmod": { id: "cloudpod", other: 404, body: () => ({ path: "a", mode: 0o644 }) },
  "POST /api/admin/cloudpods/:id/files/archive": { id: "cloudpod", other: 404, body: () => ({ paths: ["a"], destination: "a.zip", format: "zip" }) },
  "POST /api/admin/cloudpods/:id/files/extract": { id: "cloudpod", other: 404, body: () => ({ path: "a.zip", destination: "a" }) },
  "GET /api/admin/cloudpods/:id/files/space": { id: "cloudpod", other: 404 },
  "GET /api/admin/cloudpods/:id/files/upload": { id: "cloudpod", other: 400 },
  "PUT /api/admin/cloudpods/:id/files/upload": { id: "cloudpod", other: 400 },
  "GET /api/admin/cloudpods/:id/files/download": { id: "cloudpod", other: 404 },
  // Backups: no backup of A here, so `/api/admin/backups/:id` gets another record of A (a 404 all the same);
  // backups-api.test.ts checks tenant B against A's real backup.
  "GET /api/admin/hosting/cloudpods/:id/backup-policy": { id: "cloudpod", other: 404 },
  "PUT /api/admin/hosting/cloudpods/:id/backup-policy": { id: "cloudpod", other: 404, body: () => ({ frequencyHours: 24, keepLast: 7 }) },
  "POST /api/admin/hosting/cloudpods/:id/backups": { id: "cloudpod", other: 404, body: () => ({}) },
  "GET /api/admin/backups": { other: 200 },
  "GET /api/admin/backups/:id": { id: "tenant", other: 404 },
  "POST /api/admin/backups/:id/restore": { id: "tenant", other: 404 },
  // Restore tests are platform work (backups-api.test.ts runs them against a real repository).
  "GET /api/admin/backups/restore-tests": { other: 403 },
  "POST /api/admin/backups/restore-tests": { other: 403, body: () => ({}) },
};

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const key = (r: { method: string; url: string }): string => `${r.method} ${r.url}`;

describe("route walker: authentication, CSRF and tenant isolation on every route", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  const a = {} as Ids;
  let tenantB = "";
  let ownerA = { email: "", password: "" };
  let ownerB = { email: "", password: "" };
  let routes: Array<{ method: string; url: string }>;

  async function call(method: string, url: string, auth: { bearer?: string; cookie?: string; csrf?: string } = {}, body?: unknown) {
    const res = await t.coordinator.app.inject({
      method: method as "GET", url,
      headers: {
        ...(auth.bearer ? { authorization: `Bearer ${auth.bearer}` } : {}),
        ...(auth.csrf ? { "x-csrf-token": auth.csrf } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(auth.cookie ? { cookies: { mpanel_session: auth.cookie } } : {}),
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as { error?: string; data?: unknown; meta?: { total: number } }) : {} };
  }

  async function login(who: { email: string; password: string }): Promise<{ token: string; csrfToken: string }> {
    const res = await call("POST", "/api/auth/login", {}, who);
    expect(res.status).toBe(200);
    return res.body.data as { token: string; csrfToken: string };
  }

  async function tenantWithOwner(name: string, email: string): Promise<{ id: string; owner: { email: string; password: string } }> {
    const res = await t.api("POST", "/api/admin/tenants", { name, owner: { email, name: `${name} Owner` } });
    expect(res.status).toBe(201);
    const owner = res.body.data?.owner as { oneTimePassword: string };
    return { id: (res.body.data?.tenant as { id: string }).id, owner: { email, password: owner.oneTimePassword } };
  }

  async function createSite(tenantId: string, domain: string): Promise<{ websiteId: string; cloudPodId: string; jobId: string }> {
    const res = await t.api("POST", "/api/admin/websites", { tenantId, domain });
    expect(res.status).toBe(202);
    const jobId = String(res.body.data?.jobId);
    expect((await waitForJob(t, jobId)).status).toBe("succeeded");
    const website = res.body.data?.website as { id: string; cloudPodId: string };
    return { websiteId: website.id, cloudPodId: website.cloudPodId, jobId };
  }

  /** Puts `id` for `:id` and a fresh UUID for any other parameter (`:recordId`, ...). */
  const withIds = (url: string, id: string): string => url.replace(":id", id).replace(/:[A-Za-z]+/g, () => randomUUID());
  const authRoutes = (): Array<{ method: string; url: string }> =>
    routes.filter((r) => /^\/api\/(admin|auth)\//.test(r.url) && !("public" in (table[key({ method: r.method === "HEAD" ? "GET" : r.method, url: r.url })] ?? {})));

  beforeAll(async () => {
    t = await startTestCoordinator();
    routes = [...registeredRoutes(t.coordinator.app)];
    node = await prepareWebNode(t);
    agent = await startTestAgent(t, node);
    const tenantA = await tenantWithOwner("Tenant A", "owner-a@example.test");
    const b = await tenantWithOwner("Tenant B", "owner-b@example.test");
    tenantB = b.id;
    ownerA = tenantA.owner;
    ownerB = b.owner;
    const site = await createSite(tenantA.id, "a-site.example.com");
    const domain = await t.api("POST", "/api/admin/domains", { tenantId: tenantA.id, name: "a-domain.example.com", dns: false });
    expect(domain.status).toBe(202);
    const certificate = await t.api("POST", "/api/admin/ssl/certificates", { websiteId: site.websiteId });
    expect(certificate.status).toBe(202);
    const uptime = await t.api("POST", `/api/admin/websites/${site.websiteId}/uptime-checks`, {});
    expect(uptime.status).toBe(201);
    Object.assign(a, {
      uptime: String(uptime.body.data?.id),
      tenant: tenantA.id, website: site.websiteId, cloudpod: site.cloudPodId, job: site.jobId, server: agent.nodeId,
      domain: (domain.body.data?.domain as { id: string }).id, certificate: String(certificate.body.data?.certificateId),
    });
    await createSite(tenantB, "b-site.example.com");
  });
  afterAll(async () => {
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
  });

  it("has an expected outcome for exactly the registered routes", () => {
    const heads = routes.filter((r) => r.method === "HEAD").map((r) => r.url).sort();
    const gets = routes.filter((r) => r.method === "GET").map((r) => r.url).sort();
    expect(heads).toEqual(gets);
    expect(routes.filter((r) => r.method !== "HEAD").map(key).sort()).toEqual(Object.keys(table).sort());
  });

  it("answers public routes without a session", async () => {
    for (const url of ["/api/health", "/api/health/ready", "/api/openapi.json"]) expect((await call("GET", url)).status, url).toBe(200);
    const wrong = await call("POST", "/api/auth/login", {}, { email: ownerB.email, password: "wrong" });
    expect(wrong.status).toBe(401);
  });

  it("refuses every other route without a valid session (401)", async () => {
    expect(authRoutes().length).toBeGreaterThan(20);
    for (const r of authRoutes()) {
      const url = withIds(r.url, randomUUID());
      for (const auth of [{}, { bearer: "mps_not-a-session" }, { cookie: "mps_not-a-session" }]) {
        const res = await call(r.method, url, auth);
        expect(res.status, `${key(r)} ${JSON.stringify(auth)}`).toBe(401);
      }
    }
  });

  it("refuses unsafe methods on a cookie session without the matching CSRF header (403 csrf)", async () => {
    const session = await login(ownerB);
    const unsafe = authRoutes().filter((r) => UNSAFE.has(r.method));
    expect(unsafe.length).toBeGreaterThan(8);
    for (const r of unsafe) {
      const url = withIds(r.url, randomUUID());
      for (const csrf of [undefined, "0".repeat(32), session.token]) {
        const res = await call(r.method, url, { cookie: session.token, ...(csrf ? { csrf } : {}) });
        expect(res.status, `${key(r)} csrf=${csrf}`).toBe(403);
        expect(res.body.error, key(r)).toBe("csrf");
      }
    }
    // The session is intact, safe methods need no CSRF header, and the right header passes.
    expect((await call("GET", "/api/auth/me", { cookie: session.token })).status).toBe(200);
    const ok = await call("POST", withIds("/api/admin/tenants/:id/suspend", tenantB), { cookie: session.token, csrf: session.csrfToken });
    expect(ok.status).toBe(403);
    expect(ok.body.error).toBe("forbidden");
  });

  it("gives another tenant's owner nothing of tenant A on any route", async () => {
    expect((await call("GET", withIds("/api/admin/websites/:id", a.website), { bearer: (await login(ownerA)).token })).status).toBe(200);
    const b = await login(ownerB);
    for (const r of routes.filter((x) => x.method !== "HEAD" && /^\/api\/(admin|auth)\//.test(x.url))) {
      const expected = table[key(r)];
      if (!expected || "public" in expected) continue;
      const token = key(r) === "POST /api/auth/logout" ? (await login(ownerB)).token : b.token;
      const url = expected.id ? withIds(r.url, a[expected.id]) : r.url;
      const res = await call(r.method, url, { bearer: token }, expected.body?.(a));
      expect(res.status, `${key(r)} as tenant B: ${JSON.stringify(res.body)}`).toBe(expected.other);
      if (expected.id && r.method === "GET") {
        const head = await call("HEAD", url, { bearer: token });
        expect(head.status, `HEAD ${r.url}`).toBe(expected.other);
      }
    }
  });

  it("lists only tenant B's records to B's owner", async () => {
    const b = { bearer: (await login(ownerB)).token };
    const tenants = await call("GET", "/api/admin/tenants", b);
    expect((tenants.body.data as Array<{ id: string }>).map((x) => x.id)).toEqual([tenantB]);
    expect((await call("GET", "/api/auth/me", b)).body.data).toMatchObject({ tenants: [tenantB], permissions: [] });
    for (const list of ["websites", "cloudpods", "jobs"]) {
      const all = await call("GET", `/api/admin/${list}`, b);
      const rows = all.body.data as Array<{ id: string; tenantId: string }>;
      expect(rows.length, list).toBeGreaterThan(0);
      expect(rows.every((row) => row.tenantId === tenantB), list).toBe(true);
      expect(rows.map((row) => row.id)).not.toContain(a.website);
      const filtered = await call("GET", `/api/admin/${list}?tenantId=${a.tenant}`, b);
      expect(filtered.body.meta?.total, `${list}?tenantId=A`).toBe(0);
    }
  });

  it("left tenant A and the node untouched", async () => {
    expect((await t.api("GET", `/api/admin/tenants/${a.tenant}`)).body.data?.status).toBe("active");
    expect((await t.api("GET", `/api/admin/websites/${a.website}`)).body.data?.status).toBe("active");
    expect((await t.api("GET", `/api/admin/cloudpods/${a.cloudpod}`)).body.data?.status).toBe("running");
    expect((await t.api("GET", `/api/admin/domains/${a.domain}`)).body.data?.status).toBe("active");
    expect((await t.api("GET", `/api/admin/servers/${a.server}`)).body.data?.status).toBe("online");
    const total = (await t.api("GET", "/api/admin/tenants")).body.meta?.total;
    expect(total).toBe(2);
    const intruders = await t.api("GET", "/api/admin/websites?q=intruder");
    expect(intruders.body.meta?.total).toBe(0);
  });
});
