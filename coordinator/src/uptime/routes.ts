import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { UptimeCheckInput, UptimeListQuery, UptimeResultsQuery, type UptimeService } from "./service";

const IdParams = z.object({ id: z.uuid() });

/** Uptime checks of websites: create per website, list, one with its 24 h summary, its probe history, delete. */
export function registerUptimeRoutes(root: FastifyInstance, s: UptimeService): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tags = ["uptime"];
  app.post("/api/admin/websites/:id/uptime-checks", { schema: { params: IdParams, body: UptimeCheckInput, tags } }, async (req, reply) =>
    reply.status(201).send({ data: await s.create(actorOf(req), req.params.id, req.body, req.id) }));
  app.get("/api/admin/uptime-checks", { schema: { querystring: UptimeListQuery, tags } }, async (req) => s.list(actorOf(req), req.query));
  app.get("/api/admin/uptime-checks/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.get(actorOf(req), req.params.id) }));
  app.get("/api/admin/uptime-checks/:id/results", { schema: { params: IdParams, querystring: UptimeResultsQuery, tags } }, async (req) => s.results(actorOf(req), req.params.id, req.query));
  app.delete("/api/admin/uptime-checks/:id", { schema: { params: IdParams, tags } }, async (req, reply) => {
    await s.remove(actorOf(req), req.params.id, req.id);
    return reply.status(204).send();
  });
}
