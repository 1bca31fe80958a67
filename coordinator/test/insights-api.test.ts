import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { monthlyRecurringRevenue } from "../src/insights/pulse";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";

type Row = Record<string, unknown>;

describe("audit log, user directory and dashboard pulse APIs", () => {
  let t: TestCoordinator;
  const a = { id: "", token: "" };
  const b = { id: "" };

  async function tenantWithOwner(name: string, email: string): Promise<{ id: string; password: string }> {
    const res = await t.api("POST", "/api/admin/tenants", { name, owner: { email, name: `${name} Owner` } });
    expect(res.status).toBe(201);
    return { id: (res.body.data?.tenant as { id: string }).id, password: (res.body.data?.owner as { oneTimePassword: string }).oneTimePassword };
  }
  const rows = (body: { data?: unknown }) => body.data as Row[];

  beforeAll(async () => {
    t = await startTestCoordinator();
    const tenantA = await tenantWithOwner("Audit A", "owner@audit-a.test");
    b.id = (await tenantWithOwner("Audit B", "owner@audit-b.test")).id;
    a.id = tenantA.id;
    const login = await t.coordinator.app.inject({ method: "POST", url: "/api/auth/login", payload: { email: "owner@audit-a.test", password: tenantA.password } });
    a.token = (JSON.parse(login.body) as { data: { token: string } }).data.token;
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("filters the audit log by action, tenant, actor and time, newest first, naming each actor", async () => {
    const created = await t.api("GET", "/api/admin/audit?action=TENANT_CREATED");
    expect(created.status).toBe(200);
    expect(rows(created.body).map((e) => e.tenantId)).toEqual([b.id, a.id]);
    expect(rows(created.body).every((e) => (e.actor as { email: string }).email === "root@example.test")).toBe(true);

    const ofA = await t.api("GET", `/api/admin/audit?tenantId=${a.id}`);
    expect(rows(ofA.body).length).toBeGreaterThan(1);
    expect(rows(ofA.body).every((e) => e.tenantId === a.id)).toBe(true);
    expect(rows(ofA.body).map((e) => e.action)).toEqual(expect.arrayContaining(["TENANT_CREATED", "USER_CREATED"]));

    const byRoot = await t.api("GET", "/api/admin/audit?actorEmail=ROOT@example.test&pageSize=200");
    const rootId = (rows(created.body)[0] as { actorUserId: string }).actorUserId;
    expect(rows(byRoot.body).length).toBeGreaterThan(0);
    expect(rows(byRoot.body).every((e) => e.actorUserId === rootId)).toBe(true);
    expect((await t.api("GET", "/api/admin/audit?actorEmail=nobody@example.test")).body.meta?.total).toBe(0);

    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await t.api("GET", `/api/admin/audit?from=${future}`)).body.meta?.total).toBe(0);
    const past = new Date(Date.now() - 3_600_000).toISOString();
    expect((await t.api("GET", `/api/admin/audit?from=${past}&to=${future}&action=TENANT_CREATED`)).body.meta?.total).toBe(2);
  });

  it("refuses bad audit filters with the field named", async () => {
    const backwards = await t.api("GET", `/api/admin/audit?from=${new Date().toISOString()}&to=2020-01-01T00:00:00Z`);
    expect(backwards.status).toBe(400);
    expect(backwards.body.details?.map((d) => d.field)).toContain("to");
    const action = await t.api("GET", "/api/admin/audit?action=drop%20table");
    expect(action.status).toBe(400);
    expect(action.body.details?.map((d) => d.field)).toContain("action");
  });

  it("shows a tenant owner no audit events (audit:read is staff-only) and only its own members", async () => {
    expect((await t.api("GET", "/api/admin/audit", undefined, a.token)).body.meta?.total).toBe(0);
    const users = await t.api("GET", "/api/admin/users", undefined, a.token);
    expect(users.status).toBe(200);
    expect(rows(users.body).map((u) => u.email)).toEqual(["owner@audit-a.test"]);
    expect(rows(users.body)[0]).toMatchObject({ platformRole: null, mfa: false, locked: false, tenants: [{ tenantId: a.id, role: "TENANT_OWNER" }] });
    expect((await t.api("GET", `/api/admin/users?tenantId=${b.id}`, undefined, a.token)).body.meta?.total).toBe(0);
    expect(JSON.stringify(users.body)).not.toMatch(/passwordHash|totpSecret/);
  });

  it("lists and searches every user for staff", async () => {
    const all = await t.api("GET", "/api/admin/users");
    expect(rows(all.body).map((u) => u.email).sort()).toEqual(["owner@audit-a.test", "owner@audit-b.test", "root@example.test"]);
    expect(rows(all.body).find((u) => u.email === "root@example.test")).toMatchObject({ platformRole: "SUPER_ADMIN", tenants: [] });
    expect(rows((await t.api("GET", "/api/admin/users?q=AUDIT-B")).body).map((u) => u.email)).toEqual(["owner@audit-b.test"]);
    expect(rows((await t.api("GET", `/api/admin/users?tenantId=${a.id}`)).body).map((u) => u.email)).toEqual(["owner@audit-a.test"]);
  });

  it("counts pending jobs, jobs failed in 24 h and the average queue delay for staff only", async () => {
    const prisma = t.coordinator.database.db.prisma;
    const now = Date.now();
    const at = (offsetMs: number) => new Date(now + offsetMs);
    await prisma.job.createMany({
      data: [
        { type: "TEST_PULSE", payload: {}, status: "queued", runAfter: at(3_600_000) },
        { type: "TEST_PULSE", payload: {}, status: "failed", createdAt: at(-7_000), runAfter: at(-7_000), startedAt: at(-5_000), finishedAt: at(-4_000) },
        { type: "TEST_PULSE", payload: {}, status: "succeeded", createdAt: at(-10_000), runAfter: at(-9_000), startedAt: at(-3_000), finishedAt: at(-2_000) },
        { type: "TEST_PULSE", payload: {}, status: "failed", createdAt: at(-3 * 86_400_000), runAfter: at(-3 * 86_400_000), startedAt: at(-2 * 86_400_000), finishedAt: at(-2 * 86_400_000) },
      ],
    });
    const pulse = await t.api("GET", "/api/admin/dashboard/pulse");
    expect(pulse.status).toBe(200);
    // Delays of the jobs started in the last 24 h: 2000 ms and 6000 ms (from runAfter, the later of the two).
    expect(pulse.body.data).toEqual({ jobs: { pending: 1, failed24h: 1, avgQueueDelayMs: 4000 }, users: 3, mrr: [] });
    const tenant = await t.api("GET", "/api/admin/dashboard/pulse", undefined, a.token);
    expect(tenant.status).toBe(403);
  });

  it("sums MRR per currency, yearly plans divided by 12 once", () => {
    const sub = (currency: string, interval: string, unitAmountMinor: number, quantity: number, addOns: unknown[] = []) => ({
      id: "", tenantId: "", productId: "", priceId: "", status: "active", currency, interval, quantity, unitAmountMinor, addOns: addOns as never,
      currentPeriodStart: new Date(), currentPeriodEnd: new Date(), cancelAtPeriodEnd: false, canceledAt: null, cloudPodId: null, createdAt: new Date(),
    });
    expect(monthlyRecurringRevenue([
      sub("EUR", "month", 999, 2, [{ code: "ip", name: "IP", productId: "", priceId: "", quantity: 1, unitAmountMinor: 300 }]),
      sub("EUR", "year", 1000, 1), sub("EUR", "year", 1000, 1),
      sub("USD", "month", 500, 1),
    ])).toEqual([{ currency: "EUR", amountMinor: 999 * 2 + 300 + 167, subscriptions: 3 }, { currency: "USD", amountMinor: 500, subscriptions: 1 }]);
  });
});
