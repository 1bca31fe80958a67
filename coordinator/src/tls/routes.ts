import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { CertificateInput, CertificateListQuery, type TlsService } from "./service";

const IdParams = z.object({ id: z.uuid() });

/** `/api/admin/ssl`: certificates of websites, with expiry and renewal (admin and tenant scopes). */
export function registerTlsRoutes(root: FastifyInstance, s: TlsService): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tags = ["ssl"];
  app.post("/api/admin/ssl/certificates", { schema: { body: CertificateInput, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.create(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/ssl/certificates", { schema: { querystring: CertificateListQuery, tags } }, async (req) => s.list(actorOf(req), req.query));
  app.get("/api/admin/ssl/certificates/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.get(actorOf(req), req.params.id) }));
  app.post("/api/admin/ssl/certificates/:id/renew", { schema: { params: IdParams, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.renew(actorOf(req), req.params.id, req.id) }));
}
