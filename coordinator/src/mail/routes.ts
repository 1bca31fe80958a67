import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { MailAliasInput, MailboxInput, MailboxPatch, MailDomainInput, MailListQuery, type MailService } from "./service";

const IdParams = z.object({ id: z.uuid() });

/**
 * The email API, top to bottom (admin and tenant users alike; RBAC and tenant scope in the
 * service). Changes answer 202 `{ data: { <record>, jobId } }`; lists `{ data, meta }`.
 */
export function registerMailRoutes(root: FastifyInstance, s: MailService): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tags = ["email"];

  app.post("/api/admin/email/domains", { schema: { body: MailDomainInput, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.createDomain(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/email/domains", { schema: { querystring: MailListQuery, tags } }, async (req) => s.listDomains(actorOf(req), req.query));
  app.get("/api/admin/email/domains/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.getDomain(actorOf(req), req.params.id) }));
  app.delete("/api/admin/email/domains/:id", { schema: { params: IdParams, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.deleteDomain(actorOf(req), req.params.id, req.id) }));

  app.post("/api/admin/email/mailboxes", { schema: { body: MailboxInput, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.createMailbox(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/email/mailboxes", { schema: { querystring: MailListQuery, tags } }, async (req) => s.listMailboxes(actorOf(req), req.query));
  app.get("/api/admin/email/mailboxes/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.getMailbox(actorOf(req), req.params.id) }));
  app.patch("/api/admin/email/mailboxes/:id", { schema: { params: IdParams, body: MailboxPatch, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.updateMailbox(actorOf(req), req.params.id, req.body, req.id) }));
  app.delete("/api/admin/email/mailboxes/:id", { schema: { params: IdParams, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.deleteMailbox(actorOf(req), req.params.id, req.id) }));

  app.post("/api/admin/email/aliases", { schema: { body: MailAliasInput, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.createAlias(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/email/aliases", { schema: { querystring: MailListQuery, tags } }, async (req) => s.listAliases(actorOf(req), req.query));
  app.get("/api/admin/email/aliases/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.getAlias(actorOf(req), req.params.id) }));
  app.delete("/api/admin/email/aliases/:id", { schema: { params: IdParams, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.deleteAlias(actorOf(req), req.params.id, req.id) }));
}
