import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { RestoreTestListQuery, RestoreTestRunInput } from "./restore-tests";
import { BackupListQuery, BackupPolicyInput, BackupRunInput, type BackupService } from "./service";

const IdParams = z.object({ id: z.uuid() });

/** Backups: a CloudPod's policy and run-now, the list of backups, restore (admin and tenant scopes), and restore tests (platform). */
export function registerBackupRoutes(root: FastifyInstance, s: BackupService): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tags = ["backups"];
  app.get("/api/admin/hosting/cloudpods/:id/backup-policy", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.getPolicy(actorOf(req), req.params.id) }));
  app.put("/api/admin/hosting/cloudpods/:id/backup-policy", { schema: { params: IdParams, body: BackupPolicyInput, tags } }, async (req) =>
    ({ data: await s.setPolicy(actorOf(req), req.params.id, req.body, req.id) }));
  app.post("/api/admin/hosting/cloudpods/:id/backups", { schema: { params: IdParams, body: BackupRunInput.optional(), tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.runNow(actorOf(req), req.params.id, req.body ?? {}, req.id) }));
  app.get("/api/admin/backups", { schema: { querystring: BackupListQuery, tags } }, async (req) => s.list(actorOf(req), req.query));
  app.get("/api/admin/backups/restore-tests", { schema: { querystring: RestoreTestListQuery, tags } }, async (req) => s.listRestoreTests(actorOf(req), req.query));
  app.post("/api/admin/backups/restore-tests", { schema: { body: RestoreTestRunInput.optional(), tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.runRestoreTest(actorOf(req), req.body ?? {}, req.id) }));
  app.get("/api/admin/backups/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.get(actorOf(req), req.params.id) }));
  app.post("/api/admin/backups/:id/restore", { schema: { params: IdParams, tags } }, async (req, reply) =>
    reply.status(202).send({ data: await s.restore(actorOf(req), req.params.id, req.id) }));
}
