import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "../src/auth/users";
import { FAILED_ACCOUNTS_ALERT } from "../src/identity/security-events";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";

describe("security events: failed logins, new sign-in contexts, key creation and role grants, with alerts", () => {
  let t: TestCoordinator;

  async function login(email: string, password: string, from: string, userAgent = "browser-1") {
    const res = await t.coordinator.app.inject({ method: "POST", url: "/api/auth/login", payload: { email, password }, remoteAddress: from, headers: { "user-agent": userAgent } });
    return { status: res.statusCode, token: (JSON.parse(res.body) as { data?: { token: string } }).data?.token };
  }
  type Event = { action: string; alert: boolean; targetId: string | null; data: Record<string, unknown> };
  async function events(query = "", token?: string): Promise<{ status: number; rows: Event[] }> {
    const res = await t.api("GET", `/api/admin/security-events${query}`, undefined, token);
    return { status: res.status, rows: (res.body.data ?? []) as unknown as Event[] };
  }
  const alerts = async (pattern: string) => (await events("?alertsOnly=true&pageSize=200")).rows.filter((e) => e.data.pattern === pattern);

  beforeAll(async () => {
    // A lock of 1 ms: it is taken and has ended by the next attempt, which is what "a login right after a lock" looks like.
    t = await startTestCoordinator({ MPANEL_LOGIN_RATE_MAX: "1000", MPANEL_LOCK_THRESHOLD: "3", MPANEL_LOCK_MS: "1" });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it(`raises one alert when one address fails logins for ${FAILED_ACCOUNTS_ALERT} different accounts`, async () => {
    const emails = Array.from({ length: FAILED_ACCOUNTS_ALERT + 1 }, (_, i) => `sprayed-${i}@example.test`);
    for (const email of emails) await createUser(t.coordinator.database.db, { email, name: email });
    // Another address failing for one account fewer than the threshold raises nothing.
    for (const email of emails.slice(0, FAILED_ACCOUNTS_ALERT - 1)) expect((await login(email, "guess-1", "198.51.100.20")).status).toBe(401);
    expect(await alerts("failed_logins_across_accounts")).toHaveLength(0);
    for (const email of emails) expect((await login(email, "guess-1", "198.51.100.21")).status).toBe(401);
    const raised = await alerts("failed_logins_across_accounts");
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ action: "SECURITY_ALERT", alert: true, targetId: "198.51.100.21", data: { ip: "198.51.100.21", accounts: FAILED_ACCOUNTS_ALERT } });
    const failures = (await events("?pageSize=200")).rows.filter((e) => e.action === "LOGIN_FAILED" && e.data.ip === "198.51.100.21");
    expect(failures).toHaveLength(emails.length);
    expect(failures.every((e) => e.alert === false)).toBe(true);
  });

  it("raises an alert for a login right after the account was locked", async () => {
    const user = await createUser(t.coordinator.database.db, { email: "locked-then-in@example.test", name: "L" });
    for (let i = 0; i < 3; i++) expect((await login("locked-then-in@example.test", "wrong-password", "198.51.100.30")).status).toBe(401);
    expect(await t.coordinator.database.db.prisma.auditEvent.count({ where: { action: "ACCOUNT_LOCKED", targetId: user.userId } })).toBe(1);
    expect(await alerts("login_after_lock")).toHaveLength(0);
    expect((await login("locked-then-in@example.test", user.password, "198.51.100.31")).status).toBe(200);
    const raised = await alerts("login_after_lock");
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ targetId: user.userId, data: { userId: user.userId, ip: "198.51.100.31" } });
    // The lock is cleared by that login: the next one is ordinary.
    expect((await login("locked-then-in@example.test", user.password, "198.51.100.31")).status).toBe(200);
    expect(await alerts("login_after_lock")).toHaveLength(1);
  });

  it("records a login from a new client address or user agent (the first sign-in has nothing to compare with)", async () => {
    const user = await createUser(t.coordinator.database.db, { email: "traveller@example.test", name: "T" });
    const contexts = async () => (await events(`?userId=${user.userId}`)).rows.filter((e) => e.action === "LOGIN_NEW_CONTEXT").map((e) => e.data);
    await login("traveller@example.test", user.password, "203.0.113.1");
    await login("traveller@example.test", user.password, "203.0.113.1");
    expect(await contexts()).toEqual([]);
    await login("traveller@example.test", user.password, "203.0.113.2");
    await login("traveller@example.test", user.password, "203.0.113.1", "browser-2");
    expect(await contexts()).toEqual([
      { ip: "203.0.113.1", userAgent: "browser-2", newAddress: false, newUserAgent: true },
      { ip: "203.0.113.2", userAgent: "browser-1", newAddress: true, newUserAgent: false },
    ]);
  });

  it("lists key creation and role grants as security events, to staff with audit:read only", async () => {
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Watched", owner: { email: "watched-owner@example.test", name: "Owner" } });
    const tenantId = (tenant.body.data?.tenant as { id: string }).id;
    const owner = await login("watched-owner@example.test", (tenant.body.data?.owner as { oneTimePassword: string }).oneTimePassword, "203.0.113.9");
    expect((await t.api("POST", "/api/auth/api-keys", { name: "ci", scopes: ["domains"] }, owner.token)).status).toBe(201);
    expect((await t.api("POST", `/api/admin/tenants/${tenantId}/roles`, { name: "Auditor", permissions: ["domains:read"] }, owner.token)).status).toBe(201);
    const rows = (await events("?pageSize=200")).rows;
    expect(rows.find((e) => e.action === "API_KEY_CREATED")?.data).toMatchObject({ name: "ci", scopes: ["domains"] });
    expect(rows.find((e) => e.action === "ROLE_CREATED")?.data).toMatchObject({ name: "Auditor", permissions: ["domains:read"] });
    expect(rows.some((e) => e.action === "DOMAIN_CREATED" || e.action === "TENANT_CREATED")).toBe(false);
    expect((await events("", owner.token)).status).toBe(403);
    expect((await events("?alertsOnly=maybe")).status).toBe(400);
  });

  it("records identity provider changes; an http:// issuer is refused unless MPANEL_OIDC_ALLOW_HTTP is on", async () => {
    const provider = { slug: "staff", displayName: "Staff SSO", clientId: "mpanel", clientSecret: "not-shown-anywhere" };
    const plain = await t.api("POST", "/api/admin/identity/oidc-providers", { ...provider, issuer: "http://idp.example.test" });
    expect(plain.status).toBe(400);
    expect(plain.body.details?.[0]?.field).toBe("issuer");
    expect((await t.api("POST", "/api/admin/identity/oidc-providers", { ...provider, issuer: "https://idp.example.test/realms/staff" })).status).toBe(201);
    const created = (await events()).rows.find((e) => e.action === "OIDC_PROVIDER_CREATED");
    expect(created?.data).toMatchObject({ slug: "staff", issuer: "https://idp.example.test/realms/staff", allowJit: false });
    expect(JSON.stringify(created)).not.toContain("not-shown-anywhere");
  });
});
