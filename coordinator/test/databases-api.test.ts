import { mysqlNativePasswordHash, scramSha256Verifier } from "@mpanel/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";
import { auditOf, counts, databaseText, drainJobs, fakeNode, fields, jobRow, tenantWithOwner, type TestTenant } from "./support/service-fixtures";

const DB_TABLES = ["databases", "database_users"];

/** True when `verifier` is the SCRAM-SHA-256 verifier of `password` (recomputed with its own salt and iterations). */
function scramMatches(verifier: string, password: string): boolean {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(verifier);
  if (!match?.[1] || !match[2]) return false;
  return scramSha256Verifier(password, { iterations: Number(match[1]), salt: Buffer.from(match[2], "base64") }) === verifier;
}

describe("databases API: databases and users with one-time passwords", () => {
  let t: TestCoordinator;
  let dbNode: string;
  let a: TestTenant;
  let b: TestTenant;
  let mariaId = "";
  let pgId = "";
  let createDbJob = "";
  let mariaUser = { id: "", password: "" };
  let pgUser = { id: "", password: "" };

  beforeAll(async () => {
    t = await startTestCoordinator();
    dbNode = await fakeNode(t, "db-test", ["db"]);
    a = await tenantWithOwner(t, "Db Tenant A", "db-owner-a@example.test");
    b = await tenantWithOwner(t, "Db Tenant B", "db-owner-b@example.test");
  });
  afterAll(async () => {
    await t?.stop();
  });

  it.each([
    ["a backtick", "shop`db"], ["a single quote", "shop'db"], ["a double quote", 'shop"db'], ["a semicolon", "shop;drop"],
    ["a space", "shop db"], ["upper case", "Shop"], ["a leading digit", "1shop"], ["64 characters", `a${"b".repeat(63)}`], ["empty", ""],
  ])("refuses a database name with %s (400 on `name`, nothing written)", async (_why, name) => {
    const before = await counts(t, DB_TABLES);
    const res = await t.api("POST", "/api/admin/hosting/databases", { tenantId: a.id, engine: "mariadb", name });
    expect(res.status).toBe(400);
    expect(fields(res.body)).toEqual(["name"]);
    expect(await counts(t, DB_TABLES)).toEqual(before);
  });

  it("places a database only on a node that announced its engine (409 when none did, nothing written)", async () => {
    const before = await counts(t, DB_TABLES);
    const prisma = t.coordinator.database.db.prisma;
    await prisma.server.update({ where: { id: dbNode }, data: { capabilities: [{ name: "mariadb", version: "10.11" }] } });
    try {
      const res = await t.api("POST", "/api/admin/hosting/databases", { tenantId: a.id, engine: "postgresql", name: "nopg" });
      expect(res.status).toBe(409);
      expect(res.body.error).toBe("no_capacity");
      expect(await counts(t, DB_TABLES)).toEqual(before);
    } finally {
      await prisma.server.update({ where: { id: dbNode }, data: { capabilities: [{ name: "mariadb", version: "10.11" }, { name: "postgresql", version: "15" }] } });
    }
  });

  it("refuses an unknown engine, naming `engine`", async () => {
    const res = await t.api("POST", "/api/admin/hosting/databases", { tenantId: a.id, engine: "oracle", name: "shop" });
    expect(fields(res.body)).toEqual(["engine"]);
  });

  it("creates databases on the db node with CREATE_DB; a taken name on that engine is 409", async () => {
    const res = await t.api("POST", "/api/admin/hosting/databases", { tenantId: a.id, engine: "mariadb", name: "shop" }, a.ownerToken);
    expect(res.status).toBe(202);
    const database = res.body.data?.database as { id: string; serverId: string; status: string };
    expect(database).toMatchObject({ serverId: dbNode, status: "provisioning" });
    mariaId = database.id;
    createDbJob = String(res.body.data?.jobId);
    expect(await jobRow(t, createDbJob)).toMatchObject({ type: "CREATE_DB", targetServerId: dbNode, tenantId: a.id, payload: { databaseId: mariaId, engine: "mariadb", name: "shop" } });
    expect((await auditOf(t, mariaId)).map((e) => e.action)).toEqual(["DATABASE_CREATED"]);

    const before = await counts(t, DB_TABLES);
    const dup = await t.api("POST", "/api/admin/hosting/databases", { tenantId: b.id, engine: "mariadb", name: "shop" }, b.ownerToken);
    expect(dup.status).toBe(409);
    expect(fields(dup.body)).toEqual(["name"]);
    expect(await counts(t, DB_TABLES)).toEqual(before);

    const pg = await t.api("POST", "/api/admin/hosting/databases", { tenantId: a.id, engine: "postgresql", name: "shop" });
    expect(pg.status).toBe(202);
    pgId = String((pg.body.data?.database as { id: string }).id);
  });

  it("creates a user whose password is returned once and reaches the job only as a verifier", async () => {
    const bad = await t.api("POST", `/api/admin/hosting/databases/${mariaId}/users`, { username: "shop'; DROP USER root; --" });
    expect(bad.status).toBe(400);
    expect(fields(bad.body)).toEqual(["username"]);

    const res = await t.api("POST", `/api/admin/hosting/databases/${mariaId}/users`, { username: "shop_app" }, a.ownerToken);
    expect(res.status).toBe(202);
    const password = String(res.body.data?.password);
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const user = res.body.data?.user as { id: string; username: string; status: string };
    expect(user).toMatchObject({ username: "shop_app", status: "provisioning" });
    mariaUser = { id: user.id, password };
    const job = await jobRow(t, String(res.body.data?.jobId));
    expect(job).toEqual(expect.objectContaining({
      type: "CREATE_DB_USER", targetServerId: dbNode, dependsOn: [createDbJob],
      payload: { databaseUserId: user.id, engine: "mariadb", username: "shop_app", database: "shop", passwordVerifier: mysqlNativePasswordHash(password) },
    }));

    const pg = await t.api("POST", `/api/admin/hosting/databases/${pgId}/users`, { username: "shop_pg" });
    pgUser = { id: String((pg.body.data?.user as { id: string }).id), password: String(pg.body.data?.password) };
    const pgJob = await jobRow(t, String(pg.body.data?.jobId));
    expect(pgJob.payload.passwordVerifier).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(scramMatches(String(pgJob.payload.passwordVerifier), pgUser.password)).toBe(true);
    expect(scramMatches(String(pgJob.payload.passwordVerifier), password)).toBe(false);

    const text = await databaseText(t, DB_TABLES);
    expect(text).not.toContain(password);
    expect(text).not.toContain(pgUser.password);
    const shown = await t.api("GET", `/api/admin/hosting/databases/${mariaId}`, undefined, a.ownerToken);
    expect((shown.body.data?.users as Array<{ username: string }>).map((u) => u.username)).toEqual(["shop_app"]);
    expect(JSON.stringify(shown.body)).not.toContain(password);

    const dup = await t.api("POST", `/api/admin/hosting/databases/${pgId}/users`, { username: "shop_app" });
    expect(dup.status).toBe(409);
    expect(fields(dup.body)).toEqual(["username"]);
  });

  it("rotates a password: a new one, returned once, its verifier in UPDATE_DB_USER after the create", async () => {
    const createJob = (await t.coordinator.database.db.prisma.job.findFirstOrThrow({ where: { type: "CREATE_DB_USER", payload: { path: ["databaseUserId"], equals: mariaUser.id } } })).id;
    const res = await t.api("POST", `/api/admin/hosting/databases/${mariaId}/users/${mariaUser.id}/rotate-password`, undefined, a.ownerToken);
    expect(res.status).toBe(202);
    const password = String(res.body.data?.password);
    expect(password).not.toBe(mariaUser.password);
    const job = await jobRow(t, String(res.body.data?.jobId));
    expect(job).toMatchObject({ type: "UPDATE_DB_USER", dependsOn: [createJob], payload: { databaseUserId: mariaUser.id, passwordVerifier: mysqlNativePasswordHash(password), database: "shop" } });
    expect(await databaseText(t, DB_TABLES)).not.toContain(password);
    mariaUser.password = password;
    expect((await auditOf(t, mariaUser.id)).map((e) => e.action)).toEqual(["DATABASE_USER_CREATED", "DATABASE_USER_PASSWORD_ROTATED"]);
  });

  it("gives tenant B nothing of tenant A's databases and users (404)", async () => {
    const asB = (method: string, url: string, body?: unknown) => t.api(method, url, body, b.ownerToken);
    const base = `/api/admin/hosting/databases/${mariaId}`;
    expect((await asB("GET", base)).status).toBe(404);
    expect((await asB("DELETE", base)).status).toBe(404);
    expect((await asB("POST", `${base}/users`, { username: "intruder" })).status).toBe(404);
    expect((await asB("POST", `${base}/users/${mariaUser.id}/rotate-password`)).status).toBe(404);
    expect((await asB("DELETE", `${base}/users/${mariaUser.id}`)).status).toBe(404);
    expect((await asB("POST", "/api/admin/hosting/databases", { tenantId: a.id, engine: "mariadb", name: "intruder" })).status).toBe(404);
    expect((await asB("GET", "/api/admin/hosting/databases")).body.meta?.total).toBe(0);
    expect((await asB("GET", `/api/admin/hosting/databases?tenantId=${a.id}`)).body.meta?.total).toBe(0);
    expect((await t.api("GET", "/api/admin/hosting/databases?engine=postgresql", undefined, a.ownerToken)).body.meta?.total).toBe(1);
  });

  it("records the node's outcomes: active on success, failed with an audit event on failure", async () => {
    const handled = await drainJobs(t, dbNode, ["db"], (job) =>
      (job.payload as { databaseUserId?: string }).databaseUserId === pgUser.id ? { success: false, errorCode: "role_exists", errorMessage: "role exists" } : {});
    expect(handled.map((j) => j.type)).toEqual(["CREATE_DB", "CREATE_DB", "CREATE_DB_USER", "CREATE_DB_USER", "UPDATE_DB_USER"]);
    expect((await t.api("GET", `/api/admin/hosting/databases/${mariaId}`)).body.data).toMatchObject({ status: "active", users: [{ id: mariaUser.id, status: "active" }] });
    expect((await t.api("GET", `/api/admin/hosting/databases/${pgId}`)).body.data).toMatchObject({ status: "active", users: [{ id: pgUser.id, status: "failed" }] });
    expect((await auditOf(t, mariaUser.id)).map((e) => e.action)).toEqual(["DATABASE_USER_CREATED", "DATABASE_USER_PASSWORD_ROTATED", "DATABASE_USER_CREATED", "DATABASE_USER_PASSWORD_ROTATED"]);
    expect((await auditOf(t, pgUser.id)).map((e) => e.action)).toEqual(["DATABASE_USER_CREATED", "DATABASE_USER_FAILED"]);
  });

  it("drops a database's users, then the database (DELETE_DB depends on the user drops)", async () => {
    const second = await t.api("POST", `/api/admin/hosting/databases/${mariaId}/users`, { username: "shop_ro" });
    const res = await t.api("DELETE", `/api/admin/hosting/databases/${mariaId}`, undefined, a.ownerToken);
    expect(res.status).toBe(202);
    const userJobIds = res.body.data?.userJobIds as string[];
    expect(userJobIds).toHaveLength(2);
    const userJobs = await Promise.all(userJobIds.map((id) => jobRow(t, id)));
    expect(userJobs.map((j) => [j.type, j.payload.username]).sort()).toEqual([["DELETE_DB_USER", "shop_app"], ["DELETE_DB_USER", "shop_ro"]]);
    expect(userJobs.find((j) => j.payload.username === "shop_ro")?.dependsOn).toEqual([String(second.body.data?.jobId)]);
    const dropDb = await jobRow(t, String(res.body.data?.jobId));
    expect(dropDb).toMatchObject({ type: "DELETE_DB", payload: { databaseId: mariaId, engine: "mariadb", name: "shop" } });
    expect([...dropDb.dependsOn].sort()).toEqual([...userJobIds].sort());
    expect((await t.api("DELETE", `/api/admin/hosting/databases/${mariaId}`)).body.data?.jobId).toBe(dropDb.id);
    expect((await t.api("POST", `/api/admin/hosting/databases/${mariaId}/users`, { username: "too_late" })).status).toBe(409);

    expect((await drainJobs(t, dbNode, ["db"])).map((j) => j.type)).toEqual(["CREATE_DB_USER", "DELETE_DB_USER", "DELETE_DB_USER", "DELETE_DB"]);
    expect((await t.api("GET", `/api/admin/hosting/databases/${mariaId}`)).status).toBe(404);
    const users = await t.coordinator.database.db.prisma.databaseUser.findMany({ where: { databaseId: mariaId } });
    expect(users.every((u) => u.status === "deleted" && u.deletedAt !== null)).toBe(true);
    expect((await auditOf(t, mariaId)).map((e) => e.action)).toEqual(["DATABASE_CREATED", "DATABASE_CREATED", "DATABASE_DELETED", "DATABASE_DELETED"]);
    expect((await t.api("POST", "/api/admin/hosting/databases", { tenantId: a.id, engine: "mariadb", name: "shop" })).status).toBe(202);
  });

  it("deletes one user through DELETE_DB_USER", async () => {
    const res = await t.api("DELETE", `/api/admin/hosting/databases/${pgId}/users/${pgUser.id}`, undefined, a.ownerToken);
    expect(res.status).toBe(202);
    expect((await jobRow(t, String(res.body.data?.jobId))).payload).toEqual({ databaseUserId: pgUser.id, engine: "postgresql", username: "shop_pg" });
    await drainJobs(t, dbNode, ["db"]);
    expect((await t.api("GET", `/api/admin/hosting/databases/${pgId}`)).body.data?.users).toEqual([]);
    expect((await auditOf(t, pgUser.id)).at(-1)).toMatchObject({ action: "DATABASE_USER_DELETED", data: { phase: "applied" } });
  });
});
