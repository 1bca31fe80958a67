import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create, TerminalExitSchema, type CoordinatorMessageSchema, type FileOpResult, type TerminalExit } from "@mpanel/proto";
import { AppError } from "../errors";

/** A message to an agent (the `msg` oneof of CoordinatorMessage). */
export type ToAgent = MessageInitShape<typeof CoordinatorMessageSchema>["msg"];

/** How the gateway writes to one connected agent's stream. */
export interface AgentLink {
  /** Writes one message; false when the stream's buffer is full (wait for `drained`). */
  send(msg: ToAgent): boolean;
  /** Resolves once the stream's buffer has room again. */
  drained(): Promise<void>;
}

/** Receives one terminal session's traffic from its agent. */
export interface TerminalSink {
  output(data: Uint8Array): void;
  exit(exit: TerminalExit): void;
}

/** A file operation's answer: its JSON result and, for reads, the bytes. */
export interface FileAnswer {
  result: unknown;
  data: Uint8Array;
}

/** How long a file operation may take on the node before the caller gets 503 (ms). */
const FILE_OP_TIMEOUT_MS = 120_000;

/** Door refusals answered 400 (the request names something the door will not touch). */
const REFUSALS = new Set(["invalid_path", "invalid_argument", "symlink_refused", "not_a_regular_file", "not_a_directory", "is_a_directory", "too_large", "not_text"]);

/** Maps an agent's file-operation failure to the API error (the door's code leads the message). */
function fileError(r: FileOpResult): AppError {
  const message = `${r.errorCode}: ${r.errorMessage}`;
  if (REFUSALS.has(r.errorCode)) return new AppError("validation", message, [{ field: "path", message }]);
  if (r.errorCode === "not_found") return new AppError("not_found", message);
  if (r.errorCode === "exists" || r.errorCode === "not_empty" || r.errorCode === "offset_mismatch") return new AppError("conflict", message);
  if (r.errorCode === "no_space" || r.errorCode === "quota_exceeded") return new AppError("no_capacity", message);
  if (r.errorCode === "permission_denied") return new AppError("forbidden", message);
  return new AppError("unavailable", message);
}

/**
 * The coordinator's side of the non-job traffic on agents' streams: file operations (request
 * -> `FileOpResult`, matched by request id, with a timeout) and terminal sessions (output and
 * exit routed to their sink by session id). A node's pending operations fail with
 * `unavailable` and its terminals exit when its stream ends. Only nodes whose stream is on
 * this replica are reachable (`unavailable` otherwise).
 */
export function createNodeChannels() {
  const links = new Map<string, AgentLink>();
  const files = new Map<string, { nodeId: string; resolve(answer: FileAnswer): void; reject(error: Error): void; timer: NodeJS.Timeout }>();
  const terminals = new Map<string, { nodeId: string; sink: TerminalSink }>();

  const linkOf = (nodeId: string): AgentLink => {
    const link = links.get(nodeId);
    if (!link) throw new AppError("unavailable", "the CloudPod's node is not connected");
    return link;
  };

  return {
    /** The node's stream is up (replaces an older one). */
    attach(nodeId: string, link: AgentLink): void {
      links.set(nodeId, link);
    },

    /** The node's stream ended: its operations fail, its terminals exit. */
    detach(nodeId: string, link: AgentLink): void {
      if (links.get(nodeId) !== link) return;
      links.delete(nodeId);
      for (const [id, pending] of files) {
        if (pending.nodeId !== nodeId) continue;
        files.delete(id);
        clearTimeout(pending.timer);
        pending.reject(new AppError("unavailable", "the node disconnected"));
      }
      for (const [id, terminal] of terminals) {
        if (terminal.nodeId !== nodeId) continue;
        terminals.delete(id);
        terminal.sink.exit(create(TerminalExitSchema, { sessionId: id, exitCode: -1, reason: "node disconnected" }));
      }
    },

    /**
     * Runs `op` (see proto/src/files.ts) as `systemUser` on the node, waiting until its stream
     * can take more when `data` is large. Throws AppError: `unavailable` (node not connected,
     * disconnected or timed out), or the door's refusal mapped by kind (400, 404, 409, 403).
     */
    async fileOp(nodeId: string, systemUser: string, op: string, args: unknown, data?: Uint8Array): Promise<FileAnswer> {
      const link = linkOf(nodeId);
      const requestId = randomUUID();
      const answer = new Promise<FileAnswer>((resolve, reject) => {
        const timer = setTimeout(() => {
          files.delete(requestId);
          reject(new AppError("unavailable", "the node did not answer the file operation in time"));
        }, FILE_OP_TIMEOUT_MS);
        files.set(requestId, { nodeId, resolve, reject, timer });
      });
      const room = link.send({ case: "fileOp", value: { requestId, systemUser, op, argsJson: JSON.stringify(args), ...(data ? { chunk: { offset: 0n, data } } : {}) } });
      if (!room) await link.drained();
      return answer;
    },

    /** An agent answered a file operation. */
    onFileResult(nodeId: string, r: FileOpResult): void {
      const pending = files.get(r.requestId);
      if (!pending || pending.nodeId !== nodeId) return;
      files.delete(r.requestId);
      clearTimeout(pending.timer);
      if (r.ok) pending.resolve({ result: r.resultJson ? JSON.parse(r.resultJson) : null, data: r.chunk?.data ?? new Uint8Array() });
      else pending.reject(fileError(r));
    },

    /** Registers a terminal session's sink and sends `msg` (its TerminalOpen). Throws `unavailable` when the node is not connected. */
    openTerminal(nodeId: string, sessionId: string, sink: TerminalSink, open: ToAgent): void {
      const link = linkOf(nodeId);
      terminals.set(sessionId, { nodeId, sink });
      link.send(open);
    },

    /** Sends input, resize, acknowledgement or close of a terminal session; false when its node is gone. */
    toTerminal(sessionId: string, msg: ToAgent): boolean {
      const terminal = terminals.get(sessionId);
      const link = terminal && links.get(terminal.nodeId);
      if (!link) return false;
      link.send(msg);
      return true;
    },

    /** Forgets a terminal session (after its exit or its close). */
    dropTerminal(sessionId: string): void {
      terminals.delete(sessionId);
    },

    /** An agent sent terminal output. */
    onTerminalOutput(nodeId: string, sessionId: string, data: Uint8Array): void {
      const terminal = terminals.get(sessionId);
      if (terminal?.nodeId === nodeId) terminal.sink.output(data);
    },

    /** An agent's terminal session ended. */
    onTerminalExit(nodeId: string, exit: TerminalExit): void {
      const terminal = terminals.get(exit.sessionId);
      if (terminal?.nodeId !== nodeId) return;
      terminals.delete(exit.sessionId);
      terminal.sink.exit(exit);
    },
  };
}

export type NodeChannels = ReturnType<typeof createNodeChannels>;
