import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registeredRoutes } from "../src/app";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const TRUSTED_PROXY = "127.0.0.2";

/**
 * Attacks on every registered route: no credentials, another tenant's ids, CSRF, forged
 * X-Forwarded-For against the login limit, CR/LF/NUL in strings, revoked credentials. After
 * each attack, every table's row count (audit log included) is what it was before.
 */
describe("attack suite over every route", () => {
  let t: TestCoordinator;
  let routes: Array<{ method: string; url: string; public: boolean }>;
  const a = { tenant: "", domain: "", database: "", website: "", session: "", apiKey: "" };
  let b = { token: "", csrf: "" };
  let peer = 0;

  type Auth = { bearer?: string; cookie?: string; csrf?: string };
  async function call(method: string, url: string, auth: Auth = {}, body?: unknown, remoteAddress = "127.0.0.1", headers: Record<string, string> = {}) {
    const res = await t.coordinator.app.inject({
      method: method as "GET", url, remoteAddress,
      headers: {
        ...headers,
        ...(auth.bearer ? { authorization: `Bearer ${auth.bearer}` } : {}),
        ...(auth.csrf ? { "x-csrf-token": auth.csrf } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(auth.cookie ? { cookies: { mpanel_session: auth.cookie } } : {}),
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, text: res.body, body: res.body ? (JSON.parse(res.body) as { error?: string; data?: Record<string, unknown> }) : {} };
  }
  /** Logs in from its own loopback address, so setup logins never meet the rate limit under test. */
  async function login(email: string, password: string): Promise<{ token: string; csrfToken: string }> {
    const res = await call("POST", "/api/auth/login", {}, { email, password }, `127.0.1.${++peer}`);
    expect(res.status).toBe(200);
    return res.body.data as { token: string; csrfToken: string };
  }
  async function tenantWithOwner(name: string, email: string) {
    const res = await t.api("POST", "/api/admin/tenants", { name, owner: { email, name } });
    const owner = res.body.data?.owner as { oneTimePassword: string };
    return { id: (res.body.data?.tenant as { id: string }).id, ...(await login(email, owner.oneTimePassword)) };
  }
  /** Row counts of every table of the schema (audit_events included). */
  async function snapshot(): Promise<Record<string, number>> {
    const prisma = t.coordinator.database.db.prisma;
    const tables = await prisma.$queryRaw<Array<{ name: string }>>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`;
    const out: Record<string, number> = {};
    for (const { name } of tables) {
      if (!/^[a-z_]+$/.test(name)) continue;
      const rows = await prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM "${name}"`);
      out[name] = rows[0]?.n ?? 0;
    }
    return out;
  }
  const key = (r: { method: string; url: string }) => `${r.method} ${r.url}`;
  const guarded = () => routes.filter((r) => r.method !== "HEAD" && r.url.startsWith("/api/") && !r.public);
  /** A's id for a route's `:id` by its area; a fresh UUID for other parameters. */
  function idFor(url: string): string {
    const area: Array<[RegExp, string]> = [
      [/^\/api\/admin\/tenants\//, a.tenant], [/^\/api\/admin\/domains\//, a.domain], [/^\/api\/admin\/hosting\/databases\//, a.database],
      [/^\/api\/admin\/websites\//, a.website], [/^\/api\/auth\/sessions\//, a.session], [/^\/api\/auth\/api-keys\//, a.apiKey],
    ];
    return area.find(([re]) => re.test(url))?.[1] ?? randomUUID();
  }
  const withIds = (url: string) => url.replace(":id", idFor(url)).replace(/:[A-Za-z]+/g, () => randomUUID());
  /** A body naming A's records in every reference field the API has. */
  const hostileBody = () => ({ tenantId: a.tenant, websiteId: a.website, mailDomainId: a.domain, databaseId: a.database, name: "intruder", domain: "intruder.example.com" });

  beforeAll(async () => {
    t = await startTestCoordinator({ MPANEL_TRUSTED_PROXIES: TRUSTED_PROXY, MPANEL_LOGIN_RATE_MAX: "3" });
    routes = [...registeredRoutes(t.coordinator.app)];
    const prisma = t.coordinator.database.db.prisma;
    await prisma.server.create({ data: { hostname: "web-1", roles: ["web", "db"], status: "online", capabilities: [{ name: "mariadb" }] } });
    const tenantA = await tenantWithOwner("Attack A", "attack-a@example.test");
    a.tenant = tenantA.id;
    a.domain = String(((await t.api("POST", "/api/admin/domains", { tenantId: a.tenant, name: "a-attack.example.com", dns: false })).body.data?.domain as { id: string }).id);
    a.database = String(((await t.api("POST", "/api/admin/hosting/databases", { tenantId: a.tenant, engine: "mariadb", name: "adb" })).body.data?.database as { id: string }).id);
    a.website = String(((await t.api("POST", "/api/admin/websites", { tenantId: a.tenant, domain: "a-site.example.com" })).body.data?.website as { id: string }).id);
    a.session = (await prisma.session.findFirstOrThrow({ where: { user: { email: "attack-a@example.test" } } })).id;
    a.apiKey = String((await t.api("POST", "/api/auth/api-keys", { name: "a", scopes: ["domains"] }, tenantA.token)).body.data?.id);
    const tenantB = await tenantWithOwner("Attack B", "attack-b@example.test");
    b = { token: tenantB.token, csrf: tenantB.csrfToken };
    expect(Object.values(a).every((v) => /^[0-9a-f-]{36}$/.test(v))).toBe(true);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("answers 401 on every verb of every route without valid credentials, writing nothing", async () => {
    expect(guarded().length).toBeGreaterThan(60);
    const before = await snapshot();
    for (const r of guarded()) {
      for (const auth of [{}, { bearer: "mps_forged" }, { bearer: `mpk_${"x".repeat(43)}` }, { cookie: "mps_forged" }]) {
        const res = await call(r.method, withIds(r.url), auth, UNSAFE.has(r.method) ? hostileBody() : undefined);
        expect(res.status, `${key(r)} ${JSON.stringify(auth)}`).toBe(401);
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it("gives tenant B nothing of A's on any route: no 2xx on A's ids, no A id in any answer, no state change", async () => {
    const before = await snapshot();
    const aIds = Object.values(a);
    for (const r of guarded()) {
      if (r.url.startsWith("/api/auth/") && !r.url.includes(":")) continue; // the caller's own account, not A's
      const res = await call(r.method, withIds(r.url), { bearer: b.token }, UNSAFE.has(r.method) ? hostileBody() : undefined);
      if (r.url.includes(":")) expect([400, 403, 404], `${key(r)}: ${res.text}`).toContain(res.status);
      else if (UNSAFE.has(r.method)) expect(res.status, `${key(r)}: ${res.text}`).toBeGreaterThanOrEqual(400);
      for (const id of aIds) expect(res.text.includes(id), `${key(r)} leaks ${id}`).toBe(false);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("refuses every unsafe route on a cookie session without the CSRF token (403), writing nothing", async () => {
    const before = await snapshot();
    for (const r of guarded().filter((x) => UNSAFE.has(x.method))) {
      for (const csrf of [undefined, "0".repeat(32)]) {
        const res = await call(r.method, withIds(r.url), { cookie: b.token, ...(csrf ? { csrf } : {}) }, hostileBody());
        expect(res.status, key(r)).toBe(403);
        expect(res.body.error).toBe("csrf");
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it("refuses CR, LF and NUL in every string field, query and path parameter (400), writing nothing", async () => {
    const before = await snapshot();
    for (const bad of ["in\r\njected", "nul\0byte", "line\nfeed"]) {
      for (const r of guarded()) {
        const url = withIds(r.url);
        if (UNSAFE.has(r.method)) {
          const res = await call(r.method, url, { bearer: t.adminToken }, { ...hostileBody(), name: bad, nested: { list: ["ok", bad] } });
          expect(res.status, `${key(r)} body`).toBe(400);
          expect(res.body.error).toBe("validation");
        } else {
          const res = await call(r.method, `${url}?q=${encodeURIComponent(bad)}`, { bearer: t.adminToken });
          expect(res.status, `${key(r)} query`).toBe(400);
        }
      }
    }
    // Headers: Node's HTTP parser refuses CR/LF inside a header value before any route runs.
    expect(() => new Headers({ "x-test": "a\r\nInjected: 1" })).toThrow();
    expect(await snapshot()).toEqual(before);
  });

  it("does not let a forged X-Forwarded-For from an untrusted peer get around the login limit", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await call("POST", "/api/auth/login", {}, { email: "attack-a@example.test", password: "guess" }, "127.0.0.9", { "x-forwarded-for": `203.0.113.${i}` });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    const reset = [];
    for (let i = 0; i < 4; i++) reset.push((await call("POST", "/api/auth/password-reset", {}, { email: "attack-a@example.test" }, "127.0.0.9", { "x-forwarded-for": `203.0.113.${i}` })).status);
    expect(reset[3]).toBe(429);
  });

  it("refuses a revoked session and a revoked API key everywhere (401)", async () => {
    const keyRes = await t.api("POST", "/api/auth/api-keys", { name: "doomed", scopes: ["domains", "databases", "tenants"] }, b.token);
    const apiKey = { id: String(keyRes.body.data?.id), token: String(keyRes.body.data?.token) };
    expect((await call("GET", "/api/admin/domains", { bearer: apiKey.token })).status).toBe(200);
    expect((await call("DELETE", `/api/auth/api-keys/${apiKey.id}`, { bearer: b.token })).status).toBe(200);
    expect((await call("POST", "/api/auth/logout", { bearer: b.token })).status).toBe(200);
    const before = await snapshot();
    for (const r of guarded()) {
      for (const auth of [{ bearer: b.token }, { cookie: b.token, csrf: b.csrf }, { bearer: apiKey.token }]) {
        const res = await call(r.method, withIds(r.url), auth, UNSAFE.has(r.method) ? hostileBody() : undefined);
        expect(res.status, `${key(r)} revoked`).toBe(401);
      }
    }
    expect(await snapshot()).toEqual(before);
  });
});
