import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create, TerminalExitSchema, TerminalOutputSchema, type AgentMessage, type CoordinatorMessage, type CoordinatorMessageSchema, type FileOpResult, type TerminalExit } from "@mpanel/proto";
import { AppError } from "../errors";

/** A message to an agent (the `msg` oneof of CoordinatorMessage). */
export type ToAgent = MessageInitShape<typeof CoordinatorMessageSchema>["msg"];

/** A message from an agent relayed to the replica that asked for it (the `msg` oneof of AgentMessage). */
export type FromAgent = AgentMessage["msg"];

/** A message to an agent as it arrives from another replica (decoded, every field present). */
export type RelayedToAgent = CoordinatorMessage["msg"];

/**
 * How NodeChannels reaches nodes whose stream is on another replica (cluster/node-routing.ts,
 * over Redis). Every method but `ownerOf` is fire-and-forget: a message that cannot be
 * delivered makes the transport call `peerLost` for that replica.
 */
export interface RemoteNodes {
  /** This replica now holds the node's stream (newest claim wins). */
  claim(nodeId: string): void;
  /** This replica no longer holds the node's stream (the claim is dropped only if still ours). */
  release(nodeId: string): void;
  /** The id of the other replica holding the node's stream, or null (none, or a stale claim of this one). Throws when the registry cannot be read. */
  ownerOf(nodeId: string): Promise<string | null>;
  /** Sends `msg` to the node through `owner`, the replica holding its stream. */
  forward(owner: string, nodeId: string, msg: ToAgent): void;
  /** Sends the node's `msg` back to `requester`, the replica that asked for it. */
  answer(requester: string, nodeId: string, msg: FromAgent): void;
  /** Tells `requester` that the node's stream is not (or no longer) on this replica. */
  gone(requester: string, nodeId: string): void;
}

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

/** The exit reason of a terminal whose node no replica holds (several replicas). */
export const NODE_NOT_CONNECTED = "node not connected";

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
 * `unavailable` and its terminals exit when its stream ends.
 *
 * Without `useRemote` only nodes whose stream is on this replica are reachable (`unavailable`
 * otherwise). With it (several replicas, DESIGN section 5), a node whose stream is elsewhere is
 * reached through the replica that holds it: this replica (the requester) forwards the
 * operation's messages there, the holder (the owner) relays them to the agent and relays the
 * agent's answers, output and exit back. Flow control is end to end (the browser's acks
 * travel to the agent). When the owner loses the node, or either replica is lost
 * (`peerLost`), the requester's pending operations fail with `unavailable` and its terminals
 * exit, and the owner closes the shells it ran for the lost requester.
 */
export function createNodeChannels() {
  const links = new Map<string, AgentLink>();
  /** Pending file operations asked here; `owner` is the replica relaying them (null: this one). */
  const files = new Map<string, { nodeId: string; owner: string | null; resolve(answer: FileAnswer): void; reject(error: Error): void; timer: NodeJS.Timeout }>();
  /** Terminal sessions opened here: local (`owner` null), waiting for the owner's lookup (`queue` holds their first messages), or relayed by `owner`. */
  const terminals = new Map<string, { nodeId: string; sink: TerminalSink; owner: string | null; queue: ToAgent[] | null }>();
  /** File operations and terminals this replica relays for another (the requester). */
  const relayedFiles = new Map<string, { nodeId: string; requester: string; timer: NodeJS.Timeout }>();
  const relayedTerminals = new Map<string, { nodeId: string; requester: string }>();
  let remote: RemoteNodes | null = null;

  const notConnected = (): AppError => new AppError("unavailable", "the CloudPod's node is not connected");

  /** The replica holding the node's stream; throws `unavailable` when there is none (or no cluster). */
  const ownerOf = async (nodeId: string): Promise<{ owner: string; via: RemoteNodes }> => {
    const via = remote;
    if (!via) throw notConnected();
    const owner = await via.ownerOf(nodeId).catch((error: unknown) => {
      throw new AppError("unavailable", "the cluster registry cannot be reached", undefined, { cause: error });
    });
    if (!owner) throw notConnected();
    return { owner, via };
  };

  /** Fails this replica's operations and terminals relayed by `owner` (for `nodeId`, or all). */
  const endRelayedBy = (owner: string, nodeId: string | null, reason: string): void => {
    for (const [id, pending] of files) {
      if (pending.owner !== owner || (nodeId !== null && pending.nodeId !== nodeId)) continue;
      files.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new AppError("unavailable", reason));
    }
    for (const [id, terminal] of terminals) {
      if (terminal.owner !== owner || (nodeId !== null && terminal.nodeId !== nodeId)) continue;
      terminals.delete(id);
      terminal.sink.exit(create(TerminalExitSchema, { sessionId: id, exitCode: -1, reason }));
    }
  };

  /** Forgets what this replica relays for `requester` to nodes matching `nodeId` (all when null), closing their shells when `closeShells`. */
  const dropRelayedFor = (requester: string | null, nodeId: string | null, closeShells: boolean): Set<string> => {
    const requesters = new Set<string>();
    const matches = (entry: { nodeId: string; requester: string }): boolean =>
      (requester === null || entry.requester === requester) && (nodeId === null || entry.nodeId === nodeId);
    for (const [id, relayed] of relayedFiles) {
      if (!matches(relayed)) continue;
      relayedFiles.delete(id);
      clearTimeout(relayed.timer);
      requesters.add(relayed.requester);
    }
    for (const [id, relayed] of relayedTerminals) {
      if (!matches(relayed)) continue;
      relayedTerminals.delete(id);
      requesters.add(relayed.requester);
      if (closeShells) links.get(relayed.nodeId)?.send({ case: "terminalClose", value: { sessionId: id, reason: "the browser's replica is gone" } });
    }
    return requesters;
  };

  return {
    /** Routes operations on nodes whose stream is on another replica through `transport` (set once, before the gateway listens). */
    useRemote(transport: RemoteNodes): void {
      remote = transport;
      for (const nodeId of links.keys()) transport.claim(nodeId);
    },

    /** The node's stream is up (replaces an older one). Sessions still relayed by another replica for it end: its stream moved here. */
    attach(nodeId: string, link: AgentLink): void {
      links.set(nodeId, link);
      remote?.claim(nodeId);
      const owners = new Set([...files.values(), ...terminals.values()].flatMap((e) => (e.nodeId === nodeId && e.owner !== null ? [e.owner] : [])));
      for (const owner of owners) endRelayedBy(owner, nodeId, "node reconnected elsewhere");
    },

    /** The node's stream ended: its operations fail, its terminals exit, and the replicas it relayed for are told. */
    detach(nodeId: string, link: AgentLink): void {
      if (links.get(nodeId) !== link) return;
      links.delete(nodeId);
      remote?.release(nodeId);
      for (const [id, pending] of files) {
        if (pending.nodeId !== nodeId || pending.owner !== null) continue;
        files.delete(id);
        clearTimeout(pending.timer);
        pending.reject(new AppError("unavailable", "the node disconnected"));
      }
      for (const [id, terminal] of terminals) {
        if (terminal.nodeId !== nodeId || terminal.owner !== null || terminal.queue !== null) continue;
        terminals.delete(id);
        terminal.sink.exit(create(TerminalExitSchema, { sessionId: id, exitCode: -1, reason: "node disconnected" }));
      }
      for (const requester of dropRelayedFor(null, nodeId, false)) remote?.gone(requester, nodeId);
    },

    /**
     * Runs `op` (see proto/src/files.ts) as `systemUser` on the node, waiting until its stream
     * can take more when `data` is large (local streams; a relayed operation has one message in
     * flight). Throws AppError: `unavailable` (node not connected, disconnected, its replica
     * lost or timed out), or the door's refusal mapped by kind (400, 404, 409, 403).
     */
    async fileOp(nodeId: string, systemUser: string, op: string, args: unknown, data?: Uint8Array): Promise<FileAnswer> {
      const link = links.get(nodeId);
      const route = link ? null : await ownerOf(nodeId);
      const requestId = randomUUID();
      const answer = new Promise<FileAnswer>((resolve, reject) => {
        const timer = setTimeout(() => {
          files.delete(requestId);
          reject(new AppError("unavailable", "the node did not answer the file operation in time"));
        }, FILE_OP_TIMEOUT_MS);
        files.set(requestId, { nodeId, owner: route?.owner ?? null, resolve, reject, timer });
      });
      const msg: ToAgent = { case: "fileOp", value: { requestId, systemUser, op, argsJson: JSON.stringify(args), ...(data ? { chunk: { offset: 0n, data } } : {}) } };
      if (route) route.via.forward(route.owner, nodeId, msg);
      else if (link && !link.send(msg)) await link.drained();
      return answer;
    },

    /** An agent answered a file operation (asked here, or relayed for another replica). */
    onFileResult(nodeId: string, r: FileOpResult): void {
      const relayed = relayedFiles.get(r.requestId);
      if (relayed?.nodeId === nodeId) {
        relayedFiles.delete(r.requestId);
        clearTimeout(relayed.timer);
        remote?.answer(relayed.requester, nodeId, { case: "fileOpResult", value: r });
        return;
      }
      const pending = files.get(r.requestId);
      if (!pending || pending.nodeId !== nodeId) return;
      files.delete(r.requestId);
      clearTimeout(pending.timer);
      if (r.ok) pending.resolve({ result: r.resultJson ? JSON.parse(r.resultJson) : null, data: r.chunk?.data ?? new Uint8Array() });
      else pending.reject(fileError(r));
    },

    /**
     * Registers a terminal session's sink and sends `open` (its TerminalOpen). Throws
     * `unavailable` when the node is not connected and there is no cluster; with one, the
     * replica holding the node is looked up first (messages meanwhile are queued) and the sink
     * gets an exit "node not connected" when there is none.
     */
    openTerminal(nodeId: string, sessionId: string, sink: TerminalSink, open: ToAgent): void {
      const link = links.get(nodeId);
      if (link) {
        terminals.set(sessionId, { nodeId, sink, owner: null, queue: null });
        link.send(open);
        return;
      }
      if (!remote) throw notConnected();
      const terminal = { nodeId, sink, owner: null as string | null, queue: [open] as ToAgent[] | null };
      terminals.set(sessionId, terminal);
      ownerOf(nodeId).then(({ owner, via }) => {
        if (terminals.get(sessionId) !== terminal) return;
        terminal.owner = owner;
        for (const msg of terminal.queue ?? []) via.forward(owner, nodeId, msg);
        terminal.queue = null;
      }, () => {
        if (terminals.get(sessionId) !== terminal) return;
        terminals.delete(sessionId);
        sink.exit(create(TerminalExitSchema, { sessionId, exitCode: -1, reason: NODE_NOT_CONNECTED }));
      });
    },

    /** Sends input, resize, acknowledgement or close of a terminal session; false when its node is gone. */
    toTerminal(sessionId: string, msg: ToAgent): boolean {
      const terminal = terminals.get(sessionId);
      if (!terminal) return false;
      if (terminal.queue) {
        terminal.queue.push(msg);
        return true;
      }
      if (terminal.owner !== null) {
        remote?.forward(terminal.owner, terminal.nodeId, msg);
        return true;
      }
      const link = links.get(terminal.nodeId);
      if (!link) return false;
      link.send(msg);
      return true;
    },

    /** Forgets a terminal session (after its exit or its close). */
    dropTerminal(sessionId: string): void {
      terminals.delete(sessionId);
    },

    /** An agent sent terminal output (for a session opened here, or relayed for another replica). */
    onTerminalOutput(nodeId: string, sessionId: string, data: Uint8Array): void {
      const relayed = relayedTerminals.get(sessionId);
      if (relayed?.nodeId === nodeId) {
        remote?.answer(relayed.requester, nodeId, { case: "terminalOutput", value: create(TerminalOutputSchema, { sessionId, data }) });
        return;
      }
      const terminal = terminals.get(sessionId);
      if (terminal?.nodeId === nodeId) terminal.sink.output(data);
    },

    /** An agent's terminal session ended. */
    onTerminalExit(nodeId: string, exit: TerminalExit): void {
      const relayed = relayedTerminals.get(exit.sessionId);
      if (relayed?.nodeId === nodeId) {
        relayedTerminals.delete(exit.sessionId);
        remote?.answer(relayed.requester, nodeId, { case: "terminalExit", value: exit });
        return;
      }
      const terminal = terminals.get(exit.sessionId);
      if (terminal?.nodeId !== nodeId) return;
      terminals.delete(exit.sessionId);
      terminal.sink.exit(exit);
    },

    /**
     * Owner side: `requester` forwarded `msg` for the node. Only file operations and terminal
     * traffic pass (input, resize, ack and close only for sessions `requester` opened); without
     * the node's stream here the requester is told it is gone.
     */
    relay(requester: string, nodeId: string, msg: RelayedToAgent): void {
      const link = links.get(nodeId);
      if (!link) {
        remote?.gone(requester, nodeId);
        return;
      }
      switch (msg.case) {
        case "fileOp": {
          const requestId = msg.value.requestId;
          const timer = setTimeout(() => relayedFiles.delete(requestId), FILE_OP_TIMEOUT_MS);
          relayedFiles.set(requestId, { nodeId, requester, timer });
          break;
        }
        case "terminalOpen":
          relayedTerminals.set(msg.value.sessionId, { nodeId, requester });
          break;
        case "terminalInput":
        case "terminalResize":
        case "terminalAck":
        case "terminalClose": {
          const relayed = relayedTerminals.get(msg.value.sessionId);
          if (relayed?.requester !== requester || relayed.nodeId !== nodeId) return;
          if (msg.case === "terminalClose") relayedTerminals.delete(msg.value.sessionId);
          break;
        }
        default:
          return;
      }
      link.send(msg);
    },

    /** Requester side: `owner` relayed the node's answer, output or exit. */
    onRelayed(owner: string, nodeId: string, msg: FromAgent): void {
      switch (msg.case) {
        case "fileOpResult":
          if (files.get(msg.value.requestId)?.owner === owner) this.onFileResult(nodeId, msg.value);
          return;
        case "terminalOutput":
          if (terminals.get(msg.value.sessionId)?.owner === owner) this.onTerminalOutput(nodeId, msg.value.sessionId, msg.value.data);
          return;
        case "terminalExit":
          if (terminals.get(msg.value.sessionId)?.owner === owner) this.onTerminalExit(nodeId, msg.value);
          return;
        default:
          return;
      }
    },

    /** Requester side: `owner` no longer holds the node's stream; what it relayed for that node ends. */
    onGone(owner: string, nodeId: string): void {
      endRelayedBy(owner, nodeId, "node disconnected");
    },

    /** Another replica is lost (stopped, crashed or unreachable): what it relayed for this one ends, and the shells this one ran for it close. */
    peerLost(replica: string): void {
      endRelayedBy(replica, null, "the node's replica is gone");
      dropRelayedFor(replica, null, true);
    },

    /** The other replicas this one exchanges traffic with (relaying for it, or relayed by it). */
    peers(): Set<string> {
      const peers = new Set<string>();
      for (const entry of [...files.values(), ...terminals.values()]) if (entry.owner !== null) peers.add(entry.owner);
      for (const entry of [...relayedFiles.values(), ...relayedTerminals.values()]) peers.add(entry.requester);
      return peers;
    },
  };
}

export type NodeChannels = ReturnType<typeof createNodeChannels>;
