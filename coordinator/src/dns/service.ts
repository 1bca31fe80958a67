import { randomUUID } from "node:crypto";
import { checkRecordContent, Domain, normalizeOwner, RecordType, zoneConflict, zoneTemplate } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, tenantWhere, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { placeByRole } from "../hosting/placement";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import { withJobs, type Enqueue } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { requireTenant } from "../tenants/service";
import { requestCertificate } from "../tls/service";
import { syncZone } from "./zones";

/** Body of `POST /api/admin/domains`. `dns: false` records the domain without hosting its zone. */
export const DomainInput = z.strictObject({
  tenantId: z.uuid(),
  name: Domain,
  cloudPodId: z.uuid().optional(),
  dns: z.boolean().default(true),
  serverId: z.uuid().optional(),
});

export const DomainListQuery = PageQuery.extend({
  tenantId: z.uuid().optional(),
  status: z.string().max(20).optional(),
  q: z.string().max(253).optional(),
});

/** Body of `POST /api/admin/domains/:id/records`. `name` is relative to the zone ("www", "@" or "" for the apex) or absolute with a trailing dot. */
export const RecordInput = z.strictObject({
  name: z.string().max(253).default("@"),
  type: RecordType,
  ttl: z.number().int().min(60).max(604_800).default(3600),
  content: z.string().min(1).max(4096),
});

/** Body of `PATCH /api/admin/domains/:id/records/:recordId`. */
export const RecordPatch = z.strictObject({
  content: z.string().min(1).max(4096).optional(),
  ttl: z.number().int().min(60).max(604_800).optional(),
});

/** Nameservers every hosted zone lists (NS at the apex), from MPANEL_NAMESERVERS; default `ns1.<zone>`. */
function nameserversFor(zone: string, configured: readonly string[]): string[] {
  return configured.length > 0 ? [...configured] : [`ns1.${zone}`];
}

function fieldError(field: string, message: string): AppError {
  return new AppError("validation", `${field}: ${message}`, [{ field, message }]);
}

/** The owner name of a record given relative to `zone` ("@", "", "www") or absolute ("www.example.com."). Throws a validation error on `name`. */
function ownerIn(zone: string, name: string): string {
  const absolute = name === "@" || name === "" ? `${zone}.` : name.endsWith(".") ? name : `${name}.${zone}.`;
  const owner = normalizeOwner(absolute);
  if (owner === null) throw fieldError("name", "must be a DNS name: labels of a-z, 0-9, - or _ (a leading * allowed)");
  if (owner !== `${zone}.` && !owner.endsWith(`.${zone}.`)) throw fieldError("name", `must be inside the zone ${zone}`);
  return owner;
}

/**
 * Domains and their DNS (spec sections 4.4-4.5): a tenant's domains, the zone of each on a DNS
 * node (created from the template: SOA, NS, A/AAAA for apex and www, MX, SPF, DMARC; DKIM once
 * mail is enabled), and record CRUD with per-type validation. Every change writes its records,
 * an audit event and a DNS_ZONE_SYNC carrying the whole zone in one transaction.
 */
export function createDnsService(deps: { db: Database; wakeups: Wakeups; nameservers?: readonly string[] }) {
  const { db } = deps;
  const { prisma } = db;
  const nameservers = deps.nameservers ?? [];

  async function findDomain(actor: Actor, id: string, tx: Tx | Database["prisma"] = prisma) {
    const domain = await tx.domain.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, "domains:read") }, include: { zone: true } });
    if (!domain) throw new AppError("not_found", "domain not found");
    return domain;
  }

  /**
   * Creates a domain (and, with `dns`, its zone from the template) inside `tx`. The name must not
   * be live for any tenant (409 on `name`). Addresses come from the web node of `cloudPodId`
   * (its public IPs; 127.0.0.1 when it has none); `mail.<zone>` gets the address of
   * `mailServerId` when given. With `connect` (the API's "connect a domain"),
   * a website of that pod serving this name also gets a certificate order (ISSUE_SSL, or
   * RENEW_SSL for new names) once the zone is live (spec section 11). Returns the domain, zone id,
   * sync job id and certificate job id.
   */
  async function addDomain(tx: Tx, enqueue: Enqueue, actor: Actor, input: z.output<typeof DomainInput>, requestId: string, options: { dependsOn?: string[]; workflowPodId?: string; connect?: boolean; mailServerId?: string } = {}) {
    const taken = await tx.domain.findFirst({ where: { name: input.name, deletedAt: null }, select: { tenantId: true } });
    if (taken) {
      const message = taken.tenantId === input.tenantId ? "this tenant already has this domain" : "the domain is already owned by another tenant";
      throw new AppError("conflict", `name: ${message}`, [{ field: "name", message }]);
    }
    let webServer: { publicIpv4: string | null; publicIpv6: string | null } | null = null;
    if (input.cloudPodId) {
      const pod = await tx.cloudPod.findFirst({ where: { id: input.cloudPodId, tenantId: input.tenantId, deletedAt: null }, include: { server: true } });
      if (!pod) throw fieldError("cloudPodId", "unknown cloud pod of this tenant");
      webServer = pod.server;
    }
    const domain = await tx.domain.create({ data: { id: randomUUID(), tenantId: input.tenantId, name: input.name, cloudPodId: input.cloudPodId ?? null } });
    let zoneId: string | null = null;
    let jobId: string | null = null;
    if (input.dns) {
      const serverId = await placeByRole(tx, "dns", { serverId: input.serverId });
      zoneId = randomUUID();
      await tx.dnsZone.create({ data: { id: zoneId, tenantId: input.tenantId, domainId: domain.id, serverId, name: input.name, nameservers: nameserversFor(input.name, nameservers) } });
      const mailServer = options.mailServerId ? await tx.server.findUnique({ where: { id: options.mailServerId }, select: { publicIpv4: true, publicIpv6: true } }) : null;
      const template = zoneTemplate({
        zone: input.name, ipv4: webServer?.publicIpv4 ?? "127.0.0.1",
        ...(webServer?.publicIpv6 ? { ipv6: webServer.publicIpv6 } : {}),
        ...(mailServer?.publicIpv4 ? { mailIpv4: mailServer.publicIpv4, ...(mailServer.publicIpv6 ? { mailIpv6: mailServer.publicIpv6 } : {}) } : {}),
      });
      const rows = template.flatMap((rrset) => rrset.records.map((content) => ({ id: randomUUID(), zoneId: zoneId as string, name: rrset.name, type: rrset.type, ttl: rrset.ttl, content, managed: true })));
      await tx.dnsRecord.createMany({ data: rows });
      jobId = await syncZone(tx, enqueue, zoneId, { ...(options.dependsOn ? { dependsOn: options.dependsOn } : {}), ...(options.workflowPodId ? { cloudPodId: options.workflowPodId } : {}) });
    }
    await audit(tx, { action: "DOMAIN_CREATED", targetType: "domain", targetId: domain.id, tenantId: input.tenantId, actorUserId: actor.userId, requestId, data: { name: input.name, zoneId, jobId } });
    let certificateJobId: string | null = null;
    if (options.connect && input.cloudPodId) {
      const site = await tx.website.findFirst({ where: { cloudPodId: input.cloudPodId, domain: input.name, deletedAt: null }, select: { id: true } });
      if (site) {
        const certificate = await requestCertificate(tx, enqueue, { websiteId: site.id, ...(jobId ? { dependsOn: [jobId] } : {}) });
        certificateJobId = certificate.jobId;
        await audit(tx, { action: "SSL_ISSUE_REQUESTED", targetType: "tls_certificate", targetId: certificate.certificateId, tenantId: input.tenantId, actorUserId: actor.userId, requestId, data: { websiteId: site.id, jobId: certificate.jobId, after: jobId } });
      }
    }
    return { domain, zoneId, jobId, certificateJobId };
  }

  /** The zone of a domain the actor may change records of; 404 outside the actor's scope, 409 without a hosted zone. */
  async function zoneForWrite(tx: Tx, actor: Actor, domainId: string) {
    const domain = await findDomain(actor, domainId, tx);
    checkPermission(actor, "dns:write", domain.tenantId);
    if (!domain.zone) throw new AppError("conflict", "this domain's DNS is not hosted here");
    return { domain, zone: domain.zone };
  }

  /** Validates the zone with `candidate` applied (per-type content, CNAME rules, names inside the zone); throws a field-named 400. */
  async function checkZoneWith(tx: Tx, zone: { id: string; name: string }, candidate: { id?: string; name: string; type: string }): Promise<void> {
    const existing = await tx.dnsRecord.findMany({ where: { zoneId: zone.id }, select: { id: true, name: true, type: true } });
    const rrsets = new Map<string, { name: string; type: RecordType }>();
    for (const r of [...existing.filter((e) => e.id !== candidate.id), candidate]) rrsets.set(`${r.name}|${r.type}`, { name: r.name, type: r.type as RecordType });
    const list = [...rrsets.values()];
    const conflict = zoneConflict(`${zone.name}.`, list);
    if (conflict) {
      const offending = list[conflict.index];
      const field = offending && offending.name === candidate.name && offending.type === candidate.type ? "type" : "name";
      throw fieldError(field, conflict.message);
    }
  }

  function checkedContent(type: RecordType, content: string): string {
    const checked = checkRecordContent(type, content);
    if ("error" in checked) throw fieldError("content", `${type} record ${checked.error}`);
    return checked.content;
  }

  return {
    addDomain,

    async createDomain(actor: Actor, input: z.output<typeof DomainInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        await requireTenant(tx, actor, input.tenantId, "domains:create");
        return addDomain(tx, enqueue, actor, input, requestId, { connect: true });
      });
    },

    async listDomains(actor: Actor, q: z.output<typeof DomainListQuery>) {
      const where = {
        deletedAt: null, ...tenantWhere(actor, "domains:read"),
        ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.q ? { name: { contains: q.q.toLowerCase() } } : {}),
      };
      const [rows, total] = await Promise.all([
        prisma.domain.findMany({ where, include: { zone: { select: { id: true, status: true, lastSyncedAt: true } } }, orderBy: { name: "asc" }, ...pageArgs(q) }),
        prisma.domain.count({ where }),
      ]);
      return paged(rows, total, q);
    },

    async getDomain(actor: Actor, id: string) {
      const domain = await findDomain(actor, id);
      const records = domain.zone ? await prisma.dnsRecord.findMany({ where: { zoneId: domain.zone.id }, orderBy: [{ name: "asc" }, { type: "asc" }, { createdAt: "asc" }] }) : [];
      return { ...domain, records };
    },

    /** Deletes a domain and its zone (DELETE_DNS_ZONE). 409 while a website or mail domain still uses it. */
    async deleteDomain(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const domain = await findDomain(actor, id, tx);
        checkPermission(actor, "domains:delete", domain.tenantId);
        const site = await tx.website.findFirst({ where: { domain: domain.name, deletedAt: null }, select: { id: true } });
        const mail = await tx.mailDomain.findFirst({ where: { domainId: id, deletedAt: null }, select: { id: true } });
        if (site || mail) throw new AppError("conflict", `the domain is still used by a ${site ? "website" : "mail domain"}; delete that first`);
        await tx.domain.update({ where: { id }, data: { status: "deleted", deletedAt: new Date() } });
        let jobId: string | null = null;
        if (domain.zone) {
          jobId = (await enqueue({ type: "DELETE_DNS_ZONE", payload: { zoneId: domain.zone.id, zone: domain.name }, tenantId: domain.tenantId, targetServerId: domain.zone.serverId })).id;
          await tx.dnsZone.update({ where: { id: domain.zone.id }, data: { status: "deleting" } });
        }
        await audit(tx, { action: "DOMAIN_DELETED", targetType: "domain", targetId: id, tenantId: domain.tenantId, actorUserId: actor.userId, requestId, data: { name: domain.name, jobId } });
        return { domainId: id, jobId };
      });
    },

    async listRecords(actor: Actor, domainId: string) {
      const domain = await findDomain(actor, domainId);
      if (!domain.zone) return [];
      return prisma.dnsRecord.findMany({ where: { zoneId: domain.zone.id }, orderBy: [{ name: "asc" }, { type: "asc" }, { createdAt: "asc" }] });
    },

    /** Adds a record; its rrset's TTL becomes `ttl`. Field-named 400 on a bad name, content or a type the zone cannot hold. */
    async createRecord(actor: Actor, domainId: string, input: z.output<typeof RecordInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const { domain, zone } = await zoneForWrite(tx, actor, domainId);
        const name = ownerIn(zone.name, input.name);
        const content = checkedContent(input.type, input.content);
        await checkZoneWith(tx, zone, { name, type: input.type });
        const same = await tx.dnsRecord.findMany({ where: { zoneId: zone.id, name, type: input.type } });
        if (same.some((r) => r.content === content)) throw new AppError("conflict", "content: this record already exists", [{ field: "content", message: "this record already exists" }]);
        if (input.type === "CNAME" && same.length > 0) throw fieldError("type", "a CNAME rrset holds exactly one record");
        const record = await tx.dnsRecord.create({ data: { id: randomUUID(), zoneId: zone.id, name, type: input.type, ttl: input.ttl, content } });
        await tx.dnsRecord.updateMany({ where: { zoneId: zone.id, name, type: input.type }, data: { ttl: input.ttl } });
        const jobId = await syncZone(tx, enqueue, zone.id);
        await audit(tx, { action: "DNS_CHANGED", targetType: "dns_record", targetId: record.id, tenantId: domain.tenantId, actorUserId: actor.userId, requestId, data: { change: "create", name, type: input.type, content, jobId } });
        return { record, jobId };
      });
    },

    async updateRecord(actor: Actor, domainId: string, recordId: string, input: z.output<typeof RecordPatch>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const { domain, zone } = await zoneForWrite(tx, actor, domainId);
        const current = await tx.dnsRecord.findFirst({ where: { id: recordId, zoneId: zone.id } });
        if (!current) throw new AppError("not_found", "record not found");
        const content = input.content === undefined ? current.content : checkedContent(current.type as RecordType, input.content);
        const ttl = input.ttl ?? current.ttl;
        const record = await tx.dnsRecord.update({ where: { id: recordId }, data: { content, ttl, updatedAt: new Date() } });
        if (input.ttl !== undefined) await tx.dnsRecord.updateMany({ where: { zoneId: zone.id, name: current.name, type: current.type }, data: { ttl } });
        const jobId = await syncZone(tx, enqueue, zone.id);
        await audit(tx, { action: "DNS_CHANGED", targetType: "dns_record", targetId: recordId, tenantId: domain.tenantId, actorUserId: actor.userId, requestId, data: { change: "update", from: current.content, to: content, ttl, jobId } });
        return { record, jobId };
      });
    },

    async deleteRecord(actor: Actor, domainId: string, recordId: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const { domain, zone } = await zoneForWrite(tx, actor, domainId);
        const current = await tx.dnsRecord.findFirst({ where: { id: recordId, zoneId: zone.id } });
        if (!current) throw new AppError("not_found", "record not found");
        await tx.dnsRecord.delete({ where: { id: recordId } });
        const jobId = await syncZone(tx, enqueue, zone.id);
        await audit(tx, { action: "DNS_CHANGED", targetType: "dns_record", targetId: recordId, tenantId: domain.tenantId, actorUserId: actor.userId, requestId, data: { change: "delete", name: current.name, type: current.type, content: current.content, jobId } });
        return { recordId, jobId };
      });
    },
  };
}

export type DnsService = ReturnType<typeof createDnsService>;
