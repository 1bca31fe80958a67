/**
 * Dispatch benchmark (DESIGN section 11). For each agent count: a fresh process with a real
 * coordinator (coordinator-proc.ts) and that many simulated agents (real enrollment, one mTLS
 * HTTP/2 connection each) in agent processes; graphile-worker and pg-boss run on the same
 * PostgreSQL. Prints figures, never pass/fail. See README.md.
 *
 *   npx tsx bench/dispatch/run.ts [--agents 10,1000,10000] [--jobs 20000] [--latency-jobs 1000]
 *     [--rate 100] [--procs 2] [--slots 4] [--no-peers] [--database-url [URL]]
 */
import { cpus } from "node:os";
import { Child, type CoordinatorRequest, type FromCoordinator, type Options } from "./ipc";
import { ratios, render, type Report } from "./report";
import { msSince, now } from "./stats";

const DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres";

function parseOptions(argv: string[]): Options {
  const opts: Options = {
    agents: [10, 1000, 10000], jobs: 20_000, latencyJobs: 1000, rate: 100, procs: 2, slots: 4,
    peers: true, databaseUrl: process.env.DATABASE_URL ?? null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const int = (): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${arg} must be a positive integer`);
      return n;
    };
    switch (arg) {
      case "--agents": opts.agents = value().split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0); break;
      case "--jobs": opts.jobs = int(); break;
      case "--latency-jobs": opts.latencyJobs = int(); break;
      case "--rate": opts.rate = int(); break;
      case "--procs": opts.procs = int(); break;
      case "--slots": opts.slots = int(); break;
      case "--no-peers": opts.peers = false; break;
      case "--database-url": {
        const next = argv[i + 1];
        opts.databaseUrl = next && !next.startsWith("--") ? (i++, next) : (process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
        break;
      }
      default: throw new Error(`unknown option ${arg}`);
    }
  }
  if (opts.agents.length === 0) throw new Error("--agents: give a comma-separated list of counts");
  return opts;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = now();
  const report: Report = {
    date: new Date().toISOString().slice(0, 10),
    host: { cpus: cpus().length, node: process.version, postgres: "?", database: options.databaseUrl ? "DATABASE_URL, scratch database" : "embedded" },
    options: { ...options, databaseUrl: options.databaseUrl ? "(set)" : null },
    mpanel: [],
    peers: [],
    ratios: [],
    totalSeconds: 0,
  };
  for (const [index, count] of options.agents.entries()) {
    const child = new Child<CoordinatorRequest, FromCoordinator>(new URL("./coordinator-proc.ts", import.meta.url).pathname);
    // The peers run once, on the first coordinator's PostgreSQL.
    const result = await child.ask({ kind: "run", count, options, peers: index === 0 && options.peers }, "result", 3_600_000);
    await child.exit();
    report.host.postgres = result.postgres;
    report.mpanel.push(result.mpanel);
    if (result.peers.length > 0) report.peers = result.peers;
  }
  report.ratios = ratios(report.mpanel, report.peers);
  report.totalSeconds = Math.round(msSince(started) / 1000);
  process.stdout.write(`${render(report)}\n\n${JSON.stringify(report)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
