import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";
import { fakeNode, tenantWithOwner, type TestTenant } from "./support/service-fixtures";

interface AlertRow { kind: string; severity: string; tenantId: string | null; subject: { type: string; id: string; name: string }; detail: string }

/**
 * The alerts view reads state other parts write (node status, daemon health, backups,
 * certificates; uptime checks are driven for real in uptime.test.ts). The state is set here
 * directly in the database, as those writers leave it.
 */
describe("current alerts", () => {
  let t: TestCoordinator;
  let acme: TestTenant;
  let other: TestTenant;
  let nodeId: string;

  const alerts = async (token?: string): Promise<AlertRow[]> => {
    const res = await t.api("GET", "/api/admin/alerts", undefined, token);
    expect(res.status).toBe(200);
    return res.body.data as unknown as AlertRow[];
  };

  beforeAll(async () => {
    t = await startTestCoordinator();
    acme = await tenantWithOwner(t, "Acme", "owner-alerts@acme.test");
    other = await tenantWithOwner(t, "Other", "owner-alerts@other.test");
    nodeId = await fakeNode(t, "web-alerts", ["web"]);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("is empty when nothing is wrong, with no node offline that never connected", async () => {
    await t.coordinator.database.db.prisma.server.create({ data: { hostname: "never-seen", roles: ["web"], status: "offline" } });
    expect(await alerts()).toEqual([]);
    expect(await alerts(acme.ownerToken)).toEqual([]);
  });

  it("shows nodes offline and daemons down to platform staff only, critical first", async () => {
    const { prisma } = t.coordinator.database.db;
    const lost = await prisma.server.create({ data: { hostname: "web-lost", roles: ["web"], status: "offline", lastSeenAt: new Date(Date.now() - 60_000) } });
    const at = new Date();
    await prisma.serviceHealth.create({ data: { serverId: nodeId, name: "nginx", up: false, detail: "connection refused", changedAt: at, checkedAt: at } });
    await prisma.serviceHealth.create({ data: { serverId: nodeId, name: "php-fpm", up: true, changedAt: at, checkedAt: at } });
    const seen = await alerts();
    expect(seen.map((a) => [a.kind, a.subject.name])).toEqual([["node_offline", "web-lost"], ["service_down", "web-alerts"]]);
    expect(seen[1]?.detail).toMatch(/nginx is down on web-alerts: connection refused/);
    expect(await alerts(acme.ownerToken)).toEqual([]);
    await prisma.server.update({ where: { id: lost.id }, data: { revokedAt: new Date() } });
    await prisma.server.update({ where: { id: nodeId }, data: { status: "offline", lastSeenAt: new Date() } });
    expect((await alerts()).map((a) => a.kind), "a daemon of an offline node is stale: only the node counts").toEqual(["node_offline"]);
    await prisma.server.update({ where: { id: nodeId }, data: { status: "online" } });
  });

  it("shows a pod's failed latest backup and an expiring certificate that failed to renew to its tenant only", async () => {
    const { prisma } = t.coordinator.database.db;
    const pod = await prisma.cloudPod.create({ data: { tenantId: acme.id, serverId: nodeId, name: "acme-pod", systemUser: "mp_alerts1", status: "running" } });
    const backup = (status: string, minutesAgo: number, error?: string) => prisma.backup.create({
      data: { id: randomUUID(), tenantId: acme.id, cloudPodId: pod.id, kind: "files", serverId: nodeId, trigger: "schedule", status, createdAt: new Date(Date.now() - minutesAgo * 60_000), finishedAt: new Date(), ...(error ? { error } : {}) },
    });
    await backup("succeeded", 30);
    await backup("failed", 10, "restic: repository locked");
    const website = await prisma.website.create({ data: { tenantId: acme.id, cloudPodId: pod.id, domain: "acme-alerts.test", status: "active" } });
    await prisma.tlsCertificate.create({ data: { tenantId: acme.id, websiteId: website.id, domains: ["acme-alerts.test"], status: "issued", notAfter: new Date(Date.now() + 3 * 86_400_000), failures: 2, lastError: "challenge failed" } });
    await prisma.tlsCertificate.create({ data: { tenantId: acme.id, websiteId: website.id, domains: ["fine.acme-alerts.test"], status: "issued", notAfter: new Date(Date.now() + 60 * 86_400_000), failures: 0 } });

    const mine = await alerts(acme.ownerToken);
    expect(mine.map((a) => [a.kind, a.severity, a.subject.name])).toEqual([["backup_failed", "warning", "acme-pod"], ["certificate_expiring", "warning", "acme-alerts.test"]]);
    expect(mine[0]?.detail).toMatch(/repository locked/);
    expect(mine.every((a) => a.tenantId === acme.id)).toBe(true);
    expect(await alerts(other.ownerToken)).toEqual([]);

    await backup("succeeded", 1);
    expect((await alerts(acme.ownerToken)).map((a) => a.kind), "a later good backup clears it").toEqual(["certificate_expiring"]);
  });
});
