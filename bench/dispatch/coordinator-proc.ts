/**
 * Child process, one per agent count: the coordinator under test plus the bench's producer
 * (enqueues must run here, where the in-process wake-up bus is). Its agents run in their own
 * child processes (fleet.ts), so this process's RSS and CPU are the coordinator's. Phases:
 * connect -> idle -> (a) commit->receipt latency -> (b) batch throughput -> (c) heartbeating.
 */
import { cpuAcross, cpuMsOf, treeCpuMs } from "./cpu";
import { startFleet, type Fleet } from "./fleet";
import { Child, type CoordinatorRequest, type FromCoordinator, type FromPeers, type Options, type PeerFigures, type PeersRequest } from "./ipc";
import { startBenchCoordinator, type BenchCoordinator } from "./mpanel";
import type { MpanelFigures } from "./report";
import { mib, msSince, now, pairLatencies, round, sleep, steadyRate, summarize, waitUntil, type LatencySummary } from "./stats";

const WARMUP_JOBS = 300;
const IDLE_WINDOW_MS = 5000;
const HEARTBEAT_WINDOW_MS = 5000;
const PROBE_JOBS = 200;
const PROBE_RATE = 20;

const progress = (line: string): void => {
  process.stderr.write(`[dispatch] ${line}\n`);
};

/** Highest RSS of this process seen since `reset`. */
const rssPeak = {
  value: 0,
  timer: setInterval(() => { rssPeak.value = Math.max(rssPeak.value, process.memoryUsage().rss); }, 100),
  reset(): void { this.value = process.memoryUsage().rss; },
};
rssPeak.timer.unref();

/** This process's CPU as % of one core over `fn`, and the wall time it took. */
async function cpuPercent<T>(fn: () => Promise<T>): Promise<{ result: T; pct: number; ms: number }> {
  const usage = process.cpuUsage();
  const t0 = now();
  const result = await fn();
  const used = process.cpuUsage(usage);
  const ms = msSince(t0);
  return { result, pct: ((used.user + used.system) / 1000 / ms) * 100, ms };
}

/** Waits until `expected` jobs in total reached a final status; the hrtime it was seen, or null on timeout. */
function drained(bench: BenchCoordinator, expected: number, timeoutMs: number, everyMs = 50): Promise<bigint | null> {
  return waitUntil(async () => {
    const f = await bench.finished();
    return f.succeeded + f.failed >= expected;
  }, everyMs, timeoutMs);
}

/** Enqueues `count` NOOP jobs at `rate`/s to random agents; commit -> receipt latencies. */
async function latencyRun(bench: BenchCoordinator, fleet: Fleet, count: number, rate: number, expected: { n: number }, timeoutMs: number): Promise<LatencySummary> {
  const randomNode = (): string => fleet.nodeIds[Math.floor(Math.random() * fleet.nodeIds.length)] ?? "";
  fleet.record(true);
  const committed = new Map<string, bigint>();
  await steadyRate(count, rate, async () => {
    const { id, committedAt } = await bench.enqueueOne(randomNode());
    committed.set(id, committedAt);
  });
  expected.n += count;
  if ((await drained(bench, expected.n, timeoutMs)) === null) progress(`  not all ${count} jobs finished within ${timeoutMs} ms`);
  fleet.record(false);
  return summarize(pairLatencies(committed, await fleet.receipts()));
}

async function measureMpanel(bench: BenchCoordinator, count: number, opts: Options): Promise<MpanelFigures> {
  const startRss = process.memoryUsage().rss;
  progress(`${count} agents: join tokens, enrolling, connecting`);
  const fleet = await startFleet(bench, count, opts.procs, opts.slots, progress);
  const { setup } = fleet;
  progress(`${count} agents: connected (tokens ${Math.round(setup.tokensMs)} ms, enroll ${Math.round(setup.enrollMs)} ms, connect ${Math.round(setup.connectMs)} ms)`);
  await sleep(2000);
  const connected = process.memoryUsage();
  const idle = await cpuPercent(() => sleep(IDLE_WINDOW_MS));
  const expected = { n: 0 };

  // (a) commit -> receipt latency at a steady, moderate rate (after a warm-up).
  rssPeak.reset();
  await latencyRun(bench, fleet, WARMUP_JOBS, opts.rate, expected, 60_000);
  const latency = await latencyRun(bench, fleet, opts.latencyJobs, opts.rate, expected, 120_000);
  progress(`${count} agents: latency p50 ${latency.p50.toFixed(2)} p99 ${latency.p99.toFixed(2)} ms`);

  // (b) end-to-end throughput: one bulk insert spread over all agents, until all are final in the database.
  const targets = Array.from({ length: opts.jobs }, (_, i) => fleet.nodeIds[i % fleet.nodeIds.length] ?? "");
  const pgPid = bench.postmasterPid;
  const groups = {
    coordinator: () => cpuMsOf(process.pid),
    agents: () => fleet.pids.reduce((a, pid) => a + cpuMsOf(pid), 0),
    postgres: () => (pgPid ? treeCpuMs(pgPid) : 0),
  };
  const { result: batch, cpuMs } = await cpuAcross(groups, async () => {
    const t0 = now();
    const committedAt = await bench.enqueueMany(targets);
    const insertMs = msSince(t0);
    expected.n += opts.jobs;
    // Polled every 100 ms: mPanel's drains take seconds, and each poll counts a growing table.
    const doneAt = await drained(bench, expected.n, 900_000, 100);
    if (doneAt === null) throw new Error(`batch did not finish: ${JSON.stringify(await bench.finished())}`);
    return { insertMs, drainMs: Number(doneAt - committedAt) / 1e6 };
  });
  const { failed } = await bench.finished();
  const peakRss = rssPeak.value;
  progress(`${count} agents: batch of ${opts.jobs} jobs in ${Math.round(batch.drainMs)} ms`);

  // (c) every agent heartbeating as real agents do: coordinator CPU, then the latency of a light probe.
  await sleep(bench.heartbeatMs);
  const before = (await fleet.stats()).heartbeats;
  const hb = await cpuPercent(() => sleep(HEARTBEAT_WINDOW_MS));
  const heartbeatsPerSec = (((await fleet.stats()).heartbeats - before) * 1000) / hb.ms;
  const probe = await latencyRun(bench, fleet, PROBE_JOBS, PROBE_RATE, expected, 15_000);
  const stats = await fleet.stats();
  progress(`${count} agents: heartbeating (${Math.round(heartbeatsPerSec)}/s): coordinator CPU ${Math.round(hb.pct)}%, probe p99 ${probe.p99.toFixed(2)} ms`);
  await fleet.stop();

  return {
    agents: count,
    agentProcesses: fleet.procs,
    setup,
    latency,
    batch: { jobs: opts.jobs, insertMs: batch.insertMs, drainMs: batch.drainMs, jobsPerSec: opts.jobs / (batch.drainMs / 1000), failed },
    cpuMsPerJob: {
      coordinator: round((cpuMs.coordinator ?? 0) / opts.jobs, 3),
      agents: round((cpuMs.agents ?? 0) / opts.jobs, 3),
      postgres: pgPid ? round((cpuMs.postgres ?? 0) / opts.jobs, 3) : null,
    },
    rss: { startMiB: mib(startRss), connectedMiB: mib(connected.rss), peakMiB: mib(peakRss), heapUsedMiB: mib(connected.heapUsed) },
    idleCpuPct: round(idle.pct, 1),
    heartbeating: { perSec: Math.round(heartbeatsPerSec), coordinatorCpuPct: round(hb.pct, 1), probe, probeSent: PROBE_JOBS },
    agentProcessRssMiB: stats.rssMiB,
    streamErrors: stats.streamErrors,
  };
}

async function measurePeers(bench: BenchCoordinator, opts: Options): Promise<PeerFigures[]> {
  progress("peers: graphile-worker, pg-boss (same PostgreSQL, no agents connected)");
  const child = new Child<PeersRequest, FromPeers>(new URL("./peers.ts", import.meta.url).pathname);
  const result = await child.ask({
    kind: "run", url: bench.coordinator.database.url, latencyJobs: opts.latencyJobs, rate: opts.rate, batchJobs: opts.jobs, postmasterPid: bench.postmasterPid,
  }, "result", 900_000);
  await child.exit();
  return result.peers;
}

async function main(req: CoordinatorRequest): Promise<FromCoordinator> {
  progress(`${req.count} agents: starting a coordinator`);
  const bench = await startBenchCoordinator(req.options.databaseUrl);
  try {
    const version = await bench.producer.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    const mpanel = await measureMpanel(bench, req.count, req.options);
    const peers = req.peers ? await measurePeers(bench, req.options) : [];
    return { kind: "result", mpanel, peers, postgres: version.rows[0]?.v ?? "?" };
  } finally {
    await bench.stop();
  }
}

process.once("message", (raw) => {
  main(raw as CoordinatorRequest).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (error: unknown) => process.send?.({ kind: "error", message: error instanceof Error ? error.stack ?? error.message : String(error) } satisfies FromCoordinator, () => process.exit(1)),
  );
});
