import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { RolloutInput, RolloutListQuery, type RolloutService } from "./service";

const IdParams = z.object({ id: z.uuid() });

/** Staged agent rollouts under `/api/admin/rollouts`: create, list, get, pause, resume, abort (platform `servers:manage`). */
export function registerRolloutRoutes(root: FastifyInstance, s: RolloutService): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tags = ["servers"];
  app.post("/api/admin/rollouts", { schema: { body: RolloutInput, tags } }, async (req, reply) =>
    reply.status(201).send({ data: await s.create(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/rollouts", { schema: { querystring: RolloutListQuery, tags } }, async (req) => s.list(actorOf(req), req.query));
  app.get("/api/admin/rollouts/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.get(actorOf(req), req.params.id) }));
  app.post("/api/admin/rollouts/:id/pause", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.pause(actorOf(req), req.params.id, req.id) }));
  app.post("/api/admin/rollouts/:id/resume", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.resume(actorOf(req), req.params.id, req.id) }));
  app.post("/api/admin/rollouts/:id/abort", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.abort(actorOf(req), req.params.id, req.id) }));
}
