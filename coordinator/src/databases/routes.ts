import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { DatabaseInput, DatabaseListQuery, DatabaseUserInput, type DatabaseService } from "./service";

const IdParams = z.object({ id: z.uuid() });
const UserParams = z.object({ id: z.uuid(), userId: z.uuid() });

/**
 * The databases API, top to bottom (admin and tenant users alike; RBAC and tenant scope in the
 * service). Changes answer 202 `{ data: { <record>, jobId } }`; a user's password appears only
 * in the 202 of the call that generated it.
 */
export function registerDatabaseRoutes(root: FastifyInstance, s: DatabaseService): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tags = ["databases"];
  const base = "/api/admin/hosting/databases";

  app.post(base, { schema: { body: DatabaseInput, tags } }, async (req, reply) => reply.status(202).send({ data: await s.create(actorOf(req), req.body, req.id) }));
  app.get(base, { schema: { querystring: DatabaseListQuery, tags } }, async (req) => s.list(actorOf(req), req.query));
  app.get(`${base}/:id`, { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.get(actorOf(req), req.params.id) }));
  app.delete(`${base}/:id`, { schema: { params: IdParams, tags } }, async (req, reply) => reply.status(202).send({ data: await s.remove(actorOf(req), req.params.id, req.id) }));

  app.post(`${base}/:id/users`, { schema: { params: IdParams, body: DatabaseUserInput, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.createUser(actorOf(req), req.params.id, req.body, req.id) }));
  app.post(`${base}/:id/users/:userId/rotate-password`, { schema: { params: UserParams, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.rotatePassword(actorOf(req), req.params.id, req.params.userId, req.id) }));
  app.delete(`${base}/:id/users/:userId`, { schema: { params: UserParams, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.removeUser(actorOf(req), req.params.id, req.params.userId, req.id) }));
}
