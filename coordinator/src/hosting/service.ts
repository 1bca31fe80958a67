import { randomUUID } from "node:crypto";
import { Domain, Runtime } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, tenantWhere, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import { withJobs, type Enqueue } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { requireActiveTenant } from "../tenants/service";
import { placeByRole, placeCloudPod } from "./placement";
import { siteSpec } from "./site-spec";
import { requestCertificate } from "../tls/service";
import type { DnsService } from "../dns/service";

export const CloudPodInput = z.strictObject({
  tenantId: z.uuid(),
  name: z.string().trim().min(1).max(100),
  serverId: z.uuid().optional(),
});

/** Body of `POST /api/admin/websites`: a new CloudPod is made for it unless `cloudPodId` names one. */
export const WebsiteInput = z.strictObject({
  tenantId: z.uuid(),
  domain: Domain,
  cloudPodId: z.uuid().optional(),
  serverId: z.uuid().optional(),
  runtime: Runtime.default("static"),
});

/**
 * Body of `POST /api/admin/hosting/cloudpods`: one order of a CloudPod with everything a hosting
 * customer expects on day one — a site on `domain` (PHP by default), its DNS zone, mail for the
 * domain and a TLS certificate. Each part can be switched off.
 */
export const ProvisionInput = z.strictObject({
  tenantId: z.uuid(),
  domain: Domain,
  name: z.string().trim().min(1).max(100).optional(),
  runtime: Runtime.default("php"),
  dns: z.boolean().default(true),
  mail: z.boolean().default(true),
  tls: z.boolean().default(true),
  serverId: z.uuid().optional(),
  /** Place the pod, and its mail domain, on nodes of this region (servers.region). */
  region: z.string().regex(/^[a-z0-9-]{1,50}$/, "must be 1-50 characters: a-z, 0-9 or -").optional(),
});

export const HostingListQuery = PageQuery.extend({
  tenantId: z.uuid().optional(),
  status: z.string().max(20).optional(),
  q: z.string().max(253).optional(),
});

function systemUserFor(cloudPodId: string): string {
  return `cp${cloudPodId.replaceAll("-", "").slice(0, 12)}`;
}


/**
 * CloudPods (a tenant's hosting container on one web node: system user, directories) and
 * websites (a domain served from a CloudPod). Each change writes its records, audit event and
 * jobs in one transaction; the jobs reach the node's agent on commit.
 */
export function createHostingService(deps: { db: Database; wakeups: Wakeups; dns: DnsService }) {
  const { db } = deps;
  const { prisma } = db;

  async function newCloudPod(tx: Tx, enqueue: Enqueue, actor: Actor, input: { tenantId: string; name: string; serverId?: string | undefined; region?: string | undefined; php?: boolean }, requestId: string) {
    const serverId = await placeCloudPod(tx, input.serverId, input.region);
    const id = randomUUID();
    const pod = await tx.cloudPod.create({ data: { id, tenantId: input.tenantId, serverId, name: input.name, systemUser: systemUserFor(id) } });
    const job = await enqueue({
      type: "CREATE_CLOUDPOD", payload: { cloudPodId: id, systemUser: pod.systemUser, php: input.php ?? false },
      tenantId: input.tenantId, targetServerId: serverId, idempotencyKey: `cloudpod:create:${id}`, cloudPodId: id,
    });
    await audit(tx, { action: "CLOUDPOD_CREATED", targetType: "cloudpod", targetId: id, tenantId: input.tenantId, actorUserId: actor.userId, requestId, data: { serverId, jobId: job.id } });
    return { pod, jobId: job.id };
  }

  async function findCloudPod(actor: Actor, id: string, tx: Tx | Database["prisma"] = prisma) {
    const pod = await tx.cloudPod.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, "cloudpods:read") } });
    if (!pod) throw new AppError("not_found", "cloud pod not found");
    return pod;
  }

  async function findWebsite(actor: Actor, id: string, tx: Tx | Database["prisma"] = prisma) {
    const site = await tx.website.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, "websites:read") }, include: { cloudPod: true } });
    if (!site) throw new AppError("not_found", "website not found");
    return site;
  }

  /** `provisionCloudPod` inside the caller's transaction (billing fulfils a paid order with it, together with the tenant and subscription). */
  async function provisionCloudPodIn(tx: Tx, enqueue: Enqueue, actor: Actor, input: z.output<typeof ProvisionInput>, requestId: string) {
    await requireActiveTenant(tx, actor, input.tenantId, "cloudpods:create");
    const hosted = await tx.website.findFirst({ where: { domain: input.domain, deletedAt: null }, select: { id: true } });
    const owned = await tx.domain.findFirst({ where: { name: input.domain, deletedAt: null }, select: { id: true } });
    if (hosted || owned) throw new AppError("conflict", `domain: ${input.domain} is already taken`, [{ field: "domain", message: "already hosted or owned by a tenant" }]);
    const created = await newCloudPod(tx, enqueue, actor, { tenantId: input.tenantId, name: input.name ?? input.domain, serverId: input.serverId, region: input.region, php: input.runtime === "php" }, requestId);
    const pod = created.pod;
    const websiteId = randomUUID();
    await tx.website.create({ data: { id: websiteId, tenantId: input.tenantId, cloudPodId: pod.id, domain: input.domain, runtime: input.runtime } });
    const site = await enqueue({
      type: "CREATE_WEBSITE", payload: await siteSpec(tx, websiteId, { tls: false }),
      tenantId: input.tenantId, targetServerId: pod.serverId, idempotencyKey: `website:create:${websiteId}`, dependsOn: [created.jobId], cloudPodId: pod.id,
    });
    const mailServerId = input.mail ? await placeByRole(tx, "mail", { region: input.region }) : undefined;
    const domain = await deps.dns.addDomain(tx, enqueue, actor, { tenantId: input.tenantId, name: input.domain, cloudPodId: pod.id, dns: input.dns }, requestId, { dependsOn: [site.id], workflowPodId: pod.id, ...(mailServerId ? { mailServerId } : {}) });
    const live = [site.id, ...(domain.jobId ? [domain.jobId] : [])];
    let mailJobId: string | null = null;
    if (mailServerId) {
      const serverId = mailServerId;
      const mailDomainId = randomUUID();
      const now = new Date();
      const dkimSelector = `mpanel${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
      await tx.mailDomain.create({ data: { id: mailDomainId, tenantId: input.tenantId, domainId: domain.domain.id, serverId, name: input.domain, dkimSelector } });
      mailJobId = (await enqueue({
        type: "PROVISION_EMAIL_DOMAIN", payload: { mailDomainId, domain: input.domain, dkimSelector },
        tenantId: input.tenantId, targetServerId: serverId, dependsOn: [domain.jobId ?? site.id], cloudPodId: pod.id,
      })).id;
      await audit(tx, { action: "MAIL_DOMAIN_CREATED", targetType: "mail_domain", targetId: mailDomainId, tenantId: input.tenantId, actorUserId: actor.userId, requestId, data: { domain: input.domain, jobId: mailJobId } });
    }
    const certificate = input.tls ? await requestCertificate(tx, enqueue, { websiteId, dependsOn: live, cloudPodId: pod.id }) : null;
    if (certificate) await audit(tx, { action: "SSL_ISSUE_REQUESTED", targetType: "tls_certificate", targetId: certificate.certificateId, tenantId: input.tenantId, actorUserId: actor.userId, requestId, data: { websiteId, jobId: certificate.jobId } });
    await audit(tx, { action: "WEBSITE_CREATED", targetType: "website", targetId: websiteId, tenantId: input.tenantId, actorUserId: actor.userId, requestId, data: { domain: input.domain, cloudPodId: pod.id, jobId: site.id } });
    return {
      cloudPod: pod, websiteId, domainId: domain.domain.id, zoneId: domain.zoneId, certificateId: certificate?.certificateId ?? null,
      jobs: { cloudPod: created.jobId, website: site.id, zone: domain.jobId, mail: mailJobId, certificate: certificate?.jobId ?? null },
    };
  }

  /** `setSuspended` inside the caller's transaction (billing's dunning suspends and restores with it). */
  async function setSuspendedIn(tx: Tx, enqueue: Enqueue, actor: Actor, id: string, suspended: boolean, requestId: string) {
    const pod = await findCloudPod(actor, id, tx);
    checkPermission(actor, "cloudpods:suspend", pod.tenantId);
    if (pod.status === "deleting") throw new AppError("conflict", "the cloud pod is being deleted");
    await tx.cloudPod.update({ where: { id }, data: { status: suspended ? "suspended" : "running" } });
    const sites = await tx.website.findMany({ where: { cloudPodId: id, deletedAt: null }, select: { id: true } });
    const specs = await Promise.all(sites.map((site) => siteSpec(tx, site.id, { suspended })));
    const job = await enqueue({
      type: "SUSPEND_CLOUDPOD", payload: { cloudPodId: id, systemUser: pod.systemUser, suspended, sites: specs },
      tenantId: pod.tenantId, targetServerId: pod.serverId,
    });
    await audit(tx, { action: suspended ? "CLOUDPOD_SUSPENDED" : "CLOUDPOD_UNSUSPENDED", targetType: "cloudpod", targetId: id, tenantId: pod.tenantId, actorUserId: actor.userId, requestId, data: { jobId: job.id } });
    return { cloudPodId: id, status: suspended ? "suspended" : "running", jobId: job.id };
  }

  /** `deleteCloudPod` inside the caller's transaction (billing terminates unpaid or canceled subscriptions with it). */
  async function deleteCloudPodIn(tx: Tx, enqueue: Enqueue, actor: Actor, id: string, requestId: string) {
    const pod = await findCloudPod(actor, id, tx);
    checkPermission(actor, "cloudpods:delete", pod.tenantId);
    const sites = await tx.website.findMany({ where: { cloudPodId: id, deletedAt: null } });
    await tx.cloudPod.update({ where: { id }, data: { status: "deleting" } });
    await tx.website.updateMany({ where: { cloudPodId: id, deletedAt: null }, data: { status: "deleting" } });
    const job = await enqueue({
      type: "DELETE_CLOUDPOD", payload: { cloudPodId: id, systemUser: pod.systemUser, domains: sites.map((s) => s.domain) },
      tenantId: pod.tenantId, targetServerId: pod.serverId, idempotencyKey: `cloudpod:delete:${id}`,
    });
    return { cloudPodId: id, jobId: job.id };
  }

  return {
    async createCloudPod(actor: Actor, input: z.output<typeof CloudPodInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        await requireActiveTenant(tx, actor, input.tenantId, "cloudpods:create");
        return newCloudPod(tx, enqueue, actor, input, requestId);
      });
    },

    async listCloudPods(actor: Actor, q: z.output<typeof HostingListQuery>) {
      const where = { deletedAt: null, ...tenantWhere(actor, "cloudpods:read"), ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}), ...(q.status ? { status: q.status } : {}) };
      const [rows, total] = await Promise.all([prisma.cloudPod.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.cloudPod.count({ where })]);
      return paged(rows, total, q);
    },

    getCloudPod: (actor: Actor, id: string) => findCloudPod(actor, id),

    provisionCloudPodIn,
    setSuspendedIn,
    deleteCloudPodIn,

    /** Deletes a CloudPod with all its websites (one DELETE_CLOUDPOD job). */
    async deleteCloudPod(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, (tx, enqueue) => deleteCloudPodIn(tx, enqueue, actor, id, requestId));
    },

    async createWebsite(actor: Actor, input: z.output<typeof WebsiteInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        await requireActiveTenant(tx, actor, input.tenantId, "websites:create");
        const taken = await tx.website.findFirst({ where: { domain: input.domain, deletedAt: null }, select: { id: true } });
        if (taken) throw new AppError("conflict", `domain ${input.domain} is already hosted`, [{ field: "domain", message: "already hosted" }]);
        let pod;
        let dependsOn: string[] = [];
        if (input.cloudPodId) {
          pod = await tx.cloudPod.findFirst({ where: { id: input.cloudPodId, tenantId: input.tenantId, deletedAt: null } });
          if (!pod) throw new AppError("validation", "cloudPodId: unknown cloud pod", [{ field: "cloudPodId", message: "unknown cloud pod of this tenant" }]);
          const create = await tx.job.findUnique({ where: { idempotencyKey: `cloudpod:create:${pod.id}` }, select: { id: true } });
          if (create) dependsOn = [create.id];
        } else {
          checkPermission(actor, "cloudpods:create", input.tenantId);
          const created = await newCloudPod(tx, enqueue, actor, { tenantId: input.tenantId, name: input.domain, serverId: input.serverId, php: input.runtime === "php" }, requestId);
          pod = created.pod;
          dependsOn = [created.jobId];
        }
        const id = randomUUID();
        const website = await tx.website.create({ data: { id, tenantId: input.tenantId, cloudPodId: pod.id, domain: input.domain, runtime: input.runtime } });
        const job = await enqueue({
          type: "CREATE_WEBSITE", payload: await siteSpec(tx, id),
          tenantId: input.tenantId, targetServerId: pod.serverId, idempotencyKey: `website:create:${id}`, dependsOn, cloudPodId: pod.id,
        });
        await audit(tx, { action: "WEBSITE_CREATED", targetType: "website", targetId: id, tenantId: input.tenantId, actorUserId: actor.userId, requestId, data: { domain: input.domain, cloudPodId: pod.id, jobId: job.id } });
        return { website, jobId: job.id };
      });
    },

    /**
     * Orders a CloudPod with its site, DNS zone, mail domain and certificate as one workflow
     * (DESIGN section 3): CREATE_CLOUDPOD (system user, directories, PHP-FPM pool) -> CREATE_WEBSITE
     * (server block) on the web node -> DNS_ZONE_SYNC on the DNS node -> PROVISION_EMAIL_DOMAIN on
     * the mail node; ISSUE_SSL on the web node once the site and zone are live. All records, jobs
     * and audit events commit together; the pod's status then follows the jobs
     * (`provisioning` -> `running` | `error`). 409 naming `domain` when any tenant has it.
     */
    async provisionCloudPod(actor: Actor, input: z.output<typeof ProvisionInput>, requestId: string) {
      return withJobs(db, deps.wakeups, (tx, enqueue) => provisionCloudPodIn(tx, enqueue, actor, input, requestId));
    },

    /**
     * Requeues the failed steps of a CloudPod's workflow (and the steps that failed because of
     * them), attempts reset; steps that succeeded are not run again. Returns how many were requeued.
     */
    async retryCloudPod(actor: Actor, id: string, requestId: string) {
      const targets = await prisma.$transaction(async (tx) => {
        const pod = await findCloudPod(actor, id, tx);
        checkPermission(actor, "cloudpods:create", pod.tenantId);
        const rows = await tx.$queryRaw<Array<{ id: string; target_server_id: string | null; target_role: string | null }>>`
          UPDATE jobs SET status = 'queued', attempts = 0, error_code = NULL, error_message = NULL, finished_at = NULL, run_after = now()
          WHERE cloud_pod_id = ${id}::uuid AND status = 'failed' RETURNING id, target_server_id, target_role`;
        if (rows.length > 0) await tx.cloudPod.update({ where: { id }, data: { status: "provisioning" } });
        await audit(tx, { action: "CLOUDPOD_CREATED", targetType: "cloudpod", targetId: id, tenantId: pod.tenantId, actorUserId: actor.userId, requestId, data: { retried: rows.map((r) => r.id) } });
        return rows;
      });
      deps.wakeups.announce(targets.map((t) => ({ serverId: t.target_server_id, role: t.target_role })));
      return { cloudPodId: id, requeued: targets.length };
    },

    /** Suspends (every site answers 503 "suspended") or unsuspends a CloudPod: SUSPEND_CLOUDPOD with each site's full spec. */
    async setSuspended(actor: Actor, id: string, suspended: boolean, requestId: string) {
      return withJobs(db, deps.wakeups, (tx, enqueue) => setSuspendedIn(tx, enqueue, actor, id, suspended, requestId));
    },

    async listWebsites(actor: Actor, q: z.output<typeof HostingListQuery>) {
      const where = {
        deletedAt: null, ...tenantWhere(actor, "websites:read"),
        ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.q ? { domain: { contains: q.q.toLowerCase() } } : {}),
      };
      const [rows, total] = await Promise.all([prisma.website.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.website.count({ where })]);
      return paged(rows, total, q);
    },

    getWebsite: (actor: Actor, id: string) => findWebsite(actor, id),

    /** Removes the website's server block and files (DELETE_WEBSITE job); idempotent. */
    async deleteWebsite(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const site = await findWebsite(actor, id, tx);
        checkPermission(actor, "websites:delete", site.tenantId);
        await tx.website.update({ where: { id }, data: { status: "deleting" } });
        const job = await enqueue({
          type: "DELETE_WEBSITE", payload: { websiteId: id, systemUser: site.cloudPod.systemUser, domain: site.domain },
          tenantId: site.tenantId, targetServerId: site.cloudPod.serverId, idempotencyKey: `website:delete:${id}`,
        });
        await audit(tx, { action: "WEBSITE_DELETED", targetType: "website", targetId: id, tenantId: site.tenantId, actorUserId: actor.userId, requestId, data: { domain: site.domain, jobId: job.id, phase: "requested" } });
        return { websiteId: id, jobId: job.id };
      });
    },
  };
}

export type HostingService = ReturnType<typeof createHostingService>;
