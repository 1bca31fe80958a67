/**
 * The simulated agents as the parent sees them: a few child processes (sim-agents.ts), so the
 * coordinator's RSS and CPU in this process are its own and the agents use the other core.
 */
import { fetchServerCa } from "../../agent/src/tls-fetch-ca";
import { verifyCaPin } from "../../agent/src/pki";
import { Child, type FromAgents, type ToAgents } from "./ipc";
import type { BenchCoordinator } from "./mpanel";
import { mib, msSince, now, waitUntil } from "./stats";

type AgentProc = Child<ToAgents, FromAgents>;

export interface Fleet {
  nodeIds: string[];
  procs: number;
  /** Process ids of the agent processes. */
  pids: number[];
  setup: { tokensMs: number; enrollMs: number; connectMs: number };
  /** Stamp receipt times of assignments from now on (or stop). */
  record(on: boolean): void;
  /** Receipt stamps collected since the last call. */
  receipts(): Promise<Map<string, bigint>>;
  stats(): Promise<{ rssMiB: number[]; connected: number; heartbeats: number; streamErrors: number }>;
  stop(): Promise<void>;
}

/** Creates join tokens, then enrolls and connects `count` agents across `procs` child processes. */
export async function startFleet(bench: BenchCoordinator, count: number, procs: number, slots: number, progress: (line: string) => void): Promise<Fleet> {
  const { coordinator } = bench;
  const t0 = now();
  const tokens = await bench.joinTokens(count);
  const tokensMs = msSince(t0);
  // What a real agent does before sending its token: fetch the CA and check it against the pin.
  const caPem = await fetchServerCa("127.0.0.1", coordinator.grpcPort);
  verifyCaPin(caPem, coordinator.caHash);
  const n = Math.min(procs, count);
  const children: AgentProc[] = Array.from({ length: n }, () => new Child<ToAgents, FromAgents>(new URL("./sim-agents.ts", import.meta.url).pathname));
  const seen = children.map(() => ({ enrolled: 0, connected: 0 }));
  children.forEach((child, k) => child.on("progress", (p) => {
    seen[k] = p;
    if (k === 0) progress(`  enrolled ${seen.reduce((a, s) => a + s.enrolled, 0)}, connected ${seen.reduce((a, s) => a + s.connected, 0)} of ${count}`);
  }));
  const t1 = now();
  const enrolled = children.map((c) => c.next("enrolled"));
  const ready = children.map((c) => c.next("ready"));
  children.forEach((child, k) => child.send({
    kind: "start", address: `127.0.0.1:${coordinator.grpcPort}`, caPem, slots, tokens: tokens.filter((_, i) => i % n === k),
  }));
  await Promise.all(enrolled);
  const enrollMs = msSince(t1);
  const t2 = now();
  const nodeIds = (await Promise.all(ready)).flatMap((r) => r.nodeIds);
  if (!(await waitUntil(async () => coordinator.dispatcher.size() === count, 50, 60_000))) {
    throw new Error(`only ${coordinator.dispatcher.size()} of ${count} agents registered`);
  }
  const connectMs = msSince(t2);

  return {
    nodeIds,
    procs: n,
    pids: children.map((c) => c.proc.pid ?? 0),
    setup: { tokensMs, enrollMs, connectMs },
    record(on) {
      for (const child of children) child.send({ kind: "record", on });
    },
    async receipts() {
      const received = new Map<string, bigint>();
      for (const child of children) {
        const r = await child.ask({ kind: "flush" }, "receipts");
        r.ids.forEach((id, i) => received.set(id, r.at[i] ?? 0n));
      }
      return received;
    },
    async stats() {
      const all = await Promise.all(children.map((c) => c.ask({ kind: "stats" }, "stats")));
      return {
        rssMiB: all.map((s) => mib(s.rss)),
        connected: all.reduce((a, s) => a + s.connected, 0),
        heartbeats: all.reduce((a, s) => a + s.heartbeats, 0),
        streamErrors: all.reduce((a, s) => a + s.streamErrors, 0),
      };
    },
    async stop() {
      await Promise.all(children.map((c) => c.ask({ kind: "stop" }, "stopped").then(() => c.exit())));
    },
  };
}
