import { Readable } from "node:stream";
import { FileOpArgs, MAX_CHUNK_BYTES, MUTATING_FILE_OPS, UploadId, type FileOpName } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { tenantWhere, type Actor } from "../auth/rbac";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import type { NodeChannels } from "../gateway/node-channels";

/** `?path` of the read routes (relative to the CloudPod's root; "" is the root). */
export const PathQuery = z.object({ path: z.string().max(4096).default("") });
/** `?path&page&pageSize&sort&order` of the listing. */
export const ListQuery = z.object({
  path: z.string().max(4096).default(""),
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(1000).default(100),
  sort: z.enum(["name", "size", "mtime"]).default("name"),
  order: z.enum(["asc", "desc"]).default("asc"),
});
/** `?path&uploadId` of the upload status. */
export const UploadStatusQuery = z.object({ path: z.string().min(1).max(4096), uploadId: UploadId });
/** `?path&uploadId&offset&size` of an upload request: its body is the file's bytes from `offset` (application/octet-stream). */
export const UploadQuery = UploadStatusQuery.extend({ offset: z.coerce.number().int().min(0), size: z.coerce.number().int().min(0) });
/** Bodies of the changing operations. */
export const WriteTextBody = FileOpArgs.write_text;
export const PathBody = z.strictObject({ path: z.string().min(1).max(4096) });
export const RenameBody = FileOpArgs.rename;
export const CopyBody = FileOpArgs.copy;
export const ChmodBody = FileOpArgs.chmod;

/** Arguments recorded in a FILES_CHANGED audit event (never file contents). */
const AUDITED_ARGS = ["path", "from", "to", "mode", "size"] as const;

/** One entry of a listing, as the door reports it. */
export interface FileEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "other";
  size: number;
  /** Permission bits (0-07777). */
  mode: number;
  mtime: string;
}

/**
 * The file manager for the panel (DESIGN section 7): every operation is checked against the
 * actor's tenant scope (`files:read` / `files:write` in the CloudPod's tenant, else 404) and
 * relayed to the CloudPod's node, where the agent's door runs it as the CloudPod's user inside
 * its root. Changes are audited (`FILES_CHANGED` with the operation and its paths) once the node
 * confirms them; they happen on the node, so the audit follows instead of sharing a transaction.
 */
export function createFileService(deps: { db: Database; channels: NodeChannels }) {
  const { prisma } = deps.db;

  async function podFor(actor: Actor, id: string, permission: "files:read" | "files:write") {
    const pod = await prisma.cloudPod.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, permission) } });
    if (!pod) throw new AppError("not_found", "cloud pod not found");
    if (permission === "files:write" && pod.status === "suspended") throw new AppError("conflict", "the CloudPod is suspended");
    return pod;
  }

  async function run(actor: Actor, id: string, op: FileOpName, args: Record<string, unknown>, requestId: string, data?: Uint8Array) {
    const mutating = MUTATING_FILE_OPS.has(op);
    const pod = await podFor(actor, id, mutating ? "files:write" : "files:read");
    const answer = await deps.channels.fileOp(pod.serverId, pod.systemUser, op, args, data);
    if (mutating && (op !== "upload" || (answer.result as { complete?: boolean }).complete)) {
      await prisma.$transaction((tx) => audit(tx, {
        action: "FILES_CHANGED", targetType: "cloud_pod", targetId: pod.id, tenantId: pod.tenantId, actorUserId: actor.userId, requestId,
        data: { op, ...Object.fromEntries(AUDITED_ARGS.filter((k) => k in args).map((k) => [k, String(args[k])])) },
      }));
    }
    return answer;
  }

  return {
    /** One page of a directory, sorted (name, size or mtime), with the directory's entry count. */
    async list(actor: Actor, id: string, q: z.output<typeof ListQuery>, requestId: string) {
      return (await run(actor, id, "list", q, requestId)).result as { entries: FileEntry[]; total: number; page: number; pageSize: number };
    },
    async stat(actor: Actor, id: string, path: string, requestId: string) {
      return (await run(actor, id, "stat", { path }, requestId)).result as FileEntry & { target?: string };
    },
    /** A text file for the editor (UTF-8, at most MAX_TEXT_BYTES). */
    async readText(actor: Actor, id: string, path: string, requestId: string) {
      return (await run(actor, id, "read_text", { path }, requestId)).result as { content: string; size: number; mtime: string };
    },
    /** Saves a text file (atomically: a new file renamed over the old one). */
    async writeText(actor: Actor, id: string, body: z.output<typeof WriteTextBody>, requestId: string) {
      return (await run(actor, id, "write_text", body, requestId)).result as { size: number };
    },
    async mkdir(actor: Actor, id: string, path: string, requestId: string) {
      return (await run(actor, id, "mkdir", { path }, requestId)).result;
    },
    /** Renames or moves (`to` in another directory); refuses to replace unless `overwrite`. */
    async rename(actor: Actor, id: string, body: z.output<typeof RenameBody>, requestId: string) {
      return (await run(actor, id, "rename", body, requestId)).result;
    },
    /** Copies a file or a directory tree (links and special files are skipped and counted). */
    async copy(actor: Actor, id: string, body: z.output<typeof CopyBody>, requestId: string) {
      return (await run(actor, id, "copy", body, requestId)).result as { copied: number; skipped: number };
    },
    /** Deletes a file or a directory tree (links are removed, never followed). */
    async remove(actor: Actor, id: string, path: string, requestId: string) {
      return (await run(actor, id, "delete", { path }, requestId)).result as { removed: number };
    },
    async chmod(actor: Actor, id: string, body: z.output<typeof ChmodBody>, requestId: string) {
      return (await run(actor, id, "chmod", body, requestId)).result;
    },
    /** Free and total bytes of the file system holding the CloudPod. */
    async space(actor: Actor, id: string, requestId: string) {
      return (await run(actor, id, "space", {}, requestId)).result as { freeBytes: number; totalBytes: number };
    },
    /** Bytes an interrupted upload already has on the node (resume from there). */
    async uploadStatus(actor: Actor, id: string, q: z.output<typeof UploadStatusQuery>, requestId: string) {
      return (await run(actor, id, "upload_status", q, requestId)).result as { received: number };
    },

    /**
     * Streams `body` to the node as the upload's bytes from `q.offset`, in chunks of
     * MAX_CHUNK_BYTES, one in flight at a time (the stream is read only as fast as the node
     * writes). The first chunk of an upload checks free space and quota on the node. When the
     * body ends early (client gone), what arrived is kept and the upload can resume from
     * `uploadStatus`. Returns the bytes received so far and whether the file is complete (then
     * moved into place). Throws AppError: `conflict` when `offset` is not where the upload stands,
     * `no_capacity` when it does not fit, `validation` when the body runs past `size`.
     */
    async upload(actor: Actor, id: string, q: z.output<typeof UploadQuery>, body: AsyncIterable<Buffer>, requestId: string) {
      let offset = q.offset;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let last = { received: q.offset, complete: false };
      const args = { path: q.path, uploadId: q.uploadId, size: q.size, quotaBytes: null };
      const flush = async (): Promise<void> => {
        const data = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        last = (await run(actor, id, "upload", { ...args, offset }, requestId, data)).result as typeof last;
        offset += data.length;
      };
      try {
        for await (const piece of body) {
          let rest = piece;
          while (rest.length > 0) {
            const take = Math.min(rest.length, MAX_CHUNK_BYTES - pendingBytes);
            pending.push(rest.subarray(0, take));
            pendingBytes += take;
            rest = rest.subarray(take);
            if (pendingBytes === MAX_CHUNK_BYTES) await flush();
          }
        }
      } finally {
        if (pendingBytes > 0 || (q.size === 0 && offset === 0)) await flush();
      }
      return last;
    },

    /**
     * The file's size and a stream of its bytes, read from the node chunk by chunk as the
     * consumer pulls (flow control: nothing is read ahead of the HTTP response). Throws
     * AppError `validation` when `path` is not a regular file.
     */
    async download(actor: Actor, id: string, path: string, requestId: string): Promise<{ size: number; name: string; stream: Readable }> {
      const info = await this.stat(actor, id, path, requestId);
      if (info.type !== "file") throw new AppError("validation", "path: not a regular file", [{ field: "path", message: "not a regular file" }]);
      const read = (offset: number) => run(actor, id, "read", { path, offset, length: MAX_CHUNK_BYTES }, requestId);
      async function* chunks(): AsyncGenerator<Buffer> {
        for (let offset = 0; offset < info.size;) {
          const { data } = await read(offset);
          if (data.length === 0) return;
          offset += data.length;
          yield Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        }
      }
      return { size: info.size, name: info.name, stream: Readable.from(chunks(), { objectMode: false }) };
    },
  };
}

export type FileService = ReturnType<typeof createFileService>;
