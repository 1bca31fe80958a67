/** Plain-text tables and the JSON line of the dispatch benchmark's figures. */
import type { PeerFigures } from "./ipc";
import { round, type LatencySummary } from "./stats";

export interface MpanelFigures {
  agents: number;
  agentProcesses: number;
  setup: { tokensMs: number; enrollMs: number; connectMs: number };
  /** Commit -> JobAssignment received by the agent, ms. */
  latency: LatencySummary;
  batch: { jobs: number; insertMs: number; drainMs: number; jobsPerSec: number; failed: number };
  /** CPU ms per job during the batch. */
  cpuMsPerJob: { coordinator: number; agents: number; postgres: number | null };
  /** Coordinator process (this process; the agents run in child processes). */
  rss: { startMiB: number; connectedMiB: number; peakMiB: number; heapUsedMiB: number };
  /** Coordinator CPU (% of one core) with the agents connected and idle (heartbeats only, as real agents send them). */
  idleCpuPct: number;
  /** With every agent heartbeating at the Welcome interval: coordinator CPU and a light latency probe. */
  heartbeating: { perSec: number; coordinatorCpuPct: number; probe: LatencySummary; probeSent: number };
  agentProcessRssMiB: number[];
  streamErrors: number;
}

export interface Report {
  date: string;
  host: { cpus: number; node: string; postgres: string; database: string };
  options: Record<string, unknown>;
  mpanel: MpanelFigures[];
  peers: PeerFigures[];
  ratios: Array<{ agents: number; peer: string; p50: number; p99: number; jobsPerSec: number }>;
  totalSeconds: number;
}

type Cell = string | number | null;

function table(head: string[], rows: Cell[][]): string {
  const text = (c: Cell): string => (c === null ? "-" : typeof c === "number" ? String(round(c)) : c);
  const cells = [head, ...rows.map((r) => r.map(text))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]): string => r.map((c, i) => c.padStart(widths[i] ?? 0)).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...cells.slice(1).map(line)].join("\n");
}

const lat = (l: LatencySummary): number[] => [l.p50, l.p90, l.p99, l.max];

/** Figures as printed on stdout (times in ms unless said otherwise). */
export function render(report: Report): string {
  const out: string[] = [];
  out.push(`dispatch bench ${report.date}: ${report.host.cpus} cores, node ${report.host.node}, PostgreSQL ${report.host.postgres} (${report.host.database}), ${report.totalSeconds} s`);
  out.push("");
  out.push("mPanel: NOOP job commit -> JobAssignment at the agent (ms), batch drain, CPU ms per job during the batch");
  out.push(table(
    ["agents", "p50", "p90", "p99", "max", "batch", "jobs/s", "failed", "coord ms/job", "agents ms/job", "pg ms/job"],
    report.mpanel.map((m) => [m.agents, ...lat(m.latency), m.batch.jobs, Math.round(m.batch.jobsPerSec), m.batch.failed,
      m.cpuMsPerJob.coordinator, m.cpuMsPerJob.agents, m.cpuMsPerJob.postgres]),
  ));
  out.push("");
  out.push("mPanel: setup (s), coordinator RSS (MiB) and CPU (% of a core); heartbeating = every agent sends Heartbeat at the Welcome interval");
  out.push(table(
    ["agents", "procs", "tokens", "enroll", "connect", "rss start", "rss conn", "rss peak", "idle cpu%", "hb/s", "hb cpu%", "probe p50", "probe p99", "probe got", "agent rss"],
    report.mpanel.map((m) => [m.agents, m.agentProcesses, m.setup.tokensMs / 1000, m.setup.enrollMs / 1000, m.setup.connectMs / 1000,
      m.rss.startMiB, m.rss.connectedMiB, m.rss.peakMiB, m.idleCpuPct, m.heartbeating.perSec, m.heartbeating.coordinatorCpuPct,
      m.heartbeating.probe.p50, m.heartbeating.probe.p99, `${m.heartbeating.probe.count}/${m.heartbeating.probeSent}`, m.agentProcessRssMiB.join("+")]),
  ));
  out.push("");
  out.push("peers on the same PostgreSQL: addJob/send commit -> handler start (ms), batch drain, CPU ms per job during the batch");
  out.push(table(
    ["peer", "p50", "p90", "p99", "max", "batch", "jobs/s", "peer ms/job", "pg ms/job", "config"],
    report.peers.map((p) => [p.name, ...lat(p.latency), p.batch.jobs, Math.round(p.batch.jobsPerSec), p.cpuMsPerJob.peer, p.cpuMsPerJob.postgres, p.config]),
  ));
  if (report.ratios.length > 0) {
    out.push("");
    out.push("ratios mPanel/peer (latency: below 1 means mPanel is faster; jobs/s: above 1 means mPanel is faster)");
    out.push(table(["agents", "peer", "p50", "p99", "jobs/s"], report.ratios.map((r) => [r.agents, r.peer, r.p50, r.p99, r.jobsPerSec])));
  }
  return out.join("\n");
}

/** mPanel/peer ratios for every agent count and peer. */
export function ratios(mpanel: MpanelFigures[], peers: PeerFigures[]): Report["ratios"] {
  return mpanel.flatMap((m) => peers.map((p) => ({
    agents: m.agents,
    peer: p.name,
    p50: round(m.latency.p50 / p.latency.p50, 3),
    p99: round(m.latency.p99 / p.latency.p99, 3),
    jobsPerSec: round(m.batch.jobsPerSec / p.batch.jobsPerSec, 3),
  })));
}
