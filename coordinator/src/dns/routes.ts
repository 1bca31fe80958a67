import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { DomainInput, DomainListQuery, RecordInput, RecordPatch, type DnsService } from "./service";

const IdParams = z.object({ id: z.uuid() });
const RecordParams = z.object({ id: z.uuid(), recordId: z.uuid() });

/** `/api/admin/domains`: domains, their hosted zone and its records (admin and tenant scopes). */
export function registerDnsRoutes(root: FastifyInstance, s: DnsService): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tags = ["domains"];
  app.post("/api/admin/domains", { schema: { body: DomainInput, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.createDomain(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/domains", { schema: { querystring: DomainListQuery, tags } }, async (req) => s.listDomains(actorOf(req), req.query));
  app.get("/api/admin/domains/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.getDomain(actorOf(req), req.params.id) }));
  app.delete("/api/admin/domains/:id", { schema: { params: IdParams, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.deleteDomain(actorOf(req), req.params.id, req.id) }));
  app.get("/api/admin/domains/:id/records", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.listRecords(actorOf(req), req.params.id) }));
  app.post("/api/admin/domains/:id/records", { schema: { params: IdParams, body: RecordInput, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.createRecord(actorOf(req), req.params.id, req.body, req.id) }));
  app.patch("/api/admin/domains/:id/records/:recordId", { schema: { params: RecordParams, body: RecordPatch, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.updateRecord(actorOf(req), req.params.id, req.params.recordId, req.body, req.id) }));
  app.delete("/api/admin/domains/:id/records/:recordId", { schema: { params: RecordParams, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.deleteRecord(actorOf(req), req.params.id, req.params.recordId, req.id) }));
}
