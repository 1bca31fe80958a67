import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";
import { counts } from "./support/service-fixtures";

describe("resellers see only their subtree; custom tenant roles; audited impersonation", () => {
  let t: TestCoordinator;
  const ids = { reseller: "", child1: "", child2: "", outsider: "" };
  const tokens = { reseller: "", child2: "", outsider: "" };

  async function login(email: string, password: string): Promise<string> {
    const res = await t.coordinator.app.inject({ method: "POST", url: "/api/auth/login", payload: { email, password } });
    expect(res.statusCode).toBe(200);
    return String((JSON.parse(res.body) as { data: { token: string } }).data.token);
  }
  async function tenant(body: Record<string, unknown>, token = t.adminToken): Promise<{ id: string; token: string }> {
    const res = await t.api("POST", "/api/admin/tenants", body, token);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const owner = res.body.data?.owner as { email: string; oneTimePassword: string } | null;
    return { id: (res.body.data?.tenant as { id: string }).id, token: owner ? await login(owner.email, owner.oneTimePassword) : "" };
  }
  const listIds = async (token: string) => ((await t.api("GET", "/api/admin/tenants", undefined, token)).body.data as unknown as Array<{ id: string }>).map((x) => x.id).sort();

  beforeAll(async () => {
    t = await startTestCoordinator({ MPANEL_LOGIN_RATE_MAX: "1000" });
    // A db node row announcing both engines (no agent: nothing here runs the jobs).
    await t.coordinator.database.db.prisma.server.create({ data: { hostname: "db-node", roles: ["db"], status: "online", capabilities: [{ name: "mariadb" }, { name: "postgresql" }] } });
    const reseller = await tenant({ name: "Reseller", reseller: true, owner: { email: "reseller@example.test", name: "Reseller Owner" } });
    Object.assign(ids, { reseller: reseller.id });
    tokens.reseller = reseller.token;
    ids.child1 = (await tenant({ name: "Child One", parentTenantId: ids.reseller, owner: { email: "child1@example.test", name: "Child One Owner" } })).id;
    const outsider = await tenant({ name: "Outsider", owner: { email: "outsider@example.test", name: "Outsider Owner" } });
    ids.outsider = outsider.id;
    tokens.outsider = outsider.token;
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("a reseller's manager creates child tenants, but no top-level or reseller tenant", async () => {
    const child2 = await tenant({ name: "Child Two", parentTenantId: ids.reseller, owner: { email: "child2@example.test", name: "Child Two Owner" } }, tokens.reseller);
    ids.child2 = child2.id;
    tokens.child2 = child2.token;
    expect((await t.api("POST", "/api/admin/tenants", { name: "Top" }, tokens.reseller)).status).toBe(403);
    expect((await t.api("POST", "/api/admin/tenants", { name: "Sub", parentTenantId: ids.reseller, reseller: true }, tokens.reseller)).status).toBe(403);
    expect((await t.api("POST", "/api/admin/tenants", { name: "Sneaky", parentTenantId: ids.outsider }, tokens.reseller)).status).toBe(404);
    const notReseller = await t.api("POST", "/api/admin/tenants", { name: "Sub", parentTenantId: ids.outsider }, tokens.outsider);
    expect(notReseller.status).toBe(400);
    expect(notReseller.body.details?.[0]?.field).toBe("parentTenantId");
  });

  it("the reseller sees and manages exactly its subtree; a child sees only itself", async () => {
    expect(await listIds(tokens.reseller)).toEqual([ids.reseller, ids.child1, ids.child2].sort());
    expect(await listIds(tokens.child2)).toEqual([ids.child2]);
    expect((await t.api("GET", `/api/admin/tenants/${ids.outsider}`, undefined, tokens.reseller)).status).toBe(404);
    expect((await t.api("GET", `/api/admin/tenants/${ids.reseller}`, undefined, tokens.child2)).status).toBe(404);
    expect((await t.api("GET", `/api/admin/tenants/${ids.child1}`, undefined, tokens.child2)).status).toBe(404);

    const inChild = await t.api("POST", "/api/admin/hosting/databases", { tenantId: ids.child1, engine: "mariadb", name: "childdb" }, tokens.reseller);
    expect(inChild.status, JSON.stringify(inChild.body)).toBe(202);
    const before = await counts(t, ["databases", "tenants"]);
    expect((await t.api("POST", "/api/admin/hosting/databases", { tenantId: ids.outsider, engine: "mariadb", name: "outdb" }, tokens.reseller)).status).toBe(404);
    expect((await t.api("POST", `/api/admin/tenants/${ids.outsider}/suspend`, undefined, tokens.reseller)).status).toBe(404);
    expect(await counts(t, ["databases", "tenants"])).toEqual(before);
    const dbs = (await t.api("GET", "/api/admin/hosting/databases", undefined, tokens.child2)).body.meta?.total;
    expect(dbs).toBe(0);
  });

  it("a custom role without databases:delete creates but cannot delete a database", async () => {
    const bad = await t.api("POST", `/api/admin/tenants/${ids.child1}/roles`, { name: "Everything", permissions: ["users:impersonate"] }, tokens.reseller);
    expect(bad.status).toBe(400);
    const role = await t.api("POST", `/api/admin/tenants/${ids.child1}/roles`, { name: "DbOperator", permissions: ["databases:read", "databases:create", "databases:write"] }, tokens.reseller);
    expect(role.status, JSON.stringify(role.body)).toBe(201);
    expect((await t.api("POST", `/api/admin/tenants/${ids.child2}/roles`, { name: "DbOperator", permissions: ["databases:read"] }, tokens.reseller)).status).toBe(409);
    const roles = await t.api("GET", `/api/admin/tenants/${ids.child1}/roles`, undefined, tokens.reseller);
    expect((roles.body.data as unknown as Array<{ name: string }>).map((r) => r.name)).toContain("DbOperator");
    // Another tenant cannot hand out child 1's role.
    expect((await t.api("POST", `/api/admin/tenants/${ids.outsider}/users`, { email: "borrow@example.test", name: "B", role: "DbOperator" }, tokens.outsider)).status).toBe(400);

    const member = await t.api("POST", `/api/admin/tenants/${ids.child1}/users`, { email: "dbop@example.test", name: "Db Operator", role: "DbOperator" }, tokens.reseller);
    expect(member.status).toBe(201);
    const operator = await login("dbop@example.test", String(member.body.data?.oneTimePassword));
    const created = await t.api("POST", "/api/admin/hosting/databases", { tenantId: ids.child1, engine: "postgresql", name: "opsdb" }, operator);
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const dbId = (created.body.data?.database as { id: string }).id;
    const refused = await t.api("DELETE", `/api/admin/hosting/databases/${dbId}`, undefined, operator);
    expect(refused.status).toBe(403);
    expect((await t.api("GET", `/api/admin/hosting/databases/${dbId}`, undefined, operator)).body.data?.status).not.toBe("deleting");
    expect((await t.api("DELETE", `/api/admin/hosting/databases/${dbId}`, undefined, tokens.reseller)).status).toBe(202);
  });

  it("staff impersonate a tenant owner in an audited session that carries impersonatedBy", async () => {
    const me = await t.api("GET", "/api/auth/me");
    const staffId = String(me.body.data?.userId);
    expect((await t.api("POST", `/api/admin/tenants/${ids.child1}/impersonate`, undefined, tokens.reseller)).status).toBe(403);
    const res = await t.api("POST", `/api/admin/tenants/${ids.child1}/impersonate`);
    expect(res.status).toBe(201);
    expect(res.body.data?.impersonatedBy).toBe(staffId);
    const token = String(res.body.data?.token);
    const as = await t.api("GET", "/api/auth/me", undefined, token);
    expect(as.body.data).toMatchObject({ impersonatedBy: staffId, tenants: [ids.child1], permissions: [] });
    expect(as.body.data?.userId).not.toBe(staffId);
    expect((await t.api("GET", `/api/admin/tenants/${ids.outsider}`, undefined, token)).status).toBe(404);
    const trail = await t.coordinator.database.db.prisma.auditEvent.findMany({ where: { action: "IMPERSONATION_STARTED" } });
    expect(trail).toHaveLength(1);
    expect(trail[0]).toMatchObject({ actorUserId: staffId, tenantId: ids.child1, targetId: as.body.data?.userId });
    const sessions = await t.coordinator.database.db.prisma.session.findMany({ where: { impersonatedBy: staffId } });
    expect(sessions).toHaveLength(1);
  });
});
