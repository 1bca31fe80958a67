import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { ArchiveBody, ChmodBody, CopyBody, ExtractBody, ListQuery, PathBody, PathQuery, RenameBody, UploadQuery, UploadStatusQuery, WriteTextBody, type FileService } from "./service";

const IdParams = z.object({ id: z.uuid() });

/** `attachment; filename*=UTF-8''<name>` (RFC 6266 with RFC 8187 encoding), safe for any file name. */
function attachment(name: string): string {
  return `attachment; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * The file manager's routes, `/api/admin/cloudpods/:id/files...` (tenant-scoped: another
 * tenant's CloudPod answers 404): list, stat, text read/write, mkdir, rename/move, copy,
 * delete, chmod, free space, resumable upload (`PUT .../files/upload` with an
 * application/octet-stream body, `GET .../files/upload` for the bytes received), download, and
 * archives as jobs (`POST .../files/archive` and `.../files/extract` answer 202 with the job's id).
 * Registered in their own scope so the raw-body parser and its size limit apply to the upload only.
 */
export function registerFileRoutes(root: FastifyInstance, s: FileService): void {
  void root.register(async (scope) => {
    // The upload's body is left unread here: its handler streams `req.raw` to the node chunk by chunk.
    scope.addContentTypeParser("application/octet-stream", (_req, _payload, done) => done(null));
    const app = scope.withTypeProvider<ZodTypeProvider>();
    const base = "/api/admin/cloudpods/:id/files";
    const tags = ["files"];
    app.get(base, { schema: { params: IdParams, querystring: ListQuery, tags } }, async (req) =>
      ({ data: await s.list(actorOf(req), req.params.id, req.query, req.id) }));
    app.get(`${base}/stat`, { schema: { params: IdParams, querystring: PathQuery, tags } }, async (req) =>
      ({ data: await s.stat(actorOf(req), req.params.id, req.query.path, req.id) }));
    app.get(`${base}/content`, { schema: { params: IdParams, querystring: PathQuery, tags } }, async (req) =>
      ({ data: await s.readText(actorOf(req), req.params.id, req.query.path, req.id) }));
    app.put(`${base}/content`, { bodyLimit: 3 * 1024 * 1024, config: { multilineBody: ["content"] }, schema: { params: IdParams, body: WriteTextBody, tags } }, async (req) =>
      ({ data: await s.writeText(actorOf(req), req.params.id, req.body, req.id) }));
    app.post(`${base}/mkdir`, { schema: { params: IdParams, body: PathBody, tags } }, async (req, reply) =>
      reply.status(201).send({ data: await s.mkdir(actorOf(req), req.params.id, req.body.path, req.id) }));
    app.post(`${base}/rename`, { schema: { params: IdParams, body: RenameBody, tags } }, async (req) =>
      ({ data: await s.rename(actorOf(req), req.params.id, req.body, req.id) }));
    app.post(`${base}/copy`, { schema: { params: IdParams, body: CopyBody, tags } }, async (req) =>
      ({ data: await s.copy(actorOf(req), req.params.id, req.body, req.id) }));
    app.post(`${base}/delete`, { schema: { params: IdParams, body: PathBody, tags } }, async (req) =>
      ({ data: await s.remove(actorOf(req), req.params.id, req.body.path, req.id) }));
    app.post(`${base}/chmod`, { schema: { params: IdParams, body: ChmodBody, tags } }, async (req) =>
      ({ data: await s.chmod(actorOf(req), req.params.id, req.body, req.id) }));
    app.post(`${base}/archive`, { schema: { params: IdParams, body: ArchiveBody, tags } }, async (req, reply) =>
      reply.status(202).send({ data: await s.archive(actorOf(req), req.params.id, req.body, req.id) }));
    app.post(`${base}/extract`, { schema: { params: IdParams, body: ExtractBody, tags } }, async (req, reply) =>
      reply.status(202).send({ data: await s.extract(actorOf(req), req.params.id, req.body, req.id) }));
    app.get(`${base}/space`, { schema: { params: IdParams, tags } }, async (req) =>
      ({ data: await s.space(actorOf(req), req.params.id, req.id) }));
    app.get(`${base}/upload`, { schema: { params: IdParams, querystring: UploadStatusQuery, tags } }, async (req) =>
      ({ data: await s.uploadStatus(actorOf(req), req.params.id, req.query, req.id) }));
    app.put(`${base}/upload`, { schema: { params: IdParams, querystring: UploadQuery, tags } }, async (req) =>
      ({ data: await s.upload(actorOf(req), req.params.id, req.query, req.raw, req.id) }));
    app.get(`${base}/download`, { schema: { params: IdParams, querystring: PathQuery, tags } }, async (req, reply) => {
      const file = await s.download(actorOf(req), req.params.id, req.query.path, req.id);
      return reply.header("content-type", "application/octet-stream").header("content-length", file.size)
        .header("content-disposition", attachment(file.name)).header("x-content-type-options", "nosniff").send(file.stream);
    });
  });
}
