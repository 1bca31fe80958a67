import { hasPermission, tenantScope, type Actor, type Permission } from "../auth/rbac";
import type { Database } from "../db/client";

/** Days before expiry from which a certificate that failed to renew is an alert. */
const CERT_WARN_DAYS = 14;
/** Most alerts of one kind returned (the oldest problems first). */
const PER_KIND = 200;

/** What is wrong. Node and daemon alerts are platform staff's; the others belong to a tenant. */
export type AlertKind = "node_offline" | "service_down" | "site_down" | "backup_failed" | "certificate_expiring";

/**
 * One problem that holds now (not an event: it disappears when fixed). `since` is when it
 * began as far as mPanel knows; `subject` names the thing affected for the panel's link.
 */
export interface Alert {
  kind: AlertKind;
  severity: "critical" | "warning";
  since: string;
  tenantId: string | null;
  subject: { type: "server" | "website" | "cloud_pod" | "certificate"; id: string; name: string };
  detail: string;
}

const SEVERITY_ORDER = { critical: 0, warning: 1 } as const;

/** `{ tenantId: { in } }` / `{}` / null (no access) for a tenant-owned kind. */
function scopeOf(actor: Actor, permission: Permission): { tenantId?: { in: string[] } } | null {
  const scope = tenantScope(actor, permission);
  if (scope === "all") return {};
  return scope.length > 0 ? { tenantId: { in: scope } } : null;
}

/**
 * The platform's current problems as the actor may see them (issue 6, health): nodes offline
 * and daemons down (`servers:read`), sites whose uptime check is down (`websites:read`),
 * CloudPods whose latest backup of a kind failed (`backups:read`), and issued certificates
 * within CERT_WARN_DAYS of expiry whose renewal has failed (`ssl:read`), each in the actor's
 * tenants. Sorted critical first, then oldest first. A revoked node, or a daemon of an offline
 * node (its state is stale), raises nothing.
 */
export function createAlerts(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    async list(actor: Actor, now: Date = new Date()): Promise<Alert[]> {
      const alerts: Alert[] = [];
      if (hasPermission(actor, "servers:read")) {
        const [offline, down] = await Promise.all([
          prisma.server.findMany({ where: { status: "offline", revokedAt: null, lastSeenAt: { not: null } }, orderBy: { lastSeenAt: "asc" }, take: PER_KIND }),
          prisma.serviceHealth.findMany({ where: { up: false, server: { status: "online", revokedAt: null } }, include: { server: true }, orderBy: { changedAt: "asc" }, take: PER_KIND }),
        ]);
        for (const s of offline) {
          alerts.push({ kind: "node_offline", severity: "critical", since: (s.lastSeenAt ?? s.createdAt).toISOString(), tenantId: null, subject: { type: "server", id: s.id, name: s.hostname }, detail: `${s.hostname} is offline (last seen ${s.lastSeenAt?.toISOString()})` });
        }
        for (const h of down) {
          alerts.push({ kind: "service_down", severity: "critical", since: h.changedAt.toISOString(), tenantId: null, subject: { type: "server", id: h.serverId, name: h.server.hostname }, detail: `${h.name} is down on ${h.server.hostname}${h.detail ? `: ${h.detail}` : ""}` });
        }
      }
      const sites = scopeOf(actor, "websites:read");
      if (sites) {
        const checks = await prisma.uptimeCheck.findMany({ where: { ...sites, status: "down", enabled: true, website: { deletedAt: null } }, include: { website: true }, orderBy: { lastCheckedAt: "asc" }, take: PER_KIND });
        const lastUp = await prisma.uptimeResult.groupBy({ by: ["checkId"], where: { checkId: { in: checks.map((c) => c.id) }, ok: true }, _max: { at: true } });
        const upAt = new Map(lastUp.map((r) => [r.checkId, r._max.at]));
        for (const c of checks) {
          alerts.push({ kind: "site_down", severity: "critical", since: (upAt.get(c.id) ?? c.createdAt).toISOString(), tenantId: c.tenantId, subject: { type: "website", id: c.websiteId, name: c.website.domain }, detail: `${c.url} is down (${c.consecutiveFailures} failed probes in a row)` });
        }
      }
      const backups = scopeOf(actor, "backups:read");
      if (backups) {
        const latest = await prisma.backup.findMany({
          where: { ...backups, status: { in: ["succeeded", "failed"] } },
          distinct: ["cloudPodId", "kind", "databaseId"], orderBy: [{ cloudPodId: "asc" }, { kind: "asc" }, { databaseId: "asc" }, { createdAt: "desc" }],
          take: PER_KIND * 5,
        });
        const failed = latest.filter((b) => b.status === "failed");
        const pods = new Map((await prisma.cloudPod.findMany({ where: { id: { in: failed.map((b) => b.cloudPodId) } }, select: { id: true, name: true } })).map((p) => [p.id, p.name]));
        for (const b of failed.slice(0, PER_KIND)) {
          alerts.push({ kind: "backup_failed", severity: "warning", since: (b.finishedAt ?? b.createdAt).toISOString(), tenantId: b.tenantId, subject: { type: "cloud_pod", id: b.cloudPodId, name: pods.get(b.cloudPodId) ?? b.cloudPodId }, detail: `the last ${b.kind} backup failed${b.error ? `: ${b.error}` : ""}` });
        }
      }
      const certs = scopeOf(actor, "ssl:read");
      if (certs) {
        const expiring = await prisma.tlsCertificate.findMany({
          where: { ...certs, failures: { gt: 0 }, notAfter: { not: null, lt: new Date(now.getTime() + CERT_WARN_DAYS * 86_400_000) } },
          orderBy: { notAfter: "asc" }, take: PER_KIND,
        });
        for (const c of expiring) {
          const expired = (c.notAfter?.getTime() ?? 0) <= now.getTime();
          alerts.push({ kind: "certificate_expiring", severity: expired ? "critical" : "warning", since: c.updatedAt.toISOString(), tenantId: c.tenantId, subject: { type: "certificate", id: c.id, name: c.domains[0] ?? c.id }, detail: `${expired ? "expired" : "expires"} ${c.notAfter?.toISOString()} and renewal failed ${c.failures} time(s)${c.lastError ? `: ${c.lastError}` : ""}` });
        }
      }
      return alerts.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.since.localeCompare(b.since));
    },
  };
}
