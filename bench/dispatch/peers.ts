/**
 * Child process: the peers, on the coordinator's PostgreSQL, doing the same noop work.
 *  - graphile-worker 0.18 with the performance preset of its docs (concurrentJobs 24,
 *    maxPoolSize 25, localQueue 500, completeJobBatchDelay 0).
 *  - pg-boss 12 with LISTEN/NOTIFY wake-ups (`useListenNotify` + queue `notify`), batch
 *    fetches of 50, 4 local workers, burst fetching while batches come back full.
 * Producer and worker share the process (no network hop): latency is addJob/send returning
 * (the INSERT committed) -> handler start; throughput is a bulk insert of the batch -> every
 * job completed in the database.
 */
import { randomUUID } from "node:crypto";
import { Logger, makeWorkerUtils, run } from "graphile-worker";
import pg from "pg";
import { PgBoss } from "pg-boss";
import { type FromPeers, type PeerFigures, type PeersRequest } from "./ipc";
import { cpuAcross, cpuMsOf, treeCpuMs } from "./cpu";
import { msSince, now, pairLatencies, steadyRate, summarize, waitUntil } from "./stats";

const WARMUP_JOBS = 300;
const DRAIN_POLL_MS = 50;

/** What a peer offers the harness. */
interface PeerDriver {
  name: string;
  config: string;
  /** Adds one job tagged `tag`; resolves once its INSERT committed. */
  addOne(tag: string): Promise<void>;
  /** Adds `count` jobs in one call. */
  addMany(count: number): Promise<void>;
  /** Jobs of this peer still not completed in the database. */
  outstanding(): Promise<number>;
  stop(): Promise<void>;
}

/** Receipt stamps written by the peers' handlers. */
const received = new Map<string, bigint>();
const stamp = (tag: unknown): void => {
  if (typeof tag === "string") received.set(tag, now());
};

async function measure(driver: PeerDriver, req: PeersRequest): Promise<PeerFigures> {
  await steadyRate(WARMUP_JOBS, req.rate, () => driver.addOne(`warm-${randomUUID()}`));
  await waitUntil(async () => (await driver.outstanding()) === 0, DRAIN_POLL_MS, 60_000);
  received.clear();
  const committed = new Map<string, bigint>();
  await steadyRate(req.latencyJobs, req.rate, async () => {
    const tag = randomUUID();
    await driver.addOne(tag);
    committed.set(tag, now());
  });
  await waitUntil(async () => (await driver.outstanding()) === 0, DRAIN_POLL_MS, 60_000);
  const latency = summarize(pairLatencies(committed, received));

  const pgPid = req.postmasterPid;
  const groups = { peer: () => cpuMsOf(process.pid), postgres: () => (pgPid ? treeCpuMs(pgPid) : 0) };
  const { result, cpuMs } = await cpuAcross(groups, async () => {
    const t0 = now();
    await driver.addMany(req.batchJobs);
    const insertMs = msSince(t0);
    const t1 = now();
    const done = await waitUntil(async () => (await driver.outstanding()) === 0, DRAIN_POLL_MS, 300_000);
    if (done === null) throw new Error(`${driver.name}: batch did not drain`);
    return { insertMs, drainMs: Number(done - t1) / 1e6 };
  });
  const { insertMs, drainMs } = result;
  return {
    name: driver.name, config: driver.config, latency,
    batch: { jobs: req.batchJobs, insertMs, drainMs, jobsPerSec: req.batchJobs / (drainMs / 1000) },
    cpuMsPerJob: { peer: (cpuMs.peer ?? 0) / req.batchJobs, postgres: pgPid ? (cpuMs.postgres ?? 0) / req.batchJobs : null },
  };
}

async function graphileWorker(url: string): Promise<PeerDriver> {
  const logger = new Logger(() => () => undefined);
  const runner = await run({
    logger,
    noHandleSignals: true,
    preset: {
      worker: { connectionString: url, concurrentJobs: 24, maxPoolSize: 25, localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    },
    taskList: {
      noop: async (payload) => stamp((payload as { tag?: unknown }).tag),
    },
  });
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  const observer = new pg.Pool({ connectionString: url, max: 1 });
  return {
    name: "graphile-worker",
    config: "0.18, concurrentJobs 24, maxPoolSize 25, localQueue 500, completeJobBatchDelay 0",
    async addOne(tag) {
      await utils.addJob("noop", { tag });
    },
    async addMany(count) {
      await utils.addJobs(Array.from({ length: count }, () => ({ identifier: "noop", payload: { tag: null } })));
    },
    async outstanding() {
      const { rows } = await observer.query<{ n: number }>("SELECT count(*)::int AS n FROM graphile_worker._private_jobs");
      return rows[0]?.n ?? 0;
    },
    async stop() {
      await runner.stop();
      await utils.release();
      await observer.end();
    },
  };
}

const PGBOSS_QUEUE = "bench_noop";

async function pgBoss(url: string): Promise<PeerDriver> {
  const boss = new PgBoss({ connectionString: url, useListenNotify: true, schedule: false });
  boss.on("error", (error: unknown) => process.stderr.write(`pg-boss: ${String(error)}\n`));
  await boss.start();
  await boss.createQueue(PGBOSS_QUEUE, { notify: true });
  await boss.work<{ tag: string | null }>(PGBOSS_QUEUE, { batchSize: 50, localConcurrency: 4, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }, async (jobs) => {
    for (const job of jobs) stamp(job.data.tag);
  });
  const observer = new pg.Pool({ connectionString: url, max: 1 });
  return {
    name: "pg-boss",
    config: "12, useListenNotify + queue notify, work batchSize 50, localConcurrency 4, burstWhenBatchFull",
    async addOne(tag) {
      await boss.send(PGBOSS_QUEUE, { tag });
    },
    async addMany(count) {
      await boss.insert(PGBOSS_QUEUE, Array.from({ length: count }, () => ({ data: { tag: null } })));
    },
    async outstanding() {
      const { rows } = await observer.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state <> 'completed'", [PGBOSS_QUEUE]);
      return rows[0]?.n ?? 0;
    },
    async stop() {
      await boss.stop({ graceful: true, timeout: 5000 });
      await observer.end();
    },
  };
}

async function main(req: PeersRequest): Promise<PeerFigures[]> {
  const figures: PeerFigures[] = [];
  for (const make of [graphileWorker, pgBoss]) {
    const driver = await make(req.url);
    try {
      figures.push(await measure(driver, req));
    } finally {
      await driver.stop();
    }
    process.stderr.write(`  peer ${driver.name} done\n`);
  }
  return figures;
}

process.once("message", (raw) => {
  main(raw as PeersRequest).then(
    (peers) => process.send?.({ kind: "result", peers } satisfies FromPeers, () => process.exit(0)),
    (error: unknown) => process.send?.({ kind: "error", message: error instanceof Error ? error.stack ?? error.message : String(error) } satisfies FromPeers, () => process.exit(1)),
  );
});
