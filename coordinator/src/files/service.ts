import { Readable } from "node:stream";
import { ArchiveCreateArgs, ArchiveExtractArgs, archiveFormatOf, FileOpArgs, MAX_CHUNK_BYTES, MUTATING_FILE_OPS, SystemUser, UploadId, type FileOpName } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { tenantWhere, type Actor } from "../auth/rbac";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import type { FileAnswer, NodeChannels } from "../gateway/node-channels";
import { withJobs } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";

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
/** Body of `POST .../files/archive`: `paths` into the new archive `destination` (`format` tar.gz or zip). */
export const ArchiveBody = ArchiveCreateArgs;
/** Body of `POST .../files/extract`: the archive `path` into the new directory `destination`, optionally with tighter zip-bomb `limits`. */
export const ExtractBody = ArchiveExtractArgs;

/** The quotas of a plan as the catalogue stores them (only `diskMb` matters here). */
const PlanQuotas = z.object({ diskMb: z.number().int().min(0).optional() });

/** Chunks of one upload or download sent to the node before the first is answered (at most 4 MiB in flight). */
const IN_FLIGHT = 4;

/** An archive job of the file manager and its request body. */
type ArchiveJob = { type: "ARCHIVE_CREATE"; args: z.output<typeof ArchiveBody> } | { type: "ARCHIVE_EXTRACT"; args: z.output<typeof ExtractBody> };

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
export function createFileService(deps: { db: Database; channels: NodeChannels; wakeups: Wakeups }) {
  const { prisma } = deps.db;

  /**
   * Enqueues `job` (one attempt) on the CloudPod's node with its system user and its quota
   * (`files:write`, else 404), audited as FILES_CHANGED with `audited` and the job id.
   */
  async function archiveJob(actor: Actor, id: string, job: ArchiveJob, audited: Record<string, unknown>, requestId: string): Promise<{ jobId: string }> {
    const pod = await podFor(actor, id, "files:write");
    const target = { cloudPodId: pod.id, systemUser: SystemUser.parse(pod.systemUser), quotaBytes: await quotaBytesOf(pod.id) };
    const queued = { tenantId: pod.tenantId, targetServerId: pod.serverId, maxAttempts: 1 };
    return withJobs(deps.db, deps.wakeups, async (tx, enqueue) => {
      const { id: jobId } = job.type === "ARCHIVE_CREATE"
        ? await enqueue({ type: job.type, payload: { ...job.args, ...target }, ...queued })
        : await enqueue({ type: job.type, payload: { ...job.args, ...target }, ...queued });
      await audit(tx, {
        action: "FILES_CHANGED", targetType: "cloud_pod", targetId: pod.id, tenantId: pod.tenantId, actorUserId: actor.userId, requestId,
        data: { ...audited, jobId },
      });
      return { jobId };
    });
  }

  /**
   * The CloudPod's disk quota in bytes: `diskMb` of the plan of its latest subscription that is
   * not canceled (`billing_subscriptions.cloud_pod_id`). Null (no quota) for a CloudPod without
   * a plan, or a plan without `diskMb` or with `diskMb: 0` (unlimited, as for mailboxes).
   */
  async function quotaBytesOf(podId: string): Promise<number | null> {
    const subscription = await prisma.billingSubscription.findFirst({ where: { cloudPodId: podId, status: { not: "canceled" } }, orderBy: { createdAt: "desc" }, select: { productId: true } });
    if (!subscription) return null;
    const product = await prisma.billingProduct.findUnique({ where: { id: subscription.productId }, select: { quotas: true } });
    const quotas = PlanQuotas.safeParse(product?.quotas ?? {});
    const diskMb = quotas.success ? quotas.data.diskMb : undefined;
    return diskMb ? diskMb * 1024 * 1024 : null;
  }

  async function podFor(actor: Actor, id: string, permission: "files:read" | "files:write") {
    const pod = await prisma.cloudPod.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, permission) } });
    if (!pod) throw new AppError("not_found", "cloud pod not found");
    if (permission === "files:write" && pod.status === "suspended") throw new AppError("conflict", "the CloudPod is suspended");
    return pod;
  }

  /** Records a change the node confirmed (FILES_CHANGED with the operation and its paths). */
  async function audited(actor: Actor, pod: { id: string; tenantId: string }, op: FileOpName, args: Record<string, unknown>, requestId: string): Promise<void> {
    await prisma.$transaction((tx) => audit(tx, {
      action: "FILES_CHANGED", targetType: "cloud_pod", targetId: pod.id, tenantId: pod.tenantId, actorUserId: actor.userId, requestId,
      data: { op, ...Object.fromEntries(AUDITED_ARGS.filter((k) => k in args).map((k) => [k, String(args[k])])) },
    }));
  }

  async function run(actor: Actor, id: string, op: FileOpName, args: Record<string, unknown>, requestId: string) {
    const mutating = MUTATING_FILE_OPS.has(op);
    const pod = await podFor(actor, id, mutating ? "files:write" : "files:read");
    const answer = await deps.channels.fileOp(pod.serverId, pod.systemUser, op, args);
    if (mutating) await audited(actor, pod, op, args, requestId);
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
     * Enqueues an ARCHIVE_CREATE job on the CloudPod's node (`files:write`, else 404): `paths`
     * packed into the new file `destination` as the CloudPod's user, within its quota. Audited
     * as FILES_CHANGED (`op: "archive"`). Returns the job's id; its progress and outcome are the
     * jobs API's (`GET /api/admin/jobs/:id`).
     */
    async archive(actor: Actor, id: string, body: z.output<typeof ArchiveBody>, requestId: string): Promise<{ jobId: string }> {
      return archiveJob(actor, id, { type: "ARCHIVE_CREATE", args: body }, { op: "archive", paths: body.paths, destination: body.destination, format: body.format }, requestId);
    },

    /**
     * Enqueues an ARCHIVE_EXTRACT job on the CloudPod's node (`files:write`, else 404): the
     * archive `path` (.zip, .tar.gz or .tgz) into the new directory `destination`, within the
     * zip-bomb `limits` and the CloudPod's quota. Audited as FILES_CHANGED (`op: "extract"`).
     * Throws AppError `validation` when `path` names no archive format.
     */
    async extract(actor: Actor, id: string, body: z.output<typeof ExtractBody>, requestId: string): Promise<{ jobId: string }> {
      if (archiveFormatOf(body.path) === null) throw new AppError("validation", "path: not a .zip, .tar.gz or .tgz file", [{ field: "path", message: "not a .zip, .tar.gz or .tgz file" }]);
      return archiveJob(actor, id, { type: "ARCHIVE_EXTRACT", args: body }, { op: "extract", path: body.path, destination: body.destination }, requestId);
    },

    /**
     * Streams `body` to the node as the upload's bytes from `q.offset`, in chunks of
     * MAX_CHUNK_BYTES, at most IN_FLIGHT chunks unanswered at a time (the stream is read only as
     * fast as the node writes; the node answers them in order). The first chunk of an upload
     * checks free space and the CloudPod's quota (its plan's `diskMb`: bytes in use plus `size`
     * must fit) on the node before writing anything. When the body ends early (client gone), what
     * arrived is kept and the upload can resume from `uploadStatus`. Returns the bytes received
     * so far and whether the file is complete (then moved into place and audited). Throws
     * AppError: `conflict` when `offset` is not where the upload stands, `no_capacity` when it
     * does not fit (`quota_exceeded`, `no_space`), `validation` when the body runs past `size`.
     */
    async upload(actor: Actor, id: string, q: z.output<typeof UploadQuery>, body: AsyncIterable<Buffer>, requestId: string) {
      const pod = await podFor(actor, id, "files:write");
      // The quota matters to the first chunk only (the node checks it before writing anything).
      const quotaBytes = q.offset === 0 ? await quotaBytesOf(pod.id) : null;
      const args = { path: q.path, uploadId: q.uploadId, size: q.size, quotaBytes };
      let offset = q.offset;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let last = { received: q.offset, complete: false };
      let failure: unknown = null;
      const unanswered: Array<Promise<void>> = [];
      const flush = async (): Promise<void> => {
        const data = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        unanswered.push(deps.channels.fileOp(pod.serverId, pod.systemUser, "upload", { ...args, offset }, data).then(
          (answer) => void (last = answer.result as typeof last),
          (error: unknown) => void (failure ??= error),
        ));
        offset += data.length;
        if (unanswered.length >= IN_FLIGHT) await unanswered.shift();
        if (failure !== null) throw failure;
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
        if (failure === null && (pendingBytes > 0 || (q.size === 0 && offset === 0))) await flush().catch(() => undefined);
        await Promise.all(unanswered);
      }
      if (failure !== null) throw failure;
      if (last.complete) await audited(actor, pod, "upload", { ...args, offset: q.offset }, requestId);
      return last;
    },

    /**
     * The file's size and a stream of its bytes, read from the node chunk by chunk as the
     * consumer pulls, at most IN_FLIGHT chunks ahead of it (the node's round trips overlap the
     * HTTP response's writes; nothing more is read ahead). Throws AppError `validation` when
     * `path` is not a regular file.
     */
    async download(actor: Actor, id: string, path: string, _requestId: string): Promise<{ size: number; name: string; stream: Readable }> {
      const pod = await podFor(actor, id, "files:read");
      const op = (name: FileOpName, args: Record<string, unknown>) => deps.channels.fileOp(pod.serverId, pod.systemUser, name, args);
      const info = (await op("stat", { path })).result as FileEntry;
      if (info.type !== "file") throw new AppError("validation", "path: not a regular file", [{ field: "path", message: "not a regular file" }]);
      async function* chunks(): AsyncGenerator<Buffer> {
        const ahead: Array<Promise<FileAnswer>> = [];
        let next = 0;
        const fill = (): void => {
          for (; ahead.length < IN_FLIGHT && next < info.size; next += MAX_CHUNK_BYTES) ahead.push(op("read", { path, offset: next, length: MAX_CHUNK_BYTES }));
        };
        try {
          fill();
          for (let head = ahead.shift(); head; head = ahead.shift()) {
            const { data } = await head;
            if (data.length === 0) return;
            fill();
            yield Buffer.from(data.buffer, data.byteOffset, data.byteLength);
          }
        } finally {
          // Reads still under way when the consumer stops (client gone) are dropped, not left to reject unhandled.
          for (const read of ahead) read.catch(() => undefined);
        }
      }
      return { size: info.size, name: info.name, stream: Readable.from(chunks(), { objectMode: false }) };
    },
  };
}

export type FileService = ReturnType<typeof createFileService>;
