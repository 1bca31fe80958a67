import { fork, type ChildProcess } from "node:child_process";
import type { MpanelFigures } from "./report";
import type { LatencySummary } from "./stats";

/** Command-line options of run.ts. */
export interface Options {
  agents: number[];
  jobs: number;
  latencyJobs: number;
  rate: number;
  procs: number;
  slots: number;
  peers: boolean;
  databaseUrl: string | null;
}

/** run.ts -> coordinator process (one per agent count, so its RSS is its own). */
export interface CoordinatorRequest {
  kind: "run";
  count: number;
  options: Options;
  /** Also run the peers on this coordinator's PostgreSQL, after its agents are gone. */
  peers: boolean;
}

/** Coordinator process -> run.ts. */
export type FromCoordinator =
  | { kind: "result"; mpanel: MpanelFigures; peers: PeerFigures[]; postgres: string }
  | { kind: "error"; message: string };

/** Parent -> simulated-agent process. */
export type ToAgents =
  | { kind: "start"; address: string; caPem: string; tokens: string[]; slots: number }
  /** Start/stop stamping receipt times of JobAssignments (latency phase only). */
  | { kind: "record"; on: boolean }
  /** Send back (and forget) the receipt times stamped so far. */
  | { kind: "flush" }
  | { kind: "stats" }
  | { kind: "stop" };

/** Simulated-agent process -> parent. */
export type FromAgents =
  | { kind: "progress"; enrolled: number; connected: number }
  | { kind: "enrolled"; count: number; ms: number }
  | { kind: "ready"; nodeIds: string[]; ms: number }
  | { kind: "receipts"; ids: string[]; at: bigint[] }
  | { kind: "stats"; rss: number; connected: number; assignments: number; heartbeats: number; streamErrors: number }
  | { kind: "stopped" }
  | { kind: "error"; message: string };

/** Parent -> peers process. */
export interface PeersRequest {
  kind: "run";
  url: string;
  latencyJobs: number;
  rate: number;
  batchJobs: number;
  /** The embedded PostgreSQL's postmaster, to measure its CPU (null: not measured). */
  postmasterPid: number | null;
}

/** One peer's figures (same shape as mPanel's). */
export interface PeerFigures {
  name: string;
  config: string;
  latency: LatencySummary;
  batch: { jobs: number; insertMs: number; drainMs: number; jobsPerSec: number };
  /** CPU ms per job during the batch: the peer's process (producer + worker) and PostgreSQL. */
  cpuMsPerJob: { peer: number; postgres: number | null };
}

/** Peers process -> parent. */
export type FromPeers = { kind: "result"; peers: PeerFigures[] } | { kind: "error"; message: string };

/** A forked bench process with typed messages (structured-clone IPC, so bigint travels). */
export class Child<Out, In extends { kind: string }> {
  readonly proc: ChildProcess;
  private readonly waiting: Array<{ kind: string; resolve: (msg: In) => void }> = [];
  private failure: Error | null = null;

  constructor(script: string, args: string[] = []) {
    // execArgv is inherited, so the child runs under the same tsx loader as this process.
    this.proc = fork(script, args, { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.proc.on("message", (raw) => {
      const msg = raw as In;
      if (msg.kind === "error") this.fail(new Error(`${script}: ${(msg as unknown as { message: string }).message}`));
      const index = this.waiting.findIndex((w) => w.kind === msg.kind);
      if (index >= 0) this.waiting.splice(index, 1)[0]?.resolve(msg);
    });
    this.proc.on("exit", (code, signal) => {
      if (code !== 0) this.fail(new Error(`${script} exited (code ${code}, signal ${signal})`));
    });
  }

  private readonly rejecters = new Set<(error: Error) => void>();

  private fail(error: Error): void {
    this.failure ??= error;
    for (const reject of this.rejecters) reject(error);
    this.rejecters.clear();
  }

  /** Calls `fn` for every message of `kind` (progress reports). */
  on<K extends In["kind"]>(kind: K, fn: (msg: Extract<In, { kind: K }>) => void): void {
    this.proc.on("message", (raw) => {
      const msg = raw as In;
      if (msg.kind === kind) fn(msg as Extract<In, { kind: K }>);
    });
  }

  send(msg: Out): void {
    this.proc.send(msg as object);
  }

  /** Resolves with the next message of `kind` (rejects if the child reports an error or dies). */
  next<K extends In["kind"]>(kind: K, timeoutMs = 600_000): Promise<Extract<In, { kind: K }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${kind}`)), timeoutMs);
      const onError = (error: Error): void => {
        clearTimeout(timer);
        reject(error);
      };
      this.rejecters.add(onError);
      this.waiting.push({
        kind,
        resolve: (msg) => {
          clearTimeout(timer);
          this.rejecters.delete(onError);
          resolve(msg as Extract<In, { kind: K }>);
        },
      });
    });
  }

  /** Sends `msg` and waits for the reply of `kind`. */
  ask<K extends In["kind"]>(msg: Out, kind: K, timeoutMs?: number): Promise<Extract<In, { kind: K }>> {
    const reply = this.next(kind, timeoutMs);
    this.send(msg);
    return reply;
  }

  /** Waits for the process to exit (kills it after `graceMs`). */
  async exit(graceMs = 10_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.proc.kill("SIGKILL");
      }, graceMs);
      this.proc.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** In a child: typed `process.send`. */
export function reply<T>(msg: T): void {
  process.send?.(msg as object);
}
