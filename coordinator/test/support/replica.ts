import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

/** A command the test sends a replica process. */
export type ReplicaCommand =
  | { command: "enqueue"; serverIds: string[]; perServer: number; sleepMs: number }
  | { command: "scheduleRenewals" }
  | { command: "sessions" }
  | { command: "stop" };

/** A command with its request id (the reply carries the same id). */
export type ReplicaRequest = ReplicaCommand & { id: number };

/** What a replica process sends back: once `ready`, then one `reply` per request. */
export type ReplicaReply =
  | { type: "ready"; httpUrl: string; grpcPort: number; caHash: string }
  | { type: "reply"; id: number; result?: unknown; error?: string };

/** A coordinator replica running in its own Node process (so a test can kill it with SIGKILL). */
export interface ReplicaProcess {
  httpUrl: string;
  grpcPort: number;
  caHash: string;
  /** Commits `perServer` NOOP jobs (each sleeping `sleepMs`) for every node in one transaction on this replica; their ids. */
  enqueue(serverIds: string[], perServer: number, sleepMs?: number): Promise<string[]>;
  /** Runs this replica's certificate renewal run now; how many it enqueued. */
  scheduleRenewals(): Promise<number>;
  /** Agent sessions this replica holds. */
  sessions(): Promise<number>;
  /** SIGKILL: no shutdown, no flushing (a crashed replica). */
  kill(): Promise<void>;
  /** Clean stop (coordinator.stop()), then the process exits. */
  stop(): Promise<void>;
}

/** Starts `replica-main.ts` with `env` (the coordinator's config) added to this process's environment. */
export async function startReplica(env: Record<string, string>): Promise<ReplicaProcess> {
  const child: ChildProcess = fork(fileURLToPath(new URL("./replica-main.ts", import.meta.url)), [], {
    execArgv: ["--import", "tsx"], env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 1;
  const exited = once(child, "exit");
  const ready = await new Promise<Extract<ReplicaReply, { type: "ready" }>>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`replica exited with ${code} before it was ready`)));
    child.on("message", (message: ReplicaReply) => {
      if (message.type === "ready") resolve(message);
      else {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.error !== undefined) waiter?.reject(new Error(message.error));
        else waiter?.resolve(message.result);
      }
    });
  });
  child.once("exit", () => {
    for (const waiter of pending.values()) waiter.reject(new Error("replica exited"));
    pending.clear();
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const call = <T>(request: ReplicaCommand): Promise<T> => new Promise<T>((resolve, reject) => {
    if (!alive() || !child.connected) {
      reject(new Error("replica is not running"));
      return;
    }
    const id = nextId++;
    pending.set(id, { resolve: (value) => resolve(value as T), reject });
    child.send({ ...request, id }, (error) => {
      if (!error) return;
      pending.delete(id);
      reject(error);
    });
  });
  return {
    ...ready,
    enqueue: (serverIds, perServer, sleepMs = 0) => call({ command: "enqueue", serverIds, perServer, sleepMs }),
    scheduleRenewals: () => call({ command: "scheduleRenewals" }),
    sessions: () => call({ command: "sessions" }),
    async kill() {
      if (!alive()) return;
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (!alive()) return;
      await call({ command: "stop" }).catch(() => undefined);
      await exited;
    },
  };
}
