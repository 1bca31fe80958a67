import { spawn } from "node:child_process";
import type { Writable } from "node:stream";
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { FileOpArgs, isFileOpName, SystemUser, type FileOp } from "@mpanel/proto";
import type { Logger } from "pino";
import type { AgentConfig } from "../config";
import { lookupSystemUser } from "../drivers/system-users";
import { podRoot } from "../jobs/web/paths";
import type { AgentSession } from "../session";

/** The door script beside this module, run as the CloudPod's user: the TypeScript source (Node's type stripping), or `door.mjs` beside `agent.mjs` in the agent bundle. */
export const DOOR_SCRIPT = new URL(import.meta.url.endsWith(".ts") ? "./door.ts" : "./door.mjs", import.meta.url).pathname;
/** A door process with nothing to do for this long is ended (ms). */
const DOOR_IDLE_MS = 30_000;

/** What a door answers: the result (or the refusal) and, for `read`, the bytes. */
interface DoorReply {
  ok: boolean;
  result?: unknown;
  code?: string;
  message?: string;
  data: Buffer;
}

/** A refusal before the door is reached (bad arguments, unknown user). */
export class FileOpError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * Opens the root `<podsRoot>/<systemUser>` of a CloudPod (O_DIRECTORY | O_NOFOLLOW) after checking
 * its system user: it must exist, not be root, and own the root. Returns the descriptor (the
 * caller closes it) and the user's uid/gid. Throws FileOpError `invalid_argument` or `unknown_user`.
 */
export async function openPodRoot(config: AgentConfig, systemUser: string): Promise<{ rootFd: number; uid: number; gid: number }> {
  const user = SystemUser.safeParse(systemUser);
  if (!user.success) throw new FileOpError("invalid_argument", "systemUser: not a CloudPod user name");
  const account = await lookupSystemUser(user.data);
  if (!account || account.uid === 0 || account.gid === 0) throw new FileOpError("unknown_user", `no CloudPod user ${systemUser} on this node`);
  let rootFd: number;
  try {
    rootFd = openSync(podRoot(config, account.name), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    throw new FileOpError("unknown_user", `the CloudPod root of ${systemUser} is missing`);
  }
  if (fstatSync(rootFd).uid !== account.uid) {
    closeSync(rootFd);
    throw new FileOpError("unknown_user", `the CloudPod root of ${systemUser} is not owned by it`);
  }
  return { rootFd, uid: account.uid, gid: account.gid };
}

/** One running door: a child process as one CloudPod user, answering framed requests in order. */
class Door {
  private readonly stdin: Writable;
  private readonly waiting = new Map<number, (reply: DoorReply) => void>();
  private nextId = 1;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes the frame being received needs in all (0: not known yet). */
  private needed = 0;
  private idle: NodeJS.Timeout | undefined;
  private stderr = "";
  closed = false;

  /** Starts the door as uid/gid on the root directory open on `rootFd` (inherited as fd 3; the caller closes its copy). */
  constructor(rootFd: number, uid: number, gid: number, private readonly onClose: () => void) {
    const child = spawn(process.execPath, [DOOR_SCRIPT], { uid, gid, cwd: "/", env: {}, stdio: ["pipe", "pipe", "pipe", rootFd] });
    const { stdin, stdout, stderr } = child;
    if (!stdin || !stdout || !stderr) throw new Error("the door's pipes are missing");
    this.stdin = stdin;
    stdout.on("data", (chunk: Buffer) => this.receive(chunk));
    stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
    stdin.on("error", () => this.fail());
    child.on("error", () => this.fail());
    child.on("exit", () => this.fail());
    this.touch();
  }

  private touch(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.close(), DOOR_IDLE_MS);
    this.idle.unref();
  }

  private fail(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idle);
    const message = this.stderr.trim().split("\n").at(-1) || "the file door exited";
    for (const resolve of this.waiting.values()) resolve({ ok: false, code: "door_failed", message, data: Buffer.alloc(0) });
    this.waiting.clear();
    this.onClose();
  }

  private receive(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      // Pieces are joined only once the whole frame is there (one copy per frame, not per pipe read).
      if (this.buffered < Math.max(8, this.needed)) return;
      const all = this.chunks.length === 1 ? (this.chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(this.chunks, this.buffered);
      this.chunks = [all];
      const headerLength = all.readUInt32BE(0);
      const dataLength = all.readUInt32BE(4);
      const end = 8 + headerLength + dataLength;
      this.needed = end;
      if (all.length < end) return;
      this.needed = 0;
      const header = JSON.parse(all.subarray(8, 8 + headerLength).toString("utf8")) as Omit<DoorReply, "data"> & { id: number };
      const data = Buffer.from(all.subarray(8 + headerLength, end));
      this.chunks = all.length > end ? [all.subarray(end)] : [];
      this.buffered -= end;
      const resolve = this.waiting.get(header.id);
      this.waiting.delete(header.id);
      resolve?.({ ok: header.ok, result: header.result, code: header.code, message: header.message, data });
    }
  }

  /** Sends one request; resolves with the door's answer (never rejects). */
  request(op: string, args: unknown, data: Uint8Array): Promise<DoorReply> {
    this.touch();
    const id = this.nextId++;
    const header = Buffer.from(JSON.stringify({ id, op, args }));
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(header.length, 0);
    prefix.writeUInt32BE(data.length, 4);
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.stdin.write(Buffer.concat([prefix, header, data]));
    });
  }

  close(): void {
    this.stdin.end();
    this.fail();
  }
}

/**
 * The agent's file manager (DESIGN section 7): answers each `FileOp` of the stream with a
 * `FileOpResult`. The operation's arguments are validated with the proto schemas, the
 * CloudPod's system user is looked up (it must exist, not be root, and own its root
 * `<podsRoot>/<systemUser>`), and the operation runs in that user's door process (one per user,
 * ended after 30 s idle; requests of one user run in order). Error codes are the door's
 * (`invalid_path`, `symlink_refused`, `not_found`, `not_a_regular_file`, `offset_mismatch`,
 * `no_space`, `quota_exceeded`, `too_large`, ...) or `invalid_argument` / `unknown_user`.
 */
export function startFileManager(deps: { config: AgentConfig; session: AgentSession; log: Logger }): { stop(): void } {
  const doors = new Map<string, Promise<Door>>();

  /** Starts the door of `systemUser` after checking the account and its root. */
  async function openDoor(systemUser: string): Promise<Door> {
    const { rootFd, uid, gid } = await openPodRoot(deps.config, systemUser);
    try {
      return new Door(rootFd, uid, gid, () => doors.delete(systemUser));
    } finally {
      closeSync(rootFd);
    }
  }

  /** The running door of `systemUser` (one per user: concurrent callers share its start). */
  function doorFor(systemUser: string): Promise<Door> {
    let door = doors.get(systemUser);
    if (!door) {
      door = openDoor(systemUser);
      doors.set(systemUser, door);
      door.catch(() => doors.delete(systemUser));
    }
    return door;
  }

  async function run(op: FileOp): Promise<DoorReply> {
    if (!isFileOpName(op.op)) throw new FileOpError("invalid_argument", `op: unknown operation ${op.op}`);
    let args: unknown;
    try {
      args = JSON.parse(op.argsJson || "{}");
    } catch {
      throw new FileOpError("invalid_argument", "args: not JSON");
    }
    const parsed = FileOpArgs[op.op].safeParse(args);
    if (!parsed.success) throw new FileOpError("invalid_argument", parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    const door = await doorFor(op.systemUser);
    return door.request(op.op, parsed.data, op.chunk?.data ?? new Uint8Array());
  }

  deps.session.listen({
    message(msg) {
      if (msg.case !== "fileOp") return;
      const op = msg.value;
      run(op).catch((error: unknown): DoorReply => ({
        ok: false, data: Buffer.alloc(0),
        code: error instanceof FileOpError ? error.code : "internal",
        message: error instanceof FileOpError ? error.message : "the file operation failed",
      })).then((reply) => {
        if (!reply.ok && reply.code === "internal") deps.log.error({ op: op.op, requestId: op.requestId }, "file operation failed");
        const offset = typeof reply.result === "object" && reply.result !== null && "offset" in reply.result ? Number(reply.result.offset) : 0;
        deps.session.sendLive({ case: "fileOpResult", value: {
          requestId: op.requestId, ok: reply.ok, resultJson: reply.ok ? JSON.stringify(reply.result ?? null) : "",
          chunk: reply.data.length > 0 ? { offset: BigInt(offset), data: reply.data } : undefined,
          errorCode: reply.code ?? "", errorMessage: reply.message ?? "",
        } });
      });
    },
  });
  return {
    /** Ends every door process. */
    stop(): void {
      for (const door of doors.values()) door.then((d) => d.close(), () => undefined);
      doors.clear();
    },
  };
}
