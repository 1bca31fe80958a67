/**
 * The coordinator side of the dispatch benchmark: a real coordinator (its own data dir and
 * database), join tokens, and the two ways jobs are produced: one NOOP job at a time
 * (INSERT + announce after COMMIT, exactly what `withJobs` does) and one bulk INSERT.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import pino from "pino";
import { scratchDatabase } from "../../coordinator/test/support/scratch-db";
import { freePort } from "../../agent/src/drivers/free-port";
import { loadConfig } from "../../coordinator/src/config";
import { startCoordinator, type Coordinator } from "../../coordinator/src/coordinator";
import { createJoinTokenService } from "../../coordinator/src/nodes/join-tokens";
import { mapLimit, now } from "./stats";

export interface BenchCoordinator {
  coordinator: Coordinator;
  /** Agents' heartbeat interval (Welcome) in ms. */
  heartbeatMs: number;
  /** The embedded PostgreSQL's postmaster (null on an external server). */
  postmasterPid: number | null;
  /** A pool of the bench's own (producer, observer) connections, beside the coordinator's. */
  producer: pg.Pool;
  /** Creates `count` single-use join tokens (role web) through the coordinator's service. */
  joinTokens(count: number): Promise<string[]>;
  /** Inserts one NOOP job for `serverId`, returns its id and the hrtime right after COMMIT, then announces it. */
  enqueueOne(serverId: string): Promise<{ id: string; committedAt: bigint }>;
  /** Bulk-inserts one NOOP job per entry of `serverIds` (one statement), announces them; hrtime after COMMIT. */
  enqueueMany(serverIds: string[]): Promise<bigint>;
  /** Jobs that reached a final status. */
  finished(): Promise<{ succeeded: number; failed: number }>;
  stop(): Promise<void>;
}

const log = pino({ level: "silent" });

/**
 * Starts a coordinator on free loopback ports in a temp data dir: on a scratch database of
 * `databaseUrl` when given, else on its embedded PostgreSQL.
 */
export async function startBenchCoordinator(databaseUrl: string | null): Promise<BenchCoordinator> {
  const dataDir = await mkdtemp(join(tmpdir(), "mpanel-bench-"));
  const scratch = databaseUrl ? await scratchDatabase(databaseUrl, "mpanel_bench") : null;
  const config = loadConfig({
    MPANEL_DATA_DIR: dataDir,
    ...(scratch ? { DATABASE_URL: scratch.url } : {}),
    MPANEL_EMBEDDED_PG_PORT: String(await freePort()),
    MPANEL_HTTP_PORT: "0",
    MPANEL_GRPC_PORT: "0",
    MPANEL_GRPC_SANS: "localhost,127.0.0.1",
    LOG_LEVEL: "silent",
  });
  const coordinator = await startCoordinator(config, log);
  const { db } = coordinator.database;
  const producer = new pg.Pool({ connectionString: coordinator.database.url, max: 4 });
  const tokens = createJoinTokenService({ db });

  const postmasterPid = coordinator.database.embedded
    ? Number((await readFile(join(dataDir, "pg", "postmaster.pid"), "utf8")).split("\n")[0])
    : null;

  return {
    coordinator,
    heartbeatMs: config.MPANEL_HEARTBEAT_MS,
    postmasterPid,
    producer,
    async joinTokens(count) {
      const list = Array.from({ length: count }, (_, i) => i);
      return mapLimit(list, 8, async () => (await tokens.create(null, { roles: ["web"], ttlSeconds: 7200 }, "bench")).token);
    },
    async enqueueOne(serverId) {
      const id = randomUUID();
      await producer.query({ name: "bench_enqueue_one", text: "INSERT INTO jobs (id, type, payload, target_server_id) VALUES ($1, 'NOOP', '{}'::jsonb, $2)", values: [id, serverId] });
      const committedAt = now();
      coordinator.wakeups.announce([{ serverId, role: null }]);
      return { id, committedAt };
    },
    async enqueueMany(serverIds) {
      await producer.query(
        `INSERT INTO jobs (id, type, payload, target_server_id)
         SELECT gen_random_uuid(), 'NOOP', '{}'::jsonb, t FROM unnest($1::uuid[]) AS t`, [serverIds]);
      const committedAt = now();
      coordinator.wakeups.announce(serverIds.map((serverId) => ({ serverId, role: null })));
      return committedAt;
    },
    async finished() {
      const { rows } = await producer.query<{ succeeded: number; failed: number }>(
        `SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded, count(*) FILTER (WHERE status = 'failed')::int AS failed
         FROM jobs WHERE status IN ('succeeded', 'failed')`);
      return rows[0] ?? { succeeded: 0, failed: 0 };
    },
    async stop() {
      await producer.end();
      await coordinator.stop();
      await scratch?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
