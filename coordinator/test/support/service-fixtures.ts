import { expect } from "vitest";
import type { ClaimedJob, JobOutcome } from "../../src/jobs/store";
import type { ApiBody, TestCoordinator } from "./harness";

/** A tenant made through the API with its owner logged in (TENANT_OWNER role). */
export interface TestTenant {
  id: string;
  /** Bearer token of the tenant's owner. */
  ownerToken: string;
}

/** Creates a tenant with an owner account (`email` must be unique in the run) and logs the owner in. */
export async function tenantWithOwner(t: TestCoordinator, name: string, email: string): Promise<TestTenant> {
  const res = await t.api("POST", "/api/admin/tenants", { name, owner: { email, name: `${name} Owner` } });
  expect(res.status).toBe(201);
  const password = (res.body.data?.owner as { oneTimePassword: string }).oneTimePassword;
  const login = await t.coordinator.app.inject({ method: "POST", url: "/api/auth/login", payload: { email, password } });
  expect(login.statusCode).toBe(200);
  return { id: (res.body.data?.tenant as { id: string }).id, ownerToken: (JSON.parse(login.body) as { data: { token: string } }).data.token };
}

/** The daemons a node of each role announces in its Hello (placement checks them). */
const roleCapabilities: Record<string, Array<{ name: string; version: string }>> = {
  web: [{ name: "nginx", version: "1.22.1" }],
  db: [{ name: "mariadb", version: "10.11" }, { name: "postgresql", version: "15" }],
  dns: [{ name: "powerdns", version: "4.7.3" }],
};

/** A server row of `roles` with their usual capabilities (no agent: the test plays the node through the job store). */
export async function fakeNode(t: TestCoordinator, hostname: string, roles: string[]): Promise<string> {
  const capabilities = roles.flatMap((role) => roleCapabilities[role] ?? []);
  return (await t.coordinator.database.db.prisma.server.create({ data: { hostname, roles, status: "online", capabilities } })).id;
}

/**
 * Plays the agent of `serverId`: claims every claimable job of `roles` and reports each, as
 * `decide(job)` says (default: success without result), until nothing is claimable. The
 * coordinator's hooks run as they would for a real agent. Returns the jobs handled, in order.
 */
export async function drainJobs(t: TestCoordinator, serverId: string, roles: string[], decide: (job: ClaimedJob) => Partial<JobOutcome> = () => ({})): Promise<ClaimedJob[]> {
  const handled: ClaimedJob[] = [];
  for (;;) {
    const batch = await t.coordinator.store.claim(serverId, roles, 50);
    if (batch.length === 0) return handled;
    for (const job of batch) {
      await t.coordinator.store.complete(serverId, { jobId: job.id, success: true, retryable: false, ...decide(job) });
      handled.push(job);
    }
  }
}

/** A job row as the tests read it. */
export interface JobRow {
  id: string;
  type: string;
  status: string;
  payload: Record<string, unknown>;
  targetServerId: string | null;
  tenantId: string | null;
  dependsOn: string[];
}

/** The job `id` with its payload and the ids it depends on. */
export async function jobRow(t: TestCoordinator, id: string): Promise<JobRow> {
  const job = await t.coordinator.database.db.prisma.job.findUniqueOrThrow({ where: { id }, include: { dependsOn: true } });
  return { ...job, payload: job.payload as Record<string, unknown>, dependsOn: job.dependsOn.map((d) => d.dependsOnJobId) };
}

/** Audit events of `targetId`, oldest first: action and data. */
export async function auditOf(t: TestCoordinator, targetId: string): Promise<Array<{ action: string; data: Record<string, unknown> }>> {
  const rows = await t.coordinator.database.db.prisma.auditEvent.findMany({ where: { targetId }, orderBy: { id: "asc" } });
  return rows.map((r) => ({ action: r.action, data: r.data as Record<string, unknown> }));
}

/** Every row of the tables that could leak a secret (jobs, job events, audit events and `tables`) as one text. */
export async function databaseText(t: TestCoordinator, tables: string[]): Promise<string> {
  const parts: string[] = [];
  for (const table of ["jobs", "job_events", "audit_events", ...tables]) {
    if (!/^[a-z_]+$/.test(table)) throw new Error(`bad table name ${table}`);
    const rows = await t.coordinator.database.db.prisma.$queryRawUnsafe<Array<{ text: string | null }>>(`SELECT string_agg(row_to_json(x)::text, ' ') AS text FROM ${table} x`);
    parts.push(rows[0]?.text ?? "");
  }
  return parts.join("\n");
}

/** Field names of a 400's `details`. */
export function fields(body: ApiBody): string[] {
  return (body.details ?? []).map((d) => d.field);
}

/** Row counts of `tables`, to prove a refused request wrote nothing. */
export async function counts(t: TestCoordinator, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of [...tables, "jobs", "audit_events"]) {
    if (!/^[a-z_]+$/.test(table)) throw new Error(`bad table name ${table}`);
    const rows = await t.coordinator.database.db.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM ${table}`);
    out[table] = rows[0]?.n ?? 0;
  }
  return out;
}
