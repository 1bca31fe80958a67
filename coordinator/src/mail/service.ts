import { randomUUID } from "node:crypto";
import { Domain, MailAddress, MailLocalPart } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, tenantWhere, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import type { Mailbox } from "../generated/prisma/client";
import { AppError } from "../errors";
import { placeByRole } from "../hosting/placement";
import { HostingListQuery } from "../hosting/service";
import { pageArgs, paged } from "../http/pagination";
import { withJobs } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { requireActiveTenant } from "../tenants/service";
import { conflictOnDuplicate, listFilters, pendingJobIds } from "./job-chain";
import { hashMailPassword } from "./password";

/** A local part as typed (case-insensitive, RFC 5321 section 2.4): lowercased, then `MailLocalPart`. */
const LocalPart = z.string().max(64).toLowerCase().pipe(MailLocalPart);
const MailPassword = z.string().min(10).max(1024);
/** Mailbox quota in bytes; 0 means unlimited. */
const QuotaBytes = z.number().int().min(0).max(2 ** 50);

/** Body of `POST /api/admin/email/domains`: `domain` must be a live domain of `tenantId`. */
export const MailDomainInput = z.strictObject({ tenantId: z.uuid(), domain: Domain, serverId: z.uuid().optional() });
/** Body of `POST /api/admin/email/mailboxes`; the password is hashed at once and never stored. */
export const MailboxInput = z.strictObject({ mailDomainId: z.uuid(), localPart: LocalPart, password: MailPassword, quotaBytes: QuotaBytes.default(0) });
/** Body of `PATCH /api/admin/email/mailboxes/:id`: at least one field. */
export const MailboxPatch = z.strictObject({ password: MailPassword.optional(), quotaBytes: QuotaBytes.optional(), suspended: z.boolean().optional() })
  .refine((p) => p.password !== undefined || p.quotaBytes !== undefined || p.suspended !== undefined, "give at least one of password, quotaBytes, suspended");
/** Body of `POST /api/admin/email/aliases`. */
export const MailAliasInput = z.strictObject({ mailDomainId: z.uuid(), localPart: LocalPart, destinations: z.array(MailAddress).min(1).max(50) });
/** Query of the email list routes: page, `tenantId`, `status`, `q` (substring of the name/address), `mailDomainId`. */
export const MailListQuery = HostingListQuery.extend({ mailDomainId: z.uuid().optional() });
type ListQuery = z.output<typeof MailListQuery>;

/** A mailbox as the API shows it: no password hash, quota as a number. */
export type MailboxView = Omit<Mailbox, "passwordHash" | "quotaBytes"> & { quotaBytes: number };

function view(mailbox: Mailbox): MailboxView {
  const { passwordHash: _hash, quotaBytes, ...rest } = mailbox;
  return { ...rest, quotaBytes: Number(quotaBytes) };
}

/** The DKIM selector of a key made now: `mpanel<yyyymm>` (UTC), so a later rotation gets a new name. */
function dkimSelector(now = new Date()): string {
  return `mpanel${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
}

const addressTaken = { field: "localPart", message: "address already in use by a mailbox or alias" };

/**
 * Email of tenants: mail domains (on a mail node, with a DKIM key), mailboxes (argon2id hash,
 * quota, suspension) and aliases. Every change writes its record, audit event and job in one
 * transaction; the job's hook records the node's outcome. Another tenant's records are not
 * found (404). A mail domain is deleted only once its mailboxes and aliases are gone (409 before).
 */
export function createMailService(deps: { db: Database; wakeups: Wakeups }) {
  const { db } = deps;
  const { prisma } = db;
  type Client = Tx | Database["prisma"];

  async function findDomain(actor: Actor, id: string, client: Client = prisma, field?: string) {
    const md = await client.mailDomain.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, "email:read") } });
    if (!md) throw new AppError("not_found", "mail domain not found", field ? [{ field, message: "unknown mail domain" }] : undefined);
    return md;
  }

  /** The mail domain a new mailbox or alias goes into: visible, writable, not failed or being deleted. */
  async function parentDomain(tx: Tx, actor: Actor, id: string) {
    const md = await findDomain(actor, id, tx, "mailDomainId");
    checkPermission(actor, "email:write", md.tenantId);
    if (md.status === "deleting" || md.status === "failed") throw new AppError("conflict", `mail domain is ${md.status}`, [{ field: "mailDomainId", message: `mail domain is ${md.status}` }]);
    const tenant = await tx.tenant.findUniqueOrThrow({ where: { id: md.tenantId }, select: { status: true } });
    if (tenant.status !== "active") throw new AppError("conflict", "tenant is suspended", [{ field: "mailDomainId", message: "the tenant is suspended" }]);
    return md;
  }

  async function assertAddressFree(tx: Tx, address: string): Promise<void> {
    const [mailbox, alias] = await Promise.all([
      tx.mailbox.findFirst({ where: { address, deletedAt: null }, select: { id: true } }),
      tx.mailAlias.findFirst({ where: { address, deletedAt: null }, select: { id: true } }),
    ]);
    if (mailbox || alias) throw new AppError("conflict", `${address} is already in use`, [addressTaken]);
  }

  async function findMailbox(actor: Actor, id: string, client: Client = prisma) {
    const mailbox = await client.mailbox.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, "email:read") }, include: { mailDomain: true } });
    if (!mailbox) throw new AppError("not_found", "mailbox not found");
    return mailbox;
  }

  async function findAlias(actor: Actor, id: string, client: Client = prisma) {
    const alias = await client.mailAlias.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, "email:read") }, include: { mailDomain: true } });
    if (!alias) throw new AppError("not_found", "alias not found");
    return alias;
  }

  function childWhere(actor: Actor, q: ListQuery) {
    return {
      deletedAt: null, ...tenantWhere(actor, "email:read"), ...listFilters(q),
      ...(q.mailDomainId ? { mailDomainId: q.mailDomainId } : {}),
      ...(q.q ? { address: { contains: q.q.toLowerCase() } } : {}),
    };
  }

  return {
    /** Creates (or, after a deletion, re-creates) the mail domain of a tenant's domain and enqueues PROVISION_EMAIL_DOMAIN on the placed mail node. */
    async createDomain(actor: Actor, input: z.output<typeof MailDomainInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const tenant = await requireActiveTenant(tx, actor, input.tenantId, "email:write");
        const domain = await tx.domain.findFirst({ where: { name: input.domain, deletedAt: null } });
        if (!domain || domain.tenantId !== tenant.id) throw new AppError("not_found", `domain ${input.domain} is not a domain of this tenant`, [{ field: "domain", message: "not a domain of this tenant" }]);
        const previous = await tx.mailDomain.findUnique({ where: { domainId: domain.id } });
        const taken = { field: "domain", message: "already has a mail domain" };
        if (previous && !previous.deletedAt) throw new AppError("conflict", `${domain.name} already has a mail domain`, [taken]);
        const serverId = await placeByRole(tx, "mail", { serverId: input.serverId });
        const fields = { tenantId: tenant.id, serverId, name: domain.name, dkimSelector: dkimSelector(), dkimPublicKey: null, status: "provisioning", createdAt: new Date(), deletedAt: null };
        // domain_id is unique over all rows, so a deleted mail domain of this domain is revived.
        const mailDomain = previous
          ? await tx.mailDomain.update({ where: { id: previous.id }, data: fields })
          : await conflictOnDuplicate(taken, () => tx.mailDomain.create({ data: { id: randomUUID(), domainId: domain.id, ...fields } }));
        const job = await enqueue({
          type: "PROVISION_EMAIL_DOMAIN", payload: { mailDomainId: mailDomain.id, domain: mailDomain.name, dkimSelector: mailDomain.dkimSelector },
          tenantId: tenant.id, targetServerId: serverId,
        });
        await audit(tx, { action: "MAIL_DOMAIN_CREATED", targetType: "mail_domain", targetId: mailDomain.id, tenantId: tenant.id, actorUserId: actor.userId, requestId, data: { domain: mailDomain.name, serverId, jobId: job.id } });
        return { mailDomain, jobId: job.id };
      });
    },

    async listDomains(actor: Actor, q: ListQuery) {
      const where = { deletedAt: null, ...tenantWhere(actor, "email:read"), ...listFilters(q), ...(q.q ? { name: { contains: q.q.toLowerCase() } } : {}) };
      const [rows, total] = await Promise.all([prisma.mailDomain.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.mailDomain.count({ where })]);
      return paged(rows, total, q);
    },

    /** One mail domain with the counts of its live mailboxes and aliases. */
    async getDomain(actor: Actor, id: string) {
      const md = await findDomain(actor, id);
      const [mailboxes, aliases] = await Promise.all([
        prisma.mailbox.count({ where: { mailDomainId: id, deletedAt: null } }),
        prisma.mailAlias.count({ where: { mailDomainId: id, deletedAt: null } }),
      ]);
      return { ...md, counts: { mailboxes, aliases } };
    },

    /** Enqueues DELETE_EMAIL_DOMAIN; 409 while the domain still has mailboxes or aliases (delete those first). */
    async deleteDomain(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const md = await findDomain(actor, id, tx);
        checkPermission(actor, "email:delete", md.tenantId);
        const [mailboxes, aliases] = await Promise.all([
          tx.mailbox.count({ where: { mailDomainId: id, deletedAt: null } }),
          tx.mailAlias.count({ where: { mailDomainId: id, deletedAt: null } }),
        ]);
        if (mailboxes + aliases > 0) throw new AppError("conflict", `mail domain still has ${mailboxes} mailboxes and ${aliases} aliases; delete them first`);
        const [running] = md.status === "deleting" ? await pendingJobIds(tx, md.serverId, "mailDomainId", id, ["DELETE_EMAIL_DOMAIN"]) : [];
        if (running) return { mailDomainId: id, jobId: running };
        const dependsOn = await pendingJobIds(tx, md.serverId, "mailDomainId", id);
        await tx.mailDomain.update({ where: { id }, data: { status: "deleting" } });
        const job = await enqueue({ type: "DELETE_EMAIL_DOMAIN", payload: { mailDomainId: id, domain: md.name }, tenantId: md.tenantId, targetServerId: md.serverId, dependsOn });
        await audit(tx, { action: "MAIL_DOMAIN_DELETED", targetType: "mail_domain", targetId: id, tenantId: md.tenantId, actorUserId: actor.userId, requestId, data: { domain: md.name, jobId: job.id, phase: "requested" } });
        return { mailDomainId: id, jobId: job.id };
      });
    },

    /** Creates a mailbox (argon2id hash only) and enqueues CREATE_MAILBOX after any pending job of its domain. */
    async createMailbox(actor: Actor, input: z.output<typeof MailboxInput>, requestId: string) {
      const passwordHash = await hashMailPassword(input.password);
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const md = await parentDomain(tx, actor, input.mailDomainId);
        const address = `${input.localPart}@${md.name}`;
        await assertAddressFree(tx, address);
        const id = randomUUID();
        const mailbox = await conflictOnDuplicate(addressTaken, () => tx.mailbox.create({
          data: { id, tenantId: md.tenantId, mailDomainId: md.id, localPart: input.localPart, address, passwordHash, quotaBytes: BigInt(input.quotaBytes) },
        }));
        const job = await enqueue({
          type: "CREATE_MAILBOX", payload: { mailboxId: id, domain: md.name, localPart: input.localPart, passwordHash, quotaBytes: input.quotaBytes, suspended: false },
          tenantId: md.tenantId, targetServerId: md.serverId, dependsOn: await pendingJobIds(tx, md.serverId, "mailDomainId", md.id),
        });
        await audit(tx, { action: "MAILBOX_CREATED", targetType: "mailbox", targetId: id, tenantId: md.tenantId, actorUserId: actor.userId, requestId, data: { address, quotaBytes: input.quotaBytes, jobId: job.id } });
        return { mailbox: view(mailbox), jobId: job.id };
      });
    },

    async listMailboxes(actor: Actor, q: ListQuery) {
      const where = childWhere(actor, q);
      const [rows, total] = await Promise.all([prisma.mailbox.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.mailbox.count({ where })]);
      return paged(rows.map(view), total, q);
    },

    getMailbox: async (actor: Actor, id: string) => {
      const { mailDomain: _md, ...mailbox } = await findMailbox(actor, id);
      return view(mailbox);
    },

    /** Changes password, quota and/or suspension and enqueues UPDATE_MAILBOX with the mailbox's full desired state. */
    async updateMailbox(actor: Actor, id: string, patch: z.output<typeof MailboxPatch>, requestId: string) {
      const passwordHash = patch.password === undefined ? undefined : await hashMailPassword(patch.password);
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const current = await findMailbox(actor, id, tx);
        checkPermission(actor, "email:write", current.tenantId);
        if (current.status === "deleting") throw new AppError("conflict", "mailbox is being deleted");
        const dependsOn = await pendingJobIds(tx, current.mailDomain.serverId, "mailboxId", id);
        const mailbox = await tx.mailbox.update({
          where: { id },
          data: {
            ...(passwordHash ? { passwordHash } : {}), ...(patch.quotaBytes === undefined ? {} : { quotaBytes: BigInt(patch.quotaBytes) }),
            ...(patch.suspended === undefined ? {} : { suspended: patch.suspended }), status: "updating", updatedAt: new Date(),
          },
        });
        const job = await enqueue({
          type: "UPDATE_MAILBOX",
          payload: { mailboxId: id, domain: current.mailDomain.name, localPart: mailbox.localPart, passwordHash: mailbox.passwordHash, quotaBytes: Number(mailbox.quotaBytes), suspended: mailbox.suspended },
          tenantId: mailbox.tenantId, targetServerId: current.mailDomain.serverId, dependsOn,
        });
        const changed = (["password", "quotaBytes", "suspended"] as const).filter((key) => patch[key] !== undefined);
        await audit(tx, { action: "MAILBOX_UPDATED", targetType: "mailbox", targetId: id, tenantId: mailbox.tenantId, actorUserId: actor.userId, requestId, data: { address: mailbox.address, changed, quotaBytes: Number(mailbox.quotaBytes), suspended: mailbox.suspended, jobId: job.id } });
        return { mailbox: view(mailbox), jobId: job.id };
      });
    },

    /** Enqueues DELETE_MAILBOX (after the mailbox's pending jobs); repeated calls return the same job. */
    async deleteMailbox(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const mailbox = await findMailbox(actor, id, tx);
        checkPermission(actor, "email:delete", mailbox.tenantId);
        const serverId = mailbox.mailDomain.serverId;
        const [running] = mailbox.status === "deleting" ? await pendingJobIds(tx, serverId, "mailboxId", id, ["DELETE_MAILBOX"]) : [];
        if (running) return { mailboxId: id, jobId: running };
        const dependsOn = await pendingJobIds(tx, serverId, "mailboxId", id);
        await tx.mailbox.update({ where: { id }, data: { status: "deleting" } });
        const job = await enqueue({ type: "DELETE_MAILBOX", payload: { mailboxId: id, domain: mailbox.mailDomain.name, localPart: mailbox.localPart }, tenantId: mailbox.tenantId, targetServerId: serverId, dependsOn });
        await audit(tx, { action: "MAILBOX_DELETED", targetType: "mailbox", targetId: id, tenantId: mailbox.tenantId, actorUserId: actor.userId, requestId, data: { address: mailbox.address, jobId: job.id, phase: "requested" } });
        return { mailboxId: id, jobId: job.id };
      });
    },

    /** Creates an alias forwarding to `destinations` (never to itself) and enqueues CREATE_MAIL_ALIAS. */
    async createAlias(actor: Actor, input: z.output<typeof MailAliasInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const md = await parentDomain(tx, actor, input.mailDomainId);
        const address = `${input.localPart}@${md.name}`;
        const destinations = [...new Set(input.destinations)];
        if (destinations.includes(address)) throw new AppError("validation", "destinations: an alias cannot forward to itself", [{ field: "destinations", message: "must not contain the alias itself" }]);
        await assertAddressFree(tx, address);
        const id = randomUUID();
        const alias = await conflictOnDuplicate(addressTaken, () => tx.mailAlias.create({ data: { id, tenantId: md.tenantId, mailDomainId: md.id, localPart: input.localPart, address, destinations } }));
        const job = await enqueue({
          type: "CREATE_MAIL_ALIAS", payload: { aliasId: id, domain: md.name, localPart: input.localPart, destinations },
          tenantId: md.tenantId, targetServerId: md.serverId, dependsOn: await pendingJobIds(tx, md.serverId, "mailDomainId", md.id),
        });
        await audit(tx, { action: "MAIL_ALIAS_CREATED", targetType: "mail_alias", targetId: id, tenantId: md.tenantId, actorUserId: actor.userId, requestId, data: { address, destinations, jobId: job.id } });
        return { alias, jobId: job.id };
      });
    },

    async listAliases(actor: Actor, q: ListQuery) {
      const where = childWhere(actor, q);
      const [rows, total] = await Promise.all([prisma.mailAlias.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.mailAlias.count({ where })]);
      return paged(rows, total, q);
    },

    getAlias: async (actor: Actor, id: string) => {
      const { mailDomain: _md, ...alias } = await findAlias(actor, id);
      return alias;
    },

    /** Enqueues DELETE_MAIL_ALIAS (after the alias's pending jobs); repeated calls return the same job. */
    async deleteAlias(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const alias = await findAlias(actor, id, tx);
        checkPermission(actor, "email:delete", alias.tenantId);
        const serverId = alias.mailDomain.serverId;
        const [running] = alias.status === "deleting" ? await pendingJobIds(tx, serverId, "aliasId", id, ["DELETE_MAIL_ALIAS"]) : [];
        if (running) return { aliasId: id, jobId: running };
        const dependsOn = await pendingJobIds(tx, serverId, "aliasId", id);
        await tx.mailAlias.update({ where: { id }, data: { status: "deleting" } });
        const job = await enqueue({ type: "DELETE_MAIL_ALIAS", payload: { aliasId: id, domain: alias.mailDomain.name, localPart: alias.localPart }, tenantId: alias.tenantId, targetServerId: serverId, dependsOn });
        await audit(tx, { action: "MAIL_ALIAS_DELETED", targetType: "mail_alias", targetId: id, tenantId: alias.tenantId, actorUserId: actor.userId, requestId, data: { address: alias.address, jobId: job.id, phase: "requested" } });
        return { aliasId: id, jobId: job.id };
      });
    },
  };
}

export type MailService = ReturnType<typeof createMailService>;
