import { randomUUID } from "node:crypto";
import { Domain } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, tenantWhere, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import { withJobs, type Enqueue } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { requireTenant } from "../tenants/service";
import { placeCloudPod } from "./placement";

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
});

export const HostingListQuery = PageQuery.extend({
  tenantId: z.uuid().optional(),
  status: z.string().max(20).optional(),
  q: z.string().max(253).optional(),
});

function systemUserFor(cloudPodId: string): string {
  return `cp${cloudPodId.replaceAll("-", "").slice(0, 12)}`;
}

function aliasesFor(domain: string): string[] {
  const www = `www.${domain}`;
  return domain.startsWith("www.") || www.length > 253 ? [] : [www];
}

/**
 * CloudPods (a tenant's hosting container on one web node: system user, directories) and
 * websites (a domain served from a CloudPod). Each change writes its records, audit event and
 * jobs in one transaction; the jobs reach the node's agent on commit.
 */
export function createHostingService(deps: { db: Database; wakeups: Wakeups }) {
  const { db } = deps;
  const { prisma } = db;

  async function newCloudPod(tx: Tx, enqueue: Enqueue, actor: Actor, input: { tenantId: string; name: string; serverId?: string | undefined }, requestId: string) {
    const serverId = await placeCloudPod(tx, input.serverId);
    const id = randomUUID();
    const pod = await tx.cloudPod.create({ data: { id, tenantId: input.tenantId, serverId, name: input.name, systemUser: systemUserFor(id) } });
    const job = await enqueue({
      type: "CREATE_CLOUDPOD", payload: { cloudPodId: id, systemUser: pod.systemUser },
      tenantId: input.tenantId, targetServerId: serverId, idempotencyKey: `cloudpod:create:${id}`,
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

  return {
    async createCloudPod(actor: Actor, input: z.output<typeof CloudPodInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const tenant = await requireTenant(tx, actor, input.tenantId, "cloudpods:create");
        if (tenant.status !== "active") throw new AppError("conflict", "tenant is suspended", [{ field: "tenantId", message: "tenant is suspended" }]);
        return newCloudPod(tx, enqueue, actor, input, requestId);
      });
    },

    async listCloudPods(actor: Actor, q: z.output<typeof HostingListQuery>) {
      const where = { deletedAt: null, ...tenantWhere(actor, "cloudpods:read"), ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}), ...(q.status ? { status: q.status } : {}) };
      const [rows, total] = await Promise.all([prisma.cloudPod.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.cloudPod.count({ where })]);
      return paged(rows, total, q);
    },

    getCloudPod: (actor: Actor, id: string) => findCloudPod(actor, id),

    /** Deletes a CloudPod with all its websites (one DELETE_CLOUDPOD job). */
    async deleteCloudPod(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
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
      });
    },

    async createWebsite(actor: Actor, input: z.output<typeof WebsiteInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const tenant = await requireTenant(tx, actor, input.tenantId, "websites:create");
        if (tenant.status !== "active") throw new AppError("conflict", "tenant is suspended", [{ field: "tenantId", message: "tenant is suspended" }]);
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
          const created = await newCloudPod(tx, enqueue, actor, { tenantId: input.tenantId, name: input.domain, serverId: input.serverId }, requestId);
          pod = created.pod;
          dependsOn = [created.jobId];
        }
        const id = randomUUID();
        const website = await tx.website.create({ data: { id, tenantId: input.tenantId, cloudPodId: pod.id, domain: input.domain } });
        const job = await enqueue({
          type: "CREATE_WEBSITE",
          payload: { websiteId: id, cloudPodId: pod.id, systemUser: pod.systemUser, domain: input.domain, aliases: aliasesFor(input.domain) },
          tenantId: input.tenantId, targetServerId: pod.serverId, idempotencyKey: `website:create:${id}`, dependsOn,
        });
        await audit(tx, { action: "WEBSITE_CREATED", targetType: "website", targetId: id, tenantId: input.tenantId, actorUserId: actor.userId, requestId, data: { domain: input.domain, cloudPodId: pod.id, jobId: job.id } });
        return { website, jobId: job.id };
      });
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
