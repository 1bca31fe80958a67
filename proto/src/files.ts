import { z } from "zod";

/**
 * File-manager operations (FileOp.op + FileOp.args_json): the coordinator builds them from a
 * validated HTTP request, the agent validates them again before its door (agent/src/files/door.ts)
 * touches the disk. Paths are relative to the CloudPod's root, "/"-separated; the door refuses
 * NUL bytes, absolute paths, `..` and symlinks on its own, these schemas only bound sizes.
 */
export const FilePath = z.string().max(4096, "must be at most 4096 characters");

/** Largest file the text editor opens or saves (bytes). */
export const MAX_TEXT_BYTES = 2 * 1024 * 1024;
/** Largest chunk of an upload or a download on the stream (bytes). */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/** Resumable-upload id chosen by the client: 8-64 characters of A-Z a-z 0-9 _ -. */
export const UploadId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "must be 8-64 characters: A-Z, a-z, 0-9, _ or -");

/** The arguments of every operation, by name. */
export const FileOpArgs = {
  list: z.strictObject({
    path: FilePath,
    page: z.number().int().min(1).default(1),
    pageSize: z.number().int().min(1).max(1000).default(100),
    sort: z.enum(["name", "size", "mtime"]).default("name"),
    order: z.enum(["asc", "desc"]).default("asc"),
  }),
  stat: z.strictObject({ path: FilePath }),
  read_text: z.strictObject({ path: FilePath, maxBytes: z.number().int().min(1).max(MAX_TEXT_BYTES).default(MAX_TEXT_BYTES) }),
  write_text: z.strictObject({ path: FilePath, content: z.string().refine((s) => Buffer.byteLength(s) <= MAX_TEXT_BYTES, `must be at most ${MAX_TEXT_BYTES} bytes`) }),
  read: z.strictObject({ path: FilePath, offset: z.number().int().min(0), length: z.number().int().min(1).max(MAX_CHUNK_BYTES) }),
  upload_status: z.strictObject({ path: FilePath, uploadId: UploadId }),
  /**
   * One chunk (FileOp.chunk) at `offset` of an upload of `size` bytes; the last chunk moves the file
   * into place. `quotaBytes` is the CloudPod's whole disk quota (null: none): the first chunk is
   * refused (`quota_exceeded`) when the bytes of the pod's regular files plus `size` exceed it.
   */
  upload: z.strictObject({ path: FilePath, uploadId: UploadId, offset: z.number().int().min(0), size: z.number().int().min(0), quotaBytes: z.number().int().min(0).nullable().default(null) }),
  mkdir: z.strictObject({ path: FilePath }),
  rename: z.strictObject({ from: FilePath, to: FilePath, overwrite: z.boolean().default(false) }),
  copy: z.strictObject({ from: FilePath, to: FilePath }),
  delete: z.strictObject({ path: FilePath }),
  chmod: z.strictObject({ path: FilePath, mode: z.number().int().min(0).max(0o777) }),
  space: z.strictObject({}),
} as const;

/** An operation name. */
export type FileOpName = keyof typeof FileOpArgs;

/** Whether `op` is an operation name. */
export function isFileOpName(op: string): op is FileOpName {
  return Object.hasOwn(FileOpArgs, op);
}

/** Operations that change the disk (audited as FILES_CHANGED by the coordinator). */
export const MUTATING_FILE_OPS: ReadonlySet<FileOpName> = new Set(["write_text", "upload", "mkdir", "rename", "copy", "delete", "chmod"]);

/** Archive formats the file manager makes and opens: gzip-compressed tar (`.tar.gz`, `.tgz`) or zip. */
export const ArchiveFormat = z.enum(["tar.gz", "zip"]);
export type ArchiveFormat = z.infer<typeof ArchiveFormat>;

/** Default and largest total of bytes one extraction may write (1 GiB). */
export const MAX_EXTRACT_BYTES = 1024 * 1024 * 1024;
/** Default and largest number of entries one extraction may hold. */
export const MAX_EXTRACT_ENTRIES = 10_000;
/** Default and largest ratio of an entry's inflated bytes to its compressed bytes (zip: per entry; tar.gz: the whole stream). */
export const MAX_EXTRACT_RATIO = 200;

/**
 * Zip-bomb limits of one extraction, counted on the bytes actually inflated (never on the sizes
 * an archive's headers declare): `maxBytes` in all, `maxEntries` entries, and `maxRatio` inflated
 * bytes per compressed byte (checked once an entry, or a tar.gz stream, passes 1 MiB). A request
 * may only tighten the defaults, which are also the maxima.
 */
export const ExtractLimits = z.strictObject({
  maxBytes: z.number().int().min(1).max(MAX_EXTRACT_BYTES).default(MAX_EXTRACT_BYTES),
  maxEntries: z.number().int().min(1).max(MAX_EXTRACT_ENTRIES).default(MAX_EXTRACT_ENTRIES),
  maxRatio: z.number().int().min(1).max(MAX_EXTRACT_RATIO).default(MAX_EXTRACT_RATIO),
});
export type ExtractLimits = z.output<typeof ExtractLimits>;

/** A path below the CloudPod's root (not the root itself). */
const EntryPath = FilePath.min(1, "must not be empty");

/**
 * What ARCHIVE_CREATE writes: `paths` (files or directory trees, relative to the CloudPod's root;
 * links and special files are skipped and counted) into the new file `destination` in `format`.
 * The archive's bytes count against `quotaBytes` (the CloudPod's whole quota, null: none).
 */
export const ArchiveCreateArgs = z.strictObject({
  paths: z.array(EntryPath).min(1).max(1000),
  destination: EntryPath,
  format: ArchiveFormat,
});
/**
 * What ARCHIVE_EXTRACT opens: the archive at `path` (format from its name: `.zip`, `.tar.gz` or
 * `.tgz`) into the new directory `destination`, within `limits`.
 */
export const ArchiveExtractArgs = z.strictObject({
  path: EntryPath,
  destination: EntryPath,
  limits: ExtractLimits.default({ maxBytes: MAX_EXTRACT_BYTES, maxEntries: MAX_EXTRACT_ENTRIES, maxRatio: MAX_EXTRACT_RATIO }),
});

/** The archive format a file name implies, or null when it is neither `.zip` nor `.tar.gz`/`.tgz`. */
export function archiveFormatOf(path: string): ArchiveFormat | null {
  const lower = path.toLowerCase();
  if (lower.endsWith(".zip")) return "zip";
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) return "tar.gz";
  return null;
}
