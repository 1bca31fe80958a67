/**
 * The file manager's one door to a CloudPod's disk (DESIGN section 7). The agent runs this file
 * as a child process with the CloudPod's uid/gid (`node door.ts`: Node's own type stripping,
 * node: builtins only), so the kernel enforces the user's rights on every access. The agent
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
 */
import { constants, closeSync, fchmodSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, readlinkSync, renameSync, rmdirSync, statfsSync, unlinkSync, writeSync, type Stats } from "node:fs";

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
        if (quotaBytes !== null && size > quotaBytes) throw new DoorError("quota_exceeded", `${size} bytes are over the CloudPod's remaining quota of ${quotaBytes} bytes`);
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
