import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";

const repo = join(import.meta.dirname, "../..");

describe("operator CLI (mpanel) as a child process on the coordinator's database", { timeout: 180_000 }, () => {
  let t: TestCoordinator;
  let tenantId = "";
  let webId = "";
  let failedJobId = "";

  /** `node --import tsx coordinator/src/cli.ts ...args` with the coordinator's database and data dir. */
  const cli = (...args: string[]) =>
    execa(process.execPath, ["--import", "tsx", "coordinator/src/cli.ts", ...args], {
      cwd: repo, reject: false,
      env: { DATABASE_URL: t.coordinator.database.url, MPANEL_DATA_DIR: t.dataDir },
      extendEnv: true,
    });
  const order = (domain: string) => t.api("POST", "/api/admin/hosting/cloudpods", { tenantId, domain, dns: false, mail: false, tls: false });

  beforeAll(async () => {
    // The metrics run would mark the agent-less node below offline after a while: not here.
    t = await startTestCoordinator({ MPANEL_METRICS_RUN_MS: "3600000" });
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "CLI tenant" });
    tenantId = (tenant.body.data?.tenant as { id: string }).id;
    // One web node (no agent: its jobs stay queued, which placement does not need).
    const prisma = t.coordinator.database.db.prisma;
    webId = (await prisma.server.create({ data: { hostname: "web-cli", roles: ["web"], status: "online", agentVersion: "9.9.9", lastSeenAt: new Date("2026-11-01T10:00:00Z") } })).id;
    const failed = await prisma.job.create({ data: { type: "NOOP", payload: {}, status: "failed", targetServerId: webId, errorCode: "boom", errorMessage: "it broke", finishedAt: new Date() } });
    failedJobId = failed.id;
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it("lists nodes as a table and as JSON", async () => {
    const table = await cli("nodes");
    expect(table.exitCode).toBe(0);
    const [header, row] = table.stdout.split("\n");
    expect(header).toMatch(/^NAME\s+ID\s+ROLES\s+STATUS\s+VERSION\s+LAST SEEN\s+DRAINED$/);
    expect(row).toMatch(new RegExp(`^web-cli\\s+${webId}\\s+web\\s+online\\s+9\\.9\\.9\\s+2026-11-01T10:00:00Z\\s+no$`));
    const asJson = await cli("nodes", "--json");
    expect(JSON.parse(asJson.stdout)).toMatchObject({ nodes: [{ id: webId, hostname: "web-cli", roles: ["web"], status: "online", agentVersion: "9.9.9", drainedAt: null }] });
  });

  it("drains a node: no new CloudPod is placed there, the nodes list and server JSON show it; undrain lifts it", async () => {
    const before = await order(`before-${randomUUID().slice(0, 8)}.example.com`);
    expect(before.status).toBe(202);
    const podBefore = (before.body.data as { cloudPod: { id: string; serverId: string } }).cloudPod;
    expect(podBefore.serverId).toBe(webId);

    const drained = await cli("drain", "web-cli");
    expect(drained.stderr).toBe("");
    expect(drained.exitCode).toBe(0);
    expect(drained.stdout).toMatch(/^web-cli \(.*\) drained: no new placements/);
    expect((await cli("drain", webId)).stdout).toMatch(/was already drained/);

    const refused = await order(`during-${randomUUID().slice(0, 8)}.example.com`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe("no_capacity");
    const byId = await t.api("POST", "/api/admin/hosting/cloudpods", { tenantId, domain: `pinned-${randomUUID().slice(0, 8)}.example.com`, serverId: webId, dns: false, mail: false, tls: false });
    expect(byId.status).toBe(400);
    expect(byId.body.details?.map((d) => d.field)).toEqual(["serverId"]);
    // The pod placed before the drain is still there, on the same node.
    expect((await t.api("GET", `/api/admin/hosting/cloudpods/${podBefore.id}`)).body.data).toMatchObject({ serverId: webId });

    expect((await cli("nodes")).stdout).toMatch(/web-cli .* since 20\d\d-\d\d-\d\dT/);
    expect((await t.api("GET", `/api/admin/servers/${webId}`)).body.data?.drainedAt).toEqual(expect.any(String));

    const undrained = await cli("undrain", "web-cli", "--json");
    expect(undrained.exitCode).toBe(0);
    expect(JSON.parse(undrained.stdout)).toMatchObject({ id: webId, drainedAt: null, changed: true });
    expect((await order(`after-${randomUUID().slice(0, 8)}.example.com`)).status).toBe(202);
  });

  it("lists jobs with filters, and refuses bad options with exit code 2", async () => {
    const all = await cli("jobs", "--json");
    expect(all.exitCode).toBe(0);
    const jobs = (JSON.parse(all.stdout) as { jobs: Array<{ id: string; status: string; node: string | null }> }).jobs;
    expect(jobs.length).toBeGreaterThan(1);
    const failed = await cli("jobs", "--status", "failed", "--node", "web-cli");
    expect(failed.exitCode).toBe(0);
    const lines = failed.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+STATUS\s+NODE\s+ATTEMPTS\s+CREATED\s+FINISHED\s+ERROR$/);
    expect(lines.slice(1)).toEqual([expect.stringMatching(new RegExp(`^${failedJobId}\\s+NOOP\\s+failed\\s+web-cli\\s+0\\s+.*boom: it broke$`))]);
    expect(JSON.parse((await cli("jobs", "--limit", "1", "--json")).stdout).jobs).toHaveLength(1);

    const badLimit = await cli("jobs", "--limit", "0");
    expect(badLimit.exitCode).toBe(2);
    expect(badLimit.stderr).toMatch(/--limit: .*>=1/);
    const badStatus = await cli("jobs", "--status", "stuck");
    expect(badStatus.exitCode).toBe(2);
    expect(badStatus.stderr).toMatch(/--status: /);
    const unknownOption = await cli("nodes", "--colour");
    expect(unknownOption.exitCode).toBe(2);
    expect(unknownOption.stderr).toMatch(/Unknown option '--colour'/);
    const unknownNode = await cli("drain", "no-such-node");
    expect(unknownNode.exitCode).toBe(1);
    expect(unknownNode.stderr).toMatch(/not_found: no node with hostname no-such-node/);
    expect((await cli("frobnicate")).exitCode).toBe(2);
  });

  it("health: healthy with exit 0, unhealthy (offline node) with exit 1, and a dead database with exit 1", async () => {
    const ok = await cli("health", "--json");
    expect(ok.exitCode, ok.stdout).toBe(0);
    const report = JSON.parse(ok.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ healthy: true, database: { reachable: true }, migrations: { pending: [] }, nodes: { online: 1, offline: 0 }, jobs: { failed: 1, failedLast24h: 1 } });
    expect(report.database).not.toHaveProperty("error");
    const password = new URL(t.coordinator.database.url).password;
    if (password) expect(JSON.stringify(report)).not.toContain(password);

    const offline = await t.coordinator.database.db.prisma.server.create({ data: { hostname: "web-down", roles: ["web"], status: "offline" } });
    const sick = await cli("health");
    expect(sick.exitCode).toBe(1);
    expect(sick.stdout).toMatch(/^nodes\s+fail\s+1 online, 1 offline/m);
    expect(sick.stdout).toMatch(/^jobs\s+warn\s+/m);
    expect(sick.stdout.trim().split("\n").at(-1)).toBe("UNHEALTHY");
    // A drained node that is down is maintenance, not an outage.
    expect((await cli("drain", offline.id)).exitCode).toBe(0);
    expect((await cli("health")).exitCode).toBe(0);

    const dead = await execa(process.execPath, ["--import", "tsx", "coordinator/src/cli.ts", "health", "--json"], {
      cwd: repo, reject: false, env: { DATABASE_URL: "postgresql://nobody:x@127.0.0.1:1/none", MPANEL_DATA_DIR: t.dataDir },
    });
    expect(dead.exitCode).toBe(1);
    expect(JSON.parse(dead.stdout)).toMatchObject({ healthy: false, database: { reachable: false, target: "127.0.0.1:1/none" } });
  });

  it("migrate prints each migration applied, on a fresh database, and create-admin --if-no-admin creates one admin only", async () => {
    const name = `mpanel_cli_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    await t.coordinator.database.db.pool.query(`CREATE DATABASE ${name}`);
    const url = new URL(t.coordinator.database.url);
    url.pathname = `/${name}`;
    const env = { DATABASE_URL: url.toString(), MPANEL_DATA_DIR: t.dataDir };
    const run = (...args: string[]) => execa(process.execPath, ["--import", "tsx", "coordinator/src/cli.ts", ...args], { cwd: repo, reject: false, env });
    try {
      const pending = await run("health", "--json");
      expect(pending.exitCode).toBe(1);
      expect((JSON.parse(pending.stdout) as { migrations: { pending: string[] } }).migrations.pending.length).toBeGreaterThan(10);

      const migrated = await run("migrate");
      expect(migrated.exitCode).toBe(0);
      expect(JSON.parse(migrated.stdout)).toEqual({ migrated: true });
      const applied = migrated.stderr.split("\n").filter((l) => l.startsWith("mpanel: migration applied"));
      expect(applied.length).toBeGreaterThan(10);
      expect(applied).toContain("mpanel: migration applied migration=20261123120000_node_drain");
      expect((await run("migrate")).stderr).not.toMatch(/migration applied/);
      expect((await run("health")).exitCode).toBe(0);

      const first = await run("create-admin", "--email", "ops@example.test", "--if-no-admin");
      expect(first.exitCode).toBe(0);
      const created = JSON.parse(first.stdout) as { created: boolean; oneTimePassword: string };
      expect(created).toMatchObject({ created: true, email: "ops@example.test", oneTimePassword: expect.any(String) });
      const again = await run("create-admin", "--email", "other@example.test", "--if-no-admin");
      expect(JSON.parse(again.stdout)).toEqual({ created: false, userId: expect.any(String), email: "ops@example.test" });
      expect(again.stdout).not.toContain("oneTimePassword");
      const token = await run("join-token", "--roles", "web,mail", "--ttl", "600");
      expect(JSON.parse(token.stdout)).toMatchObject({ token: expect.stringMatching(/^mpj_/), roles: ["web", "mail"] });
      const badTtl = await run("join-token", "--ttl", "5");
      expect(badTtl.exitCode).toBe(2);
      expect(badTtl.stderr).toMatch(/^mpanel: --ttl: /);
      const badEmail = await run("create-admin", "--email", "not-an-email");
      expect(badEmail.exitCode).toBe(2);
      expect(badEmail.stderr).toMatch(/--email: /);
    } finally {
      await t.coordinator.database.db.pool.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
