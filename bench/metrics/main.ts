/**
 * bench/metrics: node metric samples ingested per second and per coordinator CPU core.
 *
 * A real coordinator (bench/dispatch/mpanel.ts: ports 0, temp data dir, embedded PostgreSQL)
 * runs in this process; AGENTS simulated agents (agents.ts, in PROCS child processes, each
 * with its own enrollment, certificate and mTLS gRPC connection) stream `MetricsBatch`
 * messages on `Connect`, which the gateway hands to `MetricsStore.ingest` (one INSERT per
 * batch). A sample is one row of `node_metrics` (one instant of one node, 8 figures).
 *
 * Runs, one after another on the same coordinator:
 * - **agents x5**: every agent sends 20 batches of 5 samples (the real agent's default:
 *   a sample a second, a batch every 5 s), all agents at once, as fast as the streams take them.
 * - **agents x500**: every agent sends BIG_BATCHES (default 1) batches of 500 samples (an agent
 *   catching up after a disconnection).
 * - **store x5 / store x500**: the same rows handed to `coordinator.metrics.ingest` in this
 *   process (64 calls in flight), without gRPC: the store's own cost.
 * - **peer: node-pg INSERT x5000**: the same rows written straight to PostgreSQL by one
 *   `INSERT ... SELECT unnest(...)` of 5,000 rows per statement (4 in flight; node-pg's own
 *   array parameters), from a pool of this process: no coordinator, no gRPC, no notification.
 *
 * Each run is timed from the first send until `node_metrics` holds every row (polled every
 * 250 ms). CPU: this process (the coordinator; it also runs the polling and, for the store and
 * peer runs, the writer), the agent processes, and the PostgreSQL process tree, from /proc.
 * "per core" = samples / coordinator CPU seconds. Prints figures; never passes or fails.
 * Run: `source install/env.sh && npx tsx bench/metrics/main.ts` (AGENTS=200 for a quick run).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create, MetricSampleSchema } from "@mpanel/proto";
import { loadText, printReport } from "../print";
import { fetchServerCa } from "../../agent/src/tls-fetch-ca";
import { verifyCaPin } from "../../agent/src/pki";
import { readFileSync } from "node:fs";
import { cpuMsOf, processTree } from "../dispatch/cpu";
import { Child } from "../dispatch/ipc";
import { startBenchCoordinator, type BenchCoordinator } from "../dispatch/mpanel";
import { mapLimit, round, sleep } from "../dispatch/stats";
import type { FromMetricsAgents, ToMetricsAgents } from "./ipc";

/** The 1/5/15-minute load averages when the bench started (the machine is shared). */
const loadAtStart = loadText();
const AGENTS = Number(process.env.AGENTS ?? 1000);
const PROCS = Number(process.env.PROCS ?? 2);
const BIG_BATCHES = Number(process.env.BIG_BATCHES ?? 1);

const progress = (line: string): void => {
  process.stderr.write(`[metrics] ${line}\n`);
};

/** Figures of one run. */
interface RunFigures {
  name: string;
  samples: number;
  wallS: number;
  samplesPerS: number;
  coordinatorCpuS: number;
  samplesPerCoordinatorCoreS: number;
  agentsCpuS: number | null;
  postgresCpuS: number;
}

type SampleInit = MessageInitShape<typeof MetricSampleSchema>;

/**
 * CPU ms of the PostgreSQL server: the postmaster's own and its waited-for children's
 * (`cutime`/`cstime`: backends that exited, e.g. pool connections closed when idle), plus every
 * live descendant's. Unlike a sum over the live tree alone, it never goes backwards.
 */
function postgresCpuMs(postmaster: number): number {
  try {
    const stat = readFileSync(`/proc/${postmaster}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const exited = ((Number(f[13]) + Number(f[14])) * 1000) / 100;
    return exited + processTree(postmaster).reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  } catch {
    return 0;
  }
}

/** Rows `node_metrics` holds at raw resolution. */
async function rawRows(bench: BenchCoordinator): Promise<number> {
  const { rows } = await bench.producer.query<{ n: number }>("SELECT count(*)::int AS n FROM node_metrics WHERE step_seconds = 0");
  return rows[0]?.n ?? 0;
}

/** Runs `fn` (which writes `samples` rows), waits until they are all stored, and measures. */
async function measure(bench: BenchCoordinator, name: string, samples: number, agentPids: number[], fn: () => Promise<void>): Promise<RunFigures> {
  const target = (await rawRows(bench)) + samples;
  const pg = bench.postmasterPid;
  const pgBefore = pg ? postgresCpuMs(pg) : 0;
  const agentsBefore = agentPids.reduce((a, pid) => a + cpuMsOf(pid), 0);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const sending = fn();
  let stored = 0;
  for (;;) {
    stored = await rawRows(bench);
    if (stored >= target) break;
    if (performance.now() - started > 900_000) throw new Error(`${name}: ${stored} of ${target} rows after 15 min`);
    await sleep(250);
  }
  await sending;
  const wallS = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const coordinatorCpuS = (used.user + used.system) / 1e6;
  const figures: RunFigures = {
    name, samples, wallS: round(wallS, 2),
    samplesPerS: Math.round(samples / wallS),
    coordinatorCpuS: round(coordinatorCpuS, 2),
    samplesPerCoordinatorCoreS: Math.round(samples / coordinatorCpuS),
    agentsCpuS: agentPids.length > 0 ? round((agentPids.reduce((a, pid) => a + cpuMsOf(pid), 0) - agentsBefore) / 1000, 2) : null,
    postgresCpuS: round(((pg ? postgresCpuMs(pg) : 0) - pgBefore) / 1000, 2),
  };
  progress(`${name}: ${figures.samplesPerS} samples/s, ${figures.samplesPerCoordinatorCoreS} per coordinator core`);
  return figures;
}

/** The rows one agent sends: `batches` x `perBatch` samples 1 ms apart from `fromMs`. */
function batchesOf(fromMs: number, batches: number, perBatch: number): SampleInit[][] {
  return Array.from({ length: batches }, (_, b) => Array.from({ length: perBatch }, (_, s) => {
    const i = b * perBatch + s;
    return {
      atMs: BigInt(fromMs + i), cpuPercent: (i % 100) + 0.5, load1: 0.25 + (i % 7), memoryUsedBytes: 2_000_000_000 + i, memoryTotalBytes: 8_000_000_000,
      diskUsedBytes: 40_000_000_000 + i, diskTotalBytes: 100_000_000_000, netRxBytesPerSecond: 125_000 + i, netTxBytesPerSecond: 250_000 + i,
    };
  }));
}

const bench = await startBenchCoordinator(null);
const children: Array<Child<ToMetricsAgents, FromMetricsAgents>> = [];
try {
  const { coordinator } = bench;
  progress(`${AGENTS} agents: join tokens, enrolling, connecting`);
  const tokens = await bench.joinTokens(AGENTS);
  const caPem = await fetchServerCa("127.0.0.1", coordinator.grpcPort);
  verifyCaPin(caPem, coordinator.caHash);
  for (let k = 0; k < Math.min(PROCS, AGENTS); k++) children.push(new Child(new URL("./agents.ts", import.meta.url).pathname));
  await Promise.all(children.map((child, k) => child.ask({
    kind: "start", address: `127.0.0.1:${coordinator.grpcPort}`, caPem, tokens: tokens.filter((_, i) => i % children.length === k),
  }, "ready")));
  const serverIds = (await bench.producer.query<{ id: string }>("SELECT id FROM servers WHERE revoked_at IS NULL ORDER BY id")).rows.map((r) => r.id);
  progress(`${serverIds.length} agents connected`);
  await sleep(2000);
  const pids = children.map((c) => c.proc.pid ?? 0);
  // Each run's instants lie in its own hour of the past (so no row collides with another run's).
  const hourAgo = (h: number): number => Date.now() - h * 3600_000;
  const viaAgents = (batches: number, perBatch: number, fromMs: number) => async (): Promise<void> => {
    await Promise.all(children.map((c) => c.ask({ kind: "send", batches, samples: perBatch, fromMs }, "sent", 900_000)));
  };
  // The store and peer runs build their rows before the clock starts (the factory runs when called, the returned function is timed).
  const viaStore = (batches: number, perBatch: number, fromMs: number): (() => Promise<void>) => {
    const work = serverIds.flatMap((id) => batchesOf(fromMs, batches, perBatch).map((samples) => ({ id, samples: samples.map((s) => create(MetricSampleSchema, s)) })));
    return async () => void (await mapLimit(work, 64, (w) => coordinator.metrics.ingest(w.id, w.samples)));
  };
  const direct = (batches: number, perBatch: number, fromMs: number): (() => Promise<void>) => {
    const rows = serverIds.flatMap((id) => batchesOf(fromMs, batches, perBatch).flat().map((s) => ({ id, s })));
    const statements = Array.from({ length: Math.ceil(rows.length / 5000) }, (_, i) => rows.slice(i * 5000, (i + 1) * 5000));
    return async () => void (await mapLimit(statements, 4, (part) => bench.producer.query(
      `INSERT INTO node_metrics (server_id, step_seconds, at, cpu_percent, load1, memory_used_bytes, memory_total_bytes, disk_used_bytes, disk_total_bytes, net_rx_bytes_per_second, net_tx_bytes_per_second)
       SELECT t.id, 0, t.at, t.c, t.l, t.mu, t.mt, t.du, t.dt, t.rx, t.tx
       FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[])
         AS t(id, at, c, l, mu, mt, du, dt, rx, tx)
       ON CONFLICT DO NOTHING`,
      [part.map((r) => r.id), part.map((r) => new Date(Number(r.s.atMs))), part.map((r) => r.s.cpuPercent), part.map((r) => r.s.load1),
        part.map((r) => r.s.memoryUsedBytes), part.map((r) => r.s.memoryTotalBytes), part.map((r) => r.s.diskUsedBytes), part.map((r) => r.s.diskTotalBytes),
        part.map((r) => r.s.netRxBytesPerSecond), part.map((r) => r.s.netTxBytesPerSecond)],
    )));
  };
  const n = serverIds.length;
  const runs: RunFigures[] = [];
  runs.push(await measure(bench, "agents x5 (gRPC)", n * 100, pids, viaAgents(20, 5, hourAgo(10))));
  runs.push(await measure(bench, "agents x500 (gRPC)", n * 500 * BIG_BATCHES, pids, viaAgents(BIG_BATCHES, 500, hourAgo(9))));
  runs.push(await measure(bench, "store x5 (ingest, no gRPC)", n * 100, [], viaStore(20, 5, hourAgo(8))));
  runs.push(await measure(bench, "store x500 (ingest, no gRPC)", n * 500 * BIG_BATCHES, [], viaStore(BIG_BATCHES, 500, hourAgo(7))));
  runs.push(await measure(bench, "peer: node-pg INSERT x5000", n * 500 * BIG_BATCHES, [], direct(BIG_BATCHES, 500, hourAgo(6))));

  const head = ["samples", "wall s", "samples/s", "coord CPU s", "per coord core", "agents CPU s", "PG CPU s"];
  const lines = [
    `metric samples ingested (${n} agents; a sample = one node_metrics row of 8 figures)`,
    `${"".padEnd(30)} ${head.map((h) => h.padStart(14)).join(" ")}`,
  ];
  for (const r of runs) {
    const cells = [r.samples, r.wallS, r.samplesPerS, r.coordinatorCpuS, r.samplesPerCoordinatorCoreS, r.agentsCpuS ?? "-", r.postgresCpuS];
    lines.push(`${r.name.padEnd(30)} ${cells.map((c) => (typeof c === "number" ? c.toLocaleString("en") : c).padStart(14)).join(" ")}`);
  }
  lines.push("target: >= 500,000 samples/s per coordinator core");
  printReport(lines, loadAtStart, { bench: "metrics", agents: n, runs });
} finally {
  await Promise.all(children.map((c) => c.ask({ kind: "stop" }, "stopped", 30_000).then(() => c.exit()).catch(() => c.proc.kill("SIGKILL"))));
  await bench.stop();
}
