/**
 * The file manager's one door to a CloudPod's disk (DESIGN section 7). The agent runs this file
 * as a child process with the CloudPod's uid/gid (`node door.ts`: Node's own type stripping; the
 * archive libraries `tar`, `yauzl` and `yazl` are loaded only by archive jobs), so the kernel
 * enforces the user's rights on every access. The agent
 * opens the CloudPod's root itself and hands it over as file descriptor 3, so the door never
 * resolves a path outside it. Every path is walked openat-style from there: each component is
 * opened relative to its parent's descriptor (`/proc/self/fd/<fd>/<name>`, the parent's
 * directory itself, not a path string) with O_NOFOLLOW, so `..`, absolute paths, NUL bytes,
 * symlinks anywhere on the way and a directory swapped for a symlink between check and use are
 * refused by construction. Only regular files are read or written (no devices, FIFOs, sockets).
 *
 * Protocol on stdin/stdout, both directions: frames of [u32 BE header length][u32 BE data
 * length][header JSON][data bytes]. Request header `{ id, op, args }`; response header
 * `{ id, ok: true, result }` or `{ id, ok: false, code, message }`; `data` carries file bytes
 * (upload in, read out). Requests run one at a time, in order.
 *
 * Archive mode (`node door.ts archive`, started per ARCHIVE_CREATE / ARCHIVE_EXTRACT job): stdin
 * is one JSON request `{ op: "create" | "extract", args, quotaBytes }`; stdout is JSON lines,
 * `{ progress, message }` while it runs, then `{ ok: true, result }` or `{ ok: false, code, message }`.
 */
import { constants, closeSync, createReadStream, createWriteStream, fchmodSync, fstatSync, fsyncSync, futimesSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, readlinkSync, renameSync, rmdirSync, statfsSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** A refusal with a machine-readable code; the message is shown to the user. */
class DoorError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

type Args = Record<string, unknown>;
interface Reply {
  result: unknown;
  data?: Buffer;
}

const MAX_PATH = 4096;
const MAX_NAME = 255;
const COPY_BUFFER = 1024 * 1024;
const UPLOAD_PREFIX = ".mpanel-upload-";

/** The CloudPod's root, opened by the agent (O_DIRECTORY | O_NOFOLLOW) and inherited. */
const rootFd = 3;

/** The path of `name` inside the directory open on `fd` (resolved by the kernel through the descriptor). */
const at = (fd: number, name: string): string => `/proc/self/fd/${fd}/${name}`;

function str(args: Args, key: string): string {
  const value = args[key];
  if (typeof value !== "string") throw new DoorError("invalid_argument", `${key} must be a string`);
  return value;
}

function int(args: Args, key: string, fallback?: number): number {
  const value = args[key] ?? fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw new DoorError("invalid_argument", `${key} must be a non-negative integer`);
  return value;
}

/** The components of a path relative to the root; refuses NUL bytes, absolute paths, `..` and overlong names. */
function components(path: string): string[] {
  if (path.includes("\0")) throw new DoorError("invalid_path", "the path contains a NUL byte");
  if (path.startsWith("/")) throw new DoorError("invalid_path", "absolute paths are refused; paths are relative to the CloudPod's root");
  if (path.length > MAX_PATH) throw new DoorError("invalid_path", `the path is longer than ${MAX_PATH} characters`);
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new DoorError("invalid_path", "'..' is refused in paths");
  if (parts.some((p) => Buffer.byteLength(p) > MAX_NAME)) throw new DoorError("invalid_path", `a name is longer than ${MAX_NAME} bytes`);
  return parts;
}

/** Maps the errno of a walk or an open to a DoorError naming `path`. */
function fsError(error: unknown, path: string): DoorError {
  if (error instanceof DoorError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case "ELOOP": return new DoorError("symlink_refused", `${path}: symbolic links are not followed`);
    case "ENOENT": return new DoorError("not_found", `${path}: no such file or directory`);
    case "ENOTDIR": return new DoorError("not_a_directory", `${path}: not a directory`);
    case "EISDIR": return new DoorError("is_a_directory", `${path}: is a directory`);
    case "EEXIST": return new DoorError("exists", `${path}: already exists`);
    case "ENOTEMPTY": return new DoorError("not_empty", `${path}: directory not empty`);
    case "EACCES": case "EPERM": return new DoorError("permission_denied", `${path}: permission denied`);
    case "ENOSPC": case "EDQUOT": return new DoorError("no_space", `${path}: no space left (disk or quota)`);
    case "EXDEV": return new DoorError("invalid_path", `${path}: crosses a file system boundary`);
    default: return new DoorError("io_error", `${path}: ${(error as Error).message}`);
  }
}

/** Opens the directory `name` inside the directory open on `fd`, refusing a symlink in its place. */
function openChildDir(fd: number, name: string, shown: string): number {
  try {
    return openSync(at(fd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (error) {
    // With O_DIRECTORY, Linux answers ENOTDIR (not ELOOP) for a symlink: say which it was.
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR" && isSymlink(fd, name)) throw new DoorError("symlink_refused", `${shown}: symbolic links are not followed`);
    throw fsError(error, shown);
  }
}

/** Whether `name` in the directory open on `fd` is a symlink now (false when it is gone). */
function isSymlink(fd: number, name: string): boolean {
  try {
    return lstatSync(at(fd, name)).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Closes `fd` unless it is the root's. */
const release = (fd: number): void => {
  if (fd !== rootFd) closeSync(fd);
};

/** Walks to the directory of `parts` (every component a real directory) and returns its descriptor (close with `release`). */
function walk(parts: readonly string[], shown: string): number {
  let fd = rootFd;
  try {
    for (const part of parts) {
      const next = openChildDir(fd, part, shown);
      release(fd);
      fd = next;
    }
    return fd;
  } catch (error) {
    release(fd);
    throw error;
  }
}

/** Runs `fn` with the descriptor of `path`'s parent directory and `path`'s last name; refuses the root itself. */
function inParent<T>(path: string, fn: (dirFd: number, name: string) => T): T {
  const parts = components(path);
  const name = parts.pop();
  if (name === undefined) throw new DoorError("invalid_path", "this operation needs a path below the root");
  const dirFd = walk(parts, path);
  try {
    return fn(dirFd, name);
  } catch (error) {
    throw fsError(error, path);
  } finally {
    release(dirFd);
  }
}

/** The kind of a file for listings; devices, FIFOs and sockets are "other". */
function kind(s: Stats): "file" | "directory" | "symlink" | "other" {
  return s.isFile() ? "file" : s.isDirectory() ? "directory" : s.isSymbolicLink() ? "symlink" : "other";
}

function entry(name: string, s: Stats) {
  return { name, type: kind(s), size: s.size, mode: s.mode & 0o7777, mtime: s.mtime.toISOString() };
}

/** Opens the regular file `name` in `dirFd` (no symlink, no device: O_NONBLOCK keeps a FIFO from blocking before fstat refuses it). */
function openRegular(dirFd: number, name: string, flags: number, shown: string, mode = 0o644): number {
  const fd = openSync(at(dirFd, name), flags | O_NOFOLLOW | O_NONBLOCK, mode);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new DoorError("not_a_regular_file", `${shown}: not a regular file (devices, FIFOs and sockets are refused)`);
  }
  return fd;
}

function readAll(fd: number, size: number): Buffer {
  const buffer = Buffer.alloc(size);
  let done = 0;
  while (done < size) {
    const n = readSync(fd, buffer, done, size - done, done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

function writeAll(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

/** A fresh hidden name beside the target for atomic replacement. */
const tempName = (name: string): string => `.${name.slice(0, 200)}.mpanel-${process.pid}-${Date.now().toString(36)}`;

/** Deletes `name` in `dirFd`: a directory recursively (walked by descriptor, symlinks removed as links, never followed). */
function removeEntry(dirFd: number, name: string, shown: string): number {
  const s = lstatSync(at(dirFd, name));
  if (!s.isDirectory()) {
    unlinkSync(at(dirFd, name));
    return 1;
  }
  let removed = 0;
  const childFd = openChildDir(dirFd, name, shown);
  try {
    for (const child of readdirSync(at(childFd, "."))) removed += removeEntry(childFd, child, `${shown}/${child}`);
  } finally {
    closeSync(childFd);
  }
  rmdirSync(at(dirFd, name));
  return removed + 1;
}

/** Copies `name` from `fromFd` to `toName` in `toFd`: regular files and directories; other entries (links, devices) are skipped and counted. */
function copyEntry(fromFd: number, name: string, toFd: number, toName: string, shown: string): { copied: number; skipped: number } {
  const s = lstatSync(at(fromFd, name));
  if (s.isFile()) {
    const src = openRegular(fromFd, name, O_RDONLY, shown);
    try {
      const dst = openRegular(toFd, toName, O_WRONLY | O_CREAT | O_EXCL, shown, s.mode & 0o777);
      try {
        const buffer = Buffer.alloc(COPY_BUFFER);
        let position = 0;
        for (;;) {
          const n = readSync(src, buffer, 0, buffer.length, position);
          if (n === 0) break;
          writeAll(dst, buffer.subarray(0, n), position);
          position += n;
        }
      } finally {
        closeSync(dst);
      }
    } finally {
      closeSync(src);
    }
    return { copied: 1, skipped: 0 };
  }
  if (!s.isDirectory()) return { copied: 0, skipped: 1 };
  mkdirSync(at(toFd, toName), s.mode & 0o777);
  const srcDir = openChildDir(fromFd, name, shown);
  const dstDir = openChildDir(toFd, toName, shown);
  const total = { copied: 1, skipped: 0 };
  try {
    for (const child of readdirSync(at(srcDir, "."))) {
      const sub = copyEntry(srcDir, child, dstDir, child, `${shown}/${child}`);
      total.copied += sub.copied;
      total.skipped += sub.skipped;
    }
  } finally {
    closeSync(srcDir);
    closeSync(dstDir);
  }
  return total;
}

function freeSpace(): { freeBytes: number; totalBytes: number } {
  const s = statfsSync(at(rootFd, "."));
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/** Bytes of the regular files below the directory open on `fd` (lstat sizes: links are never followed; unreadable directories are skipped). */
function usageBelow(fd: number): number {
  let total = 0;
  for (const name of readdirSync(at(fd, "."))) {
    let s: Stats;
    try {
      s = lstatSync(at(fd, name));
    } catch {
      continue;
    }
    if (s.isFile()) total += s.size;
    if (!s.isDirectory()) continue;
    let child: number;
    try {
      child = openSync(at(fd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch {
      continue;
    }
    try {
      total += usageBelow(child);
    } finally {
      closeSync(child);
    }
  }
  return total;
}

const UPLOAD_ID = /^[A-Za-z0-9_-]{8,64}$/;

function uploadId(args: Args): string {
  const id = str(args, "uploadId");
  if (!UPLOAD_ID.test(id)) throw new DoorError("invalid_argument", "uploadId must be 8-64 characters of A-Z a-z 0-9 _ -");
  return id;
}

/** Bytes of the upload received so far (its partial file's size), 0 when none. */
function received(dirFd: number, id: string): number {
  try {
    return lstatSync(at(dirFd, UPLOAD_PREFIX + id)).size;
  } catch {
    return 0;
  }
}

const ops: Record<string, (args: Args, data: Buffer) => Reply> = {
  list(args) {
    const path = str(args, "path");
    const page = int(args, "page", 1);
    const pageSize = int(args, "pageSize", 100);
    const sort = args.sort ?? "name";
    const descending = args.order === "desc";
    const dirFd = walk(components(path), path);
    try {
      const names = readdirSync(at(dirFd, "."));
      const stat = (name: string) => {
        try {
          return lstatSync(at(dirFd, name));
        } catch {
          return null;
        }
      };
      let ordered: string[];
      if (sort === "name") {
        ordered = names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      } else {
        const keyed = names.map((name) => ({ name, s: stat(name) }));
        const key = (s: Stats | null): number => (s === null ? -1 : sort === "size" ? s.size : s.mtimeMs);
        ordered = keyed.sort((a, b) => key(a.s) - key(b.s) || (a.name < b.name ? -1 : 1)).map((k) => k.name);
      }
      if (descending) ordered.reverse();
      const slice = ordered.slice((page - 1) * pageSize, page * pageSize);
      const entries = slice.flatMap((name) => {
        const s = stat(name);
        return s ? [entry(name, s)] : [];
      });
      return { result: { entries, total: names.length, page, pageSize } };
    } catch (error) {
      throw fsError(error, path);
    } finally {
      release(dirFd);
    }
  },

  stat(args) {
    const path = str(args, "path");
    if (components(path).length === 0) return { result: entry(".", fstatSync(rootFd)) };
    return inParent(path, (dirFd, name) => {
      const s = lstatSync(at(dirFd, name));
      return { result: { ...entry(name, s), ...(s.isSymbolicLink() ? { target: readlinkSync(at(dirFd, name)) } : {}) } };
    });
  },

  read_text(args) {
    const path = str(args, "path");
    const maxBytes = int(args, "maxBytes");
    return inParent(path, (dirFd, name) => {
      const fd = openRegular(dirFd, name, O_RDONLY, path);
      try {
        const s = fstatSync(fd);
        if (s.size > maxBytes) throw new DoorError("too_large", `${path}: ${s.size} bytes is over the editor's limit of ${maxBytes} bytes`);
        const content = readAll(fd, s.size);
        const text = content.toString("utf8");
        if (!Buffer.from(text, "utf8").equals(content)) throw new DoorError("not_text", `${path}: not UTF-8 text`);
        return { result: { content: text, size: s.size, mtime: s.mtime.toISOString() } };
      } finally {
        closeSync(fd);
      }
    });
  },

  write_text(args) {
    const path = str(args, "path");
    const content = Buffer.from(str(args, "content"), "utf8");
    return inParent(path, (dirFd, name) => {
      let mode = 0o644;
      try {
        const old = lstatSync(at(dirFd, name));
        if (!old.isFile()) throw new DoorError("not_a_regular_file", `${path}: not a regular file`);
        mode = old.mode & 0o777;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
      const temp = tempName(name);
      const fd = openRegular(dirFd, temp, O_WRONLY | O_CREAT | O_EXCL, path, mode);
      try {
        writeAll(fd, content, 0);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(at(dirFd, temp), at(dirFd, name));
      return { result: { size: content.length } };
    });
  },

  read(args) {
    const path = str(args, "path");
    const offset = int(args, "offset");
    const length = int(args, "length");
    return inParent(path, (dirFd, name) => {
      const fd = openRegular(dirFd, name, O_RDONLY, path);
      try {
        const size = fstatSync(fd).size;
        const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
        let done = 0;
        while (done < buffer.length) {
          const n = readSync(fd, buffer, done, buffer.length - done, offset + done);
          if (n === 0) break;
          done += n;
        }
        return { result: { size, offset, length: done }, data: buffer.subarray(0, done) };
      } finally {
        closeSync(fd);
      }
    });
  },

  upload_status(args) {
    const path = str(args, "path");
    const id = uploadId(args);
    return inParent(path, (dirFd) => ({ result: { received: received(dirFd, id) } }));
  },

  upload(args, data) {
    const path = str(args, "path");
    const id = uploadId(args);
    const offset = int(args, "offset");
    const size = int(args, "size");
    const quotaBytes = args.quotaBytes === null || args.quotaBytes === undefined ? null : int(args, "quotaBytes");
    if (offset + data.length > size) throw new DoorError("invalid_argument", `the chunk ends at ${offset + data.length}, past the declared size ${size}`);
    return inParent(path, (dirFd, name) => {
      const have = received(dirFd, id);
      if (offset !== have) throw new DoorError("offset_mismatch", `the upload has ${have} bytes; send from offset ${have}`);
      if (offset === 0) {
        const space = freeSpace();
        if (size > space.freeBytes) throw new DoorError("no_space", `${size} bytes do not fit: ${space.freeBytes} bytes free`);
        if (quotaBytes !== null) {
          const used = usageBelow(rootFd);
          if (used + size > quotaBytes) throw new DoorError("quota_exceeded", `${size} bytes do not fit in the CloudPod's quota: ${used} of ${quotaBytes} bytes are in use`);
        }
      }
      const temp = UPLOAD_PREFIX + id;
      const fd = openRegular(dirFd, temp, O_WRONLY | O_CREAT, path);
      try {
        writeAll(fd, data, offset);
        if (offset + data.length === size) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      const total = offset + data.length;
      if (total < size) return { result: { received: total, complete: false } };
      renameSync(at(dirFd, temp), at(dirFd, name));
      return { result: { received: total, complete: true } };
    });
  },

  mkdir(args) {
    const path = str(args, "path");
    return inParent(path, (dirFd, name) => {
      mkdirSync(at(dirFd, name), 0o755);
      return { result: { created: path } };
    });
  },

  rename(args) {
    const from = str(args, "from");
    const to = str(args, "to");
    const overwrite = args.overwrite === true;
    return inParent(from, (fromFd, fromName) => inParent(to, (toFd, toName) => {
      if (!overwrite) {
        let exists = true;
        try {
          lstatSync(at(toFd, toName));
        } catch {
          exists = false;
        }
        if (exists) throw new DoorError("exists", `${to}: already exists`);
      }
      renameSync(at(fromFd, fromName), at(toFd, toName));
      return { result: { from, to } };
    }));
  },

  copy(args) {
    const from = str(args, "from");
    const to = str(args, "to");
    return inParent(from, (fromFd, fromName) => inParent(to, (toFd, toName) => ({ result: copyEntry(fromFd, fromName, toFd, toName, from) })));
  },

  delete(args) {
    const path = str(args, "path");
    return inParent(path, (dirFd, name) => ({ result: { removed: removeEntry(dirFd, name, path) } }));
  },

  chmod(args) {
    const path = str(args, "path");
    const mode = int(args, "mode");
    if (mode > 0o777) throw new DoorError("invalid_argument", "mode must be 0-0777 (no setuid, setgid or sticky bits)");
    return inParent(path, (dirFd, name) => {
      const s = lstatSync(at(dirFd, name));
      if (!s.isFile() && !s.isDirectory()) throw new DoorError("not_a_regular_file", `${path}: only files and directories can be chmod-ed`);
      const fd = s.isDirectory() ? openChildDir(dirFd, name, path) : openRegular(dirFd, name, O_RDONLY, path);
      try {
        fchmodSync(fd, mode);
      } finally {
        closeSync(fd);
      }
      return { result: { mode } };
    });
  },

  space() {
    return { result: freeSpace() };
  },
};

/** Runs one request; never throws (errors become `{ ok: false }`). */
function handle(header: { id: unknown; op: unknown; args: unknown }, data: Buffer): { header: Record<string, unknown>; data?: Buffer } {
  const id = header.id;
  try {
    const op = typeof header.op === "string" && Object.hasOwn(ops, header.op) ? ops[header.op] : undefined;
    if (!op) throw new DoorError("invalid_argument", `unknown operation ${String(header.op)}`);
    const args = typeof header.args === "object" && header.args !== null ? (header.args as Args) : {};
    const reply = op(args, data);
    return { header: { id, ok: true, result: reply.result }, ...(reply.data ? { data: reply.data } : {}) };
  } catch (error) {
    const failure = error instanceof DoorError ? error : fsError(error, "");
    return { header: { id, ok: false, code: failure.code, message: failure.message } };
  }
}

function send(header: Record<string, unknown>, data: Buffer = Buffer.alloc(0)): void {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(json.length, 0);
  prefix.writeUInt32BE(data.length, 4);
  process.stdout.write(Buffer.concat([prefix, json, data]));
}

// ---------------------------------------------------------------------------------------------
// Archive jobs (archive mode): create and extract .tar.gz/.zip under the same rules as every op.
// ---------------------------------------------------------------------------------------------

/** Most entries an archive made here may hold. */
const MAX_CREATE_ENTRIES = 100_000;
/** Bytes an entry (zip) or the stream (tar.gz) may inflate before the ratio limit applies. */
const RATIO_GRACE_BYTES = 1024 * 1024;
/** Bytes of one tar block (POSIX ustar). */
const TAR_BLOCK = 512;

/** Reports progress (percent 0-100) as a JSON line: every percent step, at most every 200 ms, plus the first and the last. */
function progressReporter(): (percent: number, message: string) => void {
  let last = -1;
  let lastAt = 0;
  return (percent, message) => {
    const p = Math.max(0, Math.min(100, Math.floor(percent)));
    const now = Date.now();
    if (p === last || (p !== 0 && p !== 100 && now - lastAt < 200)) return;
    last = p;
    lastAt = now;
    process.stdout.write(`${JSON.stringify({ progress: p, message })}\n`);
  };
}
type Report = ReturnType<typeof progressReporter>;

/** How many bytes a job may still write, and the refusal (code and reason) once it writes more. */
interface Budget {
  bytes: number;
  code: string;
  reason: string;
}

/** The tightest of `limitBytes`, the free disk space and what the CloudPod's quota leaves (its regular files' bytes walked now). */
function budgetOf(limitBytes: number, quotaBytes: number | null): Budget {
  const free = freeSpace().freeBytes;
  const budgets: Budget[] = [
    { bytes: limitBytes, code: "limit_exceeded", reason: `the limit of ${limitBytes} bytes` },
    { bytes: free, code: "no_space", reason: `the ${free} bytes free on the disk` },
  ];
  if (quotaBytes !== null) {
    const used = usageBelow(rootFd);
    budgets.push({ bytes: Math.max(0, quotaBytes - used), code: "quota_exceeded", reason: `the CloudPod's quota (${used} of ${quotaBytes} bytes in use)` });
  }
  return budgets.reduce((a, b) => (b.bytes < a.bytes ? b : a));
}

/** Whether `name` exists (as anything, a link included) in the directory open on `fd`. */
function exists(fd: number, name: string): boolean {
  try {
    lstatSync(at(fd, name));
    return true;
  } catch {
    return false;
  }
}

/** One entry to archive: its name in the archive, the directory holding it (components from the root) and its name there. */
interface Planned {
  name: string;
  dir: string[];
  base: string;
  directory: boolean;
  size: number;
  mode: number;
  mtime: Date;
}

/** Lists what archiving `paths` takes (directories recursively, by descriptor); links and special files are skipped and counted. */
function planArchive(paths: readonly string[]): { entries: Planned[]; skipped: number; bytes: number } {
  const entries: Planned[] = [];
  const tops = new Set<string>();
  let skipped = 0;
  let bytes = 0;
  const visit = (dirFd: number, dir: string[], base: string, name: string): void => {
    const s = lstatSync(at(dirFd, base));
    if (s.isFile()) {
      entries.push({ name, dir, base, directory: false, size: s.size, mode: s.mode, mtime: s.mtime });
      bytes += s.size;
    } else if (s.isDirectory()) {
      entries.push({ name: `${name}/`, dir, base, directory: true, size: 0, mode: s.mode, mtime: s.mtime });
      const child = openChildDir(dirFd, base, name);
      try {
        for (const n of readdirSync(at(child, ".")).sort()) visit(child, [...dir, base], n, `${name}/${n}`);
      } finally {
        closeSync(child);
      }
    } else {
      skipped++;
    }
    if (entries.length > MAX_CREATE_ENTRIES) throw new DoorError("too_large", `more than ${MAX_CREATE_ENTRIES} entries to archive`);
  };
  for (const path of paths) {
    const parts = components(path);
    const base = parts.pop();
    if (base === undefined) throw new DoorError("invalid_path", "paths: the root itself cannot be archived; name what is in it");
    if (tops.has(base)) throw new DoorError("invalid_argument", `paths: two of them are named ${base} in the archive`);
    tops.add(base);
    const dirFd = walk(parts, path);
    try {
      visit(dirFd, parts, base, base);
    } catch (error) {
      throw fsError(error, path);
    } finally {
      release(dirFd);
    }
  }
  return { entries, skipped, bytes };
}

/** Opens a planned regular file again, walking to it by descriptor (a swapped directory or file is refused). */
function openPlanned(e: Planned): number {
  const dirFd = walk(e.dir, e.name);
  try {
    return openRegular(dirFd, e.base, O_RDONLY, e.name);
  } catch (error) {
    throw fsError(error, e.name);
  } finally {
    release(dirFd);
  }
}

/** A Transform that counts the bytes passing and fails with the budget's refusal past it. */
function metered(budget: Budget, what: string, onBytes: (total: number) => void = () => undefined): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      if (total > budget.bytes) return done(new DoorError(budget.code, `${what} would take more than ${budget.reason}`));
      onBytes(total);
      done(null, chunk);
    },
  });
}

/** The tar stream (POSIX ustar with PAX headers for long names) of `entries`, read file by file by descriptor. */
async function* tarStream(entries: readonly Planned[], onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  const { Header, Pax } = await import("tar");
  const header = (data: { path: string; type: "File" | "Directory"; size: number; mode: number; mtime: Date }): Buffer => {
    const h = new Header({ ...data, mode: data.mode & 0o7777, uid: 0, gid: 0 });
    const needPax = h.encode();
    if (!h.block) throw new DoorError("io_error", `${data.path}: the tar header could not be encoded`);
    return needPax ? Buffer.concat([new Pax({ path: data.path, size: data.size, mtime: data.mtime }).encode(), h.block]) : h.block;
  };
  for (const e of entries) {
    if (e.directory) {
      yield header({ path: e.name, type: "Directory", size: 0, mode: e.mode, mtime: e.mtime });
      continue;
    }
    const fd = openPlanned(e);
    try {
      const s = fstatSync(fd);
      yield header({ path: e.name, type: "File", size: s.size, mode: s.mode, mtime: s.mtime });
      let position = 0;
      while (position < s.size) {
        const buffer = Buffer.alloc(Math.min(COPY_BUFFER, s.size - position));
        const n = readSync(fd, buffer, 0, buffer.length, position);
        // A file that shrank since its header is padded with zeros, so the header's size holds.
        const piece = n === 0 ? Buffer.alloc(s.size - position) : buffer.subarray(0, n);
        position += piece.length;
        onBytes(piece.length);
        yield piece;
      }
      const pad = (TAR_BLOCK - (s.size % TAR_BLOCK)) % TAR_BLOCK;
      if (pad > 0) yield Buffer.alloc(pad);
    } finally {
      closeSync(fd);
    }
  }
  yield Buffer.alloc(2 * TAR_BLOCK);
}

/** The zip stream (yazl, deflated, ZIP64 where needed) of `entries`, each file opened by descriptor when yazl reaches it. */
async function zipStream(entries: readonly Planned[], onBytes: (n: number) => void): Promise<NodeJS.ReadableStream> {
  const { ZipFile } = await import("yazl");
  const zip = new ZipFile();
  for (const e of entries) {
    if (e.directory) {
      zip.addEmptyDirectory(e.name, { mtime: e.mtime, mode: e.mode });
      continue;
    }
    zip.addReadStreamLazy(e.name, { mtime: e.mtime, mode: e.mode }, (cb) => {
      try {
        const fd = openPlanned(e);
        const stream = createReadStream(at(rootFd, "."), { fd, highWaterMark: COPY_BUFFER });
        stream.on("data", (chunk) => onBytes(chunk.length));
        cb(null, stream);
      } catch (error) {
        cb(error, Readable.from([]));
      }
    });
  }
  zip.on("error", (error: Error) => (zip.outputStream as Readable).destroy(error));
  zip.end();
  return zip.outputStream;
}

/** ARCHIVE_CREATE: writes `paths` into the new file `destination` (through a hidden temporary file, renamed into place when complete). */
async function createArchive(args: Args, quotaBytes: number | null, report: Report): Promise<unknown> {
  const paths = args.paths;
  if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p): p is string => typeof p === "string")) throw new DoorError("invalid_argument", "paths must be a non-empty list of strings");
  const destination = str(args, "destination");
  const format = args.format;
  if (format !== "tar.gz" && format !== "zip") throw new DoorError("invalid_argument", "format must be tar.gz or zip");
  const dstParts = components(destination);
  const dstName = dstParts.pop();
  if (dstName === undefined) throw new DoorError("invalid_path", "destination: needs a path below the root");
  report(0, "listing the files to archive");
  const plan = planArchive(paths);
  const budget = budgetOf(Number.MAX_SAFE_INTEGER, quotaBytes);
  const dirFd = walk(dstParts, destination);
  try {
    if (exists(dirFd, dstName)) throw new DoorError("exists", `${destination}: already exists`);
    const temp = tempName(dstName);
    const out = openRegular(dirFd, temp, O_WRONLY | O_CREAT | O_EXCL, destination);
    let read = 0;
    const onBytes = (n: number): void => {
      read += n;
      report(plan.bytes === 0 ? 99 : (99 * read) / plan.bytes, `archiving: ${read} of ${plan.bytes} bytes`);
    };
    let written = 0;
    try {
      const meter = metered(budget, `the archive ${destination}`, (n) => (written = n));
      const sink = createWriteStream(at(dirFd, temp), { fd: out, flush: true });
      if (format === "zip") await pipeline(await zipStream(plan.entries, onBytes), meter, sink);
      else await pipeline(Readable.from(tarStream(plan.entries, onBytes)), createGzip(), meter, sink);
      if (exists(dirFd, dstName)) throw new DoorError("exists", `${destination}: already exists`);
      renameSync(at(dirFd, temp), at(dirFd, dstName));
    } catch (error) {
      try {
        unlinkSync(at(dirFd, temp));
      } catch {
        // Already gone (or never made): nothing to remove.
      }
      throw fsError(error, destination);
    }
    report(100, `archived ${plan.entries.length} entries into ${destination}`);
    return { entries: plan.entries.length, skipped: plan.skipped, bytes: written };
  } finally {
    release(dirFd);
  }
}

/** The components of an archive entry's name; names that are absolute or climb out (zip slip) refuse the archive. */
function entryParts(name: string): string[] {
  try {
    return components(name);
  } catch (error) {
    throw new DoorError("unsafe_entry", `the archive is refused: entry ${JSON.stringify(name)}: ${(error as Error).message}`);
  }
}

/** The archive's entry kinds that may be extracted; anything else (links, devices, FIFOs) refuses the whole archive. */
type EntryKind = "file" | "directory";

/**
 * One pass over an archive's entries within the limits. Without `baseFd` it only checks (the
 * scan before anything is written); with it, it writes each entry below that directory, every
 * directory opened by descriptor with O_NOFOLLOW and every file created with O_EXCL.
 */
class Extraction {
  readonly limits: { maxBytes: number; maxEntries: number; maxRatio: number };
  readonly budget: Budget;
  readonly baseFd: number | null;
  entries = 0;
  written = 0;
  constructor(limits: { maxBytes: number; maxEntries: number; maxRatio: number }, budget: Budget, baseFd: number | null) {
    this.limits = limits;
    this.budget = budget;
    this.baseFd = baseFd;
  }

  /** Counts one entry and checks its name and kind; returns its components (empty for the archive's own root). */
  enter(name: string, kind: EntryKind | string): string[] {
    this.entries++;
    if (this.entries > this.limits.maxEntries) throw new DoorError("limit_exceeded", `the archive is refused: it has more than ${this.limits.maxEntries} entries`);
    if (kind !== "file" && kind !== "directory") throw new DoorError("unsafe_entry", `the archive is refused: entry ${JSON.stringify(name)} is a ${kind}; only files and directories are extracted`);
    const parts = entryParts(name);
    if (parts.length === 0 && kind === "file") throw new DoorError("unsafe_entry", `the archive is refused: entry ${JSON.stringify(name)} has no name`);
    return parts;
  }

  /** Counts `n` inflated bytes of an entry that came from `compressed` bytes; throws past a limit. */
  account(n: number, entryBytes: number, compressed: number | null, name: string): void {
    this.written += n;
    if (this.written > this.budget.bytes) throw new DoorError(this.budget.code, `the archive is refused: it inflates to more than ${this.budget.reason}`);
    if (compressed !== null && entryBytes > RATIO_GRACE_BYTES && entryBytes > this.limits.maxRatio * Math.max(compressed, 1)) {
      throw new DoorError("limit_exceeded", `the archive is refused: entry ${JSON.stringify(name)} inflates more than ${this.limits.maxRatio} times its compressed size`);
    }
  }

  /** Opens (making what is missing) the directory `parts` below the base; the caller closes it unless it is the base. */
  directory(parts: readonly string[], mode: number | null, shown: string): number {
    if (this.baseFd === null) throw new DoorError("io_error", "no directory to extract into");
    // Permission bits from the archive (never setuid/setgid/sticky), made at mkdir so that a setgid
    // bit inherited from the parent stays (an unprivileged chmod would clear it).
    const wanted = mode === null ? null : (mode & 0o777) | 0o700;
    let fd = this.baseFd;
    try {
      for (const [i, part] of parts.entries()) {
        try {
          mkdirSync(at(fd, part), i === parts.length - 1 && wanted !== null ? wanted : 0o755);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        }
        const next = openChildDir(fd, part, shown);
        if (fd !== this.baseFd) closeSync(fd);
        fd = next;
      }
      if (wanted !== null && parts.length > 0 && (fstatSync(fd).mode & 0o777) !== wanted) fchmodSync(fd, wanted);
      return fd;
    } catch (error) {
      if (fd !== this.baseFd) closeSync(fd);
      throw fsError(error, shown);
    }
  }

  /** Creates the file `parts` (O_EXCL: an entry twice refuses the archive) and returns its descriptor. */
  file(parts: readonly string[], shown: string): number {
    const dirFd = this.directory(parts.slice(0, -1), null, shown);
    try {
      return openRegular(dirFd, parts.at(-1) ?? "", O_WRONLY | O_CREAT | O_EXCL, shown, 0o600);
    } catch (error) {
      throw fsError(error, shown);
    } finally {
      if (dirFd !== this.baseFd) closeSync(dirFd);
    }
  }

  /** Sets a written file's mode and modification time, then closes it. */
  finishFile(fd: number, mode: number | undefined, mtime: Date | undefined): void {
    try {
      fchmodSync(fd, (mode ?? 0o644) & 0o777);
      if (mtime && !Number.isNaN(mtime.getTime())) futimesSync(fd, mtime, mtime);
    } finally {
      closeSync(fd);
    }
  }
}

/** Everything one pass over a tar.gz sees: the file's bytes (from position 0), gunzipped, parsed by `tar`'s Parser. */
async function tarPass(archiveFd: number, archiveSize: number, x: Extraction, report: (done: number) => void): Promise<void> {
  const { Parser } = await import("tar");
  let failure: unknown = null;
  const fail = (error: unknown): void => {
    failure ??= error;
  };
  const parser = new Parser({ strict: true });
  /** The file being written, closed when its entry ends or the pass fails. */
  let open: number | null = null;
  parser.on("entry", (entry: { path: string; type: string; size: number; mode?: number; mtime?: Date; on(event: "data", fn: (chunk: Buffer) => void): void; on(event: "end", fn: () => void): void; resume(): void }) => {
    if (failure !== null) return entry.resume();
    try {
      const kind = entry.type === "File" || entry.type === "OldFile" || entry.type === "ContiguousFile" ? "file" : entry.type === "Directory" ? "directory" : entry.type.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
      const parts = x.enter(entry.path, kind);
      if (kind === "directory") {
        if (x.baseFd !== null) {
          const fd = x.directory(parts, entry.mode ?? 0o755, entry.path);
          if (fd !== x.baseFd) closeSync(fd);
        }
        return entry.resume();
      }
      const fd = x.baseFd === null ? null : x.file(parts, entry.path);
      open = fd;
      let size = 0;
      entry.on("data", (chunk) => {
        if (failure !== null) return;
        try {
          size += chunk.length;
          x.account(chunk.length, size, null, entry.path);
          if (fd !== null) writeAll(fd, chunk, size - chunk.length);
        } catch (error) {
          fail(error);
        }
      });
      entry.on("end", () => {
        if (fd === null || open !== fd) return;
        open = null;
        try {
          x.finishFile(fd, entry.mode, entry.mtime);
        } catch (error) {
          fail(fsError(error, entry.path));
        }
      });
    } catch (error) {
      fail(error);
      entry.resume();
    }
  });
  parser.on("error", (error: Error) => fail(new DoorError("invalid_archive", `the archive is not a valid tar.gz: ${error.message}`)));
  parser.on("warn", (_code: string, message: string | Error) => fail(new DoorError("invalid_archive", `the archive is not a valid tar.gz: ${String(message)}`)));
  const ended = new Promise<void>((resolve) => parser.on("end", () => resolve()));
  // The inflated stream (headers, data and padding) is limited as a whole, so neither padding nor
  // skipped data can inflate without bound (16 blocks per entry cover its headers, a PAX record of
  // a long name and padding); past 1 MiB it may not exceed maxRatio times the compressed input.
  const streamCap = x.limits.maxBytes + (x.limits.maxEntries + 2) * 16 * TAR_BLOCK;
  let compressed = 0;
  let inflated = 0;
  // Read with positions (not a ReadStream on the descriptor, whose destroy() would close it: the second pass reads it again).
  function* chunks(): Generator<Buffer> {
    for (;;) {
      const buffer = Buffer.alloc(COPY_BUFFER);
      const n = readSync(archiveFd, buffer, 0, buffer.length, compressed);
      if (n === 0) return;
      compressed += n;
      report(compressed);
      yield buffer.subarray(0, n);
    }
  }
  // One chunk read ahead at most, so `compressed` stays close to what the inflater has consumed.
  const input = Readable.from(chunks(), { highWaterMark: 1 });
  const gunzip = input.pipe(createGunzip());
  input.on("error", (error) => gunzip.destroy(error));
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      inflated += chunk.length;
      if (inflated > streamCap) throw new DoorError("limit_exceeded", `the archive is refused: it inflates to more than the limit of ${x.limits.maxBytes} bytes`);
      if (inflated > RATIO_GRACE_BYTES && inflated > x.limits.maxRatio * Math.max(compressed, 1)) throw new DoorError("limit_exceeded", `the archive is refused: it inflates more than ${x.limits.maxRatio} times its compressed size`);
      if (!parser.write(chunk)) await new Promise<void>((resolve) => parser.once("drain", () => resolve()));
      if (failure !== null) throw failure;
    }
    parser.end();
    await ended;
    if (failure !== null) throw failure;
  } catch (error) {
    input.destroy();
    gunzip.destroy();
    if (open !== null) closeSync(open);
    if (error instanceof DoorError) throw error;
    throw new DoorError("invalid_archive", `the archive is not a valid tar.gz: ${(error as Error).message}`);
  }
  if (compressed !== archiveSize) report(archiveSize);
}

/** One zip entry as this door reads it: decoded name, kind (from the Unix mode, or a trailing "/"), mode and sizes as declared. */
interface ZipItem {
  entry: import("yauzl").Entry;
  name: string;
  kind: string;
  mode: number | undefined;
}

/** The entries of the zip open on `fd`, read from its central directory (yauzl, names decoded and checked here). */
async function zipItems(fd: number): Promise<{ zip: import("yauzl").ZipFile; items: ZipItem[] }> {
  const yauzl = await import("yauzl");
  let zip: import("yauzl").ZipFile;
  try {
    zip = await yauzl.fromFdPromise(fd, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: false });
  } catch (error) {
    throw new DoorError("invalid_archive", `the archive is not a valid zip: ${(error as Error).message}`);
  }
  const items: ZipItem[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      const unix = entry.versionMadeBy >> 8 === 3 ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
      const type = unix & 0o170000;
      const kind = type === 0 ? (name.endsWith("/") ? "directory" : "file")
        : type === 0o100000 ? "file" : type === 0o040000 ? "directory" : type === 0o120000 ? "symbolic link" : "special file";
      if (entry.isEncrypted()) throw new DoorError("invalid_archive", `the archive is refused: entry ${JSON.stringify(name)} is encrypted`);
      items.push({ entry, name, kind, mode: unix === 0 ? undefined : unix & 0o7777 });
    }
  } catch (error) {
    if (error instanceof DoorError) throw error;
    throw new DoorError("invalid_archive", `the archive is not a valid zip: ${(error as Error).message}`);
  }
  return { zip, items };
}

/** ARCHIVE_EXTRACT: checks the whole archive, then extracts it into a hidden directory beside `destination`, renamed into place only when complete. */
async function extractArchive(args: Args, quotaBytes: number | null, report: Report): Promise<unknown> {
  const path = str(args, "path");
  const destination = str(args, "destination");
  const rawLimits = typeof args.limits === "object" && args.limits !== null ? (args.limits as Args) : {};
  const limits = { maxBytes: int(rawLimits, "maxBytes"), maxEntries: int(rawLimits, "maxEntries"), maxRatio: int(rawLimits, "maxRatio") };
  const lower = path.toLowerCase();
  const format = lower.endsWith(".zip") ? "zip" : lower.endsWith(".tar.gz") || lower.endsWith(".tgz") ? "tar.gz" : null;
  if (format === null) throw new DoorError("invalid_argument", `${path}: not a .zip, .tar.gz or .tgz file`);
  const dstParts = components(destination);
  const dstName = dstParts.pop();
  if (dstName === undefined) throw new DoorError("invalid_path", "destination: needs a path below the root");
  const archiveFd = inParent(path, (dirFd, name) => openRegular(dirFd, name, O_RDONLY, path));
  try {
    const archiveSize = fstatSync(archiveFd).size;
    const budget = budgetOf(limits.maxBytes, quotaBytes);
    const dirFd = walk(dstParts, destination);
    try {
      if (exists(dirFd, dstName)) throw new DoorError("exists", `${destination}: already exists`);
      report(0, `checking ${path}`);
      let run: (baseFd: number) => Promise<Extraction>;
      if (format === "zip") {
        const { zip, items } = await zipItems(archiveFd);
        const scan = new Extraction(limits, budget, null);
        let declared = 0;
        for (const item of items) {
          scan.enter(item.name, item.kind);
          declared += item.entry.uncompressedSize;
        }
        if (declared > budget.bytes) throw new DoorError(budget.code, `the archive is refused: its entries declare ${declared} bytes, more than ${budget.reason}`);
        run = async (baseFd) => {
          const x = new Extraction(limits, budget, baseFd);
          const total = Math.max(1, declared);
          for (const item of items) {
            const parts = x.enter(item.name, item.kind);
            if (item.kind === "directory") {
              const fd = x.directory(parts, item.mode ?? 0o755, item.name);
              if (fd !== baseFd) closeSync(fd);
              continue;
            }
            const fd = x.file(parts, item.name);
            let size = 0;
            try {
              const stream = await zip.openReadStreamPromise(item.entry);
              try {
                for await (const chunk of stream as AsyncIterable<Buffer>) {
                  size += chunk.length;
                  x.account(chunk.length, size, item.entry.compressedSize, item.name);
                  writeAll(fd, chunk, size - chunk.length);
                  report(5 + (94 * x.written) / total, `extracting: ${x.written} bytes`);
                }
              } finally {
                stream.destroy();
              }
            } catch (error) {
              closeSync(fd);
              if (error instanceof DoorError) throw error;
              throw new DoorError("invalid_archive", `the archive is refused: entry ${JSON.stringify(item.name)}: ${(error as Error).message}`);
            }
            x.finishFile(fd, item.mode, item.entry.getLastModDate());
          }
          return x;
        };
      } else {
        await tarPass(archiveFd, archiveSize, new Extraction(limits, budget, null), (done) => report((30 * done) / Math.max(archiveSize, 1), `checking ${path}: ${done} of ${archiveSize} bytes`));
        run = async (baseFd) => {
          const x = new Extraction(limits, budget, baseFd);
          await tarPass(archiveFd, archiveSize, x, (done) => report(30 + (69 * done) / Math.max(archiveSize, 1), `extracting: ${done} of ${archiveSize} bytes read`));
          return x;
        };
      }
      const temp = `.mpanel-extract-${process.pid}-${Date.now().toString(36)}`;
      mkdirSync(at(dirFd, temp), 0o755);
      let done: Extraction;
      try {
        const tempFd = openChildDir(dirFd, temp, destination);
        try {
          done = await run(tempFd);
        } finally {
          closeSync(tempFd);
        }
        if (exists(dirFd, dstName)) throw new DoorError("exists", `${destination}: already exists`);
        renameSync(at(dirFd, temp), at(dirFd, dstName));
      } catch (error) {
        try {
          removeEntry(dirFd, temp, destination);
        } catch {
          // Removed by someone else meanwhile: nothing left to remove.
        }
        throw fsError(error, destination);
      }
      report(100, `extracted ${done.entries} entries (${done.written} bytes) into ${destination}`);
      return { entries: done.entries, bytes: done.written };
    } finally {
      release(dirFd);
    }
  } finally {
    closeSync(archiveFd);
  }
}

/** Archive mode: reads one request from stdin, runs it, writes progress lines and the outcome to stdout, exits. */
async function archiveMode(): Promise<void> {
  const input: Buffer[] = [];
  for await (const chunk of process.stdin) input.push(chunk as Buffer);
  let outcome: Record<string, unknown>;
  try {
    const request = JSON.parse(Buffer.concat(input).toString("utf8")) as { op?: unknown; args?: unknown; quotaBytes?: unknown };
    const args = typeof request.args === "object" && request.args !== null ? (request.args as Args) : {};
    const quotaBytes = request.quotaBytes === null || request.quotaBytes === undefined ? null : int(request as Args, "quotaBytes");
    const report = progressReporter();
    if (request.op === "create") outcome = { ok: true, result: await createArchive(args, quotaBytes, report) };
    else if (request.op === "extract") outcome = { ok: true, result: await extractArchive(args, quotaBytes, report) };
    else throw new DoorError("invalid_argument", `unknown archive operation ${String(request.op)}`);
  } catch (error) {
    const failure = error instanceof DoorError ? error : fsError(error, "");
    outcome = { ok: false, code: failure.code, message: failure.message };
  }
  process.stdout.write(`${JSON.stringify(outcome)}\n`, () => process.exit(0));
}

/** Received bytes not yet parsed into frames (kept as a list: one copy per frame, not per read). */
let chunks: Buffer[] = [];
let buffered = 0;

/** The first `n` buffered bytes as one buffer, removed from the list. */
function take(n: number): Buffer {
  const all = chunks.length === 1 ? chunks[0] ?? Buffer.alloc(0) : Buffer.concat(chunks, buffered);
  chunks = all.length > n ? [all.subarray(n)] : [];
  buffered -= n;
  return all.subarray(0, n);
}

/** The first `n` buffered bytes without removing them. */
function peek(n: number): Buffer {
  if ((chunks[0]?.length ?? 0) < n) chunks = [Buffer.concat(chunks, buffered)];
  return (chunks[0] ?? Buffer.alloc(0)).subarray(0, n);
}

/** Answers framed requests on stdin until it ends. */
function serve(): void {
  process.stdin.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    buffered += chunk.length;
    while (buffered >= 8) {
      const prefix = peek(8);
      const headerLength = prefix.readUInt32BE(0);
      const dataLength = prefix.readUInt32BE(4);
      if (buffered < 8 + headerLength + dataLength) break;
      const frame = take(8 + headerLength + dataLength);
      const header = JSON.parse(frame.subarray(8, 8 + headerLength).toString("utf8")) as { id: unknown; op: unknown; args: unknown };
      const reply = handle(header, frame.subarray(8 + headerLength));
      send(reply.header, reply.data);
    }
  });
  process.stdin.on("end", () => process.exit(0));
}

if (process.argv[2] === "archive") void archiveMode();
else serve();
