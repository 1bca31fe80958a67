import { randomUUID } from "node:crypto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, tenantWhere, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { siteSpec } from "../hosting/site-spec";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import { withJobs, type Enqueue } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";

/** Body of `POST /api/admin/ssl/certificates`. */
export const CertificateInput = z.strictObject({ websiteId: z.uuid() });

export const CertificateListQuery = PageQuery.extend({
  tenantId: z.uuid().optional(),
  status: z.enum(["pending", "issued", "renewing", "error"]).optional(),
  /** Only certificates that expire within this many days. */
  expiringWithinDays: z.coerce.number().int().min(0).max(3650).optional(),
});

const certificateFields = {
  id: true, tenantId: true, websiteId: true, domains: true, status: true, serial: true, issuer: true,
  notBefore: true, notAfter: true, renewAfter: true, failures: true, lastError: true, createdAt: true, updatedAt: true,
} as const;

/**
 * Enqueues ISSUE_SSL for a website on its web node (ACME HTTP-01 there) and records a `pending`
 * certificate for its domain and aliases, inside `tx`. Reuses the site's certificate row when it
 * has one. Returns the certificate id and job id.
 */
export async function requestCertificate(tx: Tx, enqueue: Enqueue, input: { websiteId: string; dependsOn?: string[]; cloudPodId?: string }): Promise<{ certificateId: string; jobId: string }> {
  const site = await siteSpec(tx, input.websiteId, { tls: true });
  const pod = await tx.cloudPod.findUniqueOrThrow({ where: { id: site.cloudPodId } });
  const domains = [site.domain, ...site.aliases];
  const existing = await tx.tlsCertificate.findFirst({ where: { websiteId: site.websiteId }, orderBy: { createdAt: "desc" } });
  const certificateId = existing?.id ?? randomUUID();
  if (existing) await tx.tlsCertificate.update({ where: { id: existing.id }, data: { domains, status: existing.status === "issued" ? "renewing" : "pending", updatedAt: new Date() } });
  else await tx.tlsCertificate.create({ data: { id: certificateId, tenantId: pod.tenantId, websiteId: site.websiteId, domains } });
  const job = await enqueue({
    type: existing?.status === "issued" ? "RENEW_SSL" : "ISSUE_SSL",
    payload: { certificateId, site, domains },
    tenantId: pod.tenantId, targetServerId: pod.serverId, maxAttempts: 3,
    ...(input.dependsOn ? { dependsOn: input.dependsOn } : {}),
    ...(input.cloudPodId ? { cloudPodId: input.cloudPodId } : {}),
  });
  return { certificateId, jobId: job.id };
}

/**
 * TLS certificates (spec section 5.2): every site's ACME certificate with its expiry, issued and
 * renewed by the site's web node; renewal is scheduled at 2/3 of the lifetime (`scheduleRenewals`).
 */
export function createTlsService(deps: { db: Database; wakeups: Wakeups }) {
  const { db } = deps;
  const { prisma } = db;

  async function findCertificate(actor: Actor, id: string, tx: Tx | Database["prisma"] = prisma) {
    const cert = await tx.tlsCertificate.findFirst({ where: { id, ...tenantWhere(actor, "ssl:read") }, select: { ...certificateFields, certificatePem: true } });
    if (!cert) throw new AppError("not_found", "certificate not found");
    return cert;
  }

  return {
    /** Requests a certificate for a website of the actor's scope (404 outside it). */
    async create(actor: Actor, input: z.output<typeof CertificateInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const site = await tx.website.findFirst({ where: { id: input.websiteId, deletedAt: null, ...tenantWhere(actor, "websites:read") } });
        if (!site) throw new AppError("not_found", "website not found");
        checkPermission(actor, "ssl:manage", site.tenantId);
        const out = await requestCertificate(tx, enqueue, { websiteId: site.id });
        await audit(tx, { action: "SSL_ISSUE_REQUESTED", targetType: "tls_certificate", targetId: out.certificateId, tenantId: site.tenantId, actorUserId: actor.userId, requestId, data: { websiteId: site.id, jobId: out.jobId } });
        return out;
      });
    },

    async list(actor: Actor, q: z.output<typeof CertificateListQuery>) {
      const where = {
        ...tenantWhere(actor, "ssl:read"),
        ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.expiringWithinDays !== undefined ? { notAfter: { lte: new Date(Date.now() + q.expiringWithinDays * 86_400_000) } } : {}),
      };
      const [rows, total] = await Promise.all([
        prisma.tlsCertificate.findMany({ where, select: certificateFields, orderBy: [{ notAfter: "asc" }, { createdAt: "desc" }], ...pageArgs(q) }),
        prisma.tlsCertificate.count({ where }),
      ]);
      return paged(rows, total, q);
    },

    get: (actor: Actor, id: string) => findCertificate(actor, id),

    /** Renews now (RENEW_SSL), whatever the schedule says. */
    async renew(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const cert = await findCertificate(actor, id, tx);
        checkPermission(actor, "ssl:manage", cert.tenantId);
        const out = await requestCertificate(tx, enqueue, { websiteId: cert.websiteId });
        await audit(tx, { action: "SSL_ISSUE_REQUESTED", targetType: "tls_certificate", targetId: id, tenantId: cert.tenantId, actorUserId: actor.userId, requestId, data: { renew: true, jobId: out.jobId } });
        return out;
      });
    },

    /**
     * The renewal run: enqueues RENEW_SSL for every issued certificate whose `renew_after` has
     * passed (and ISSUE_SSL again for a failed first order, after its backoff, up to 10 tries), at most `limit` per run, under a transaction-level advisory lock so one replica
     * does it. Returns how many were enqueued.
     */
    async scheduleRenewals(limit = 100): Promise<number> {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const [lock] = await tx.$queryRaw<Array<{ ok: boolean }>>`SELECT pg_try_advisory_xact_lock(7245003) AS ok`;
        if (!lock?.ok) return 0;
        const due = await tx.$queryRaw<Array<{ id: string; website_id: string }>>`
          SELECT c.id, c.website_id FROM tls_certificates c JOIN websites w ON w.id = c.website_id AND w.deleted_at IS NULL
          WHERE (c.status = 'issued' OR (c.status = 'error' AND c.failures < 10)) AND c.renew_after <= now() ORDER BY c.renew_after LIMIT ${limit} FOR UPDATE OF c SKIP LOCKED`;
        for (const cert of due) await requestCertificate(tx, enqueue, { websiteId: cert.website_id });
        return due.length;
      });
    },
  };
}

export type TlsService = ReturnType<typeof createTlsService>;
