import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api } from "../api";
import { useResource } from "../hooks";
import { useLive, type LiveMessage } from "../live";
import type { MetricPoint, ServerHealth } from "../types";
import { Badge, Pending, PageHeader, When } from "../ui";

/** Points kept on the chart (the oldest are dropped as live ones arrive). */
const MAX_POINTS = 1_800;
/** What the chart loads first: the last 15 minutes in 5-second buckets. */
const WINDOW_MS = 15 * 60_000;
const STEP_SECONDS = 5;

const GIB = 1024 ** 3;

/** A figure for people: "N/A" when the node could not measure it (never a made-up 0). */
function show(value: number | null | undefined, unit: "%" | "GiB" | "MiB/s" | ""): string {
  if (value === null || value === undefined) return "N/A";
  if (unit === "GiB") return `${(value / GIB).toFixed(2)} GiB`;
  if (unit === "MiB/s") return `${(value / 1024 ** 2).toFixed(2)} MiB/s`;
  return unit === "%" ? `${value.toFixed(1)} %` : value.toFixed(2);
}

/** Memory in use as a percentage of installed memory, or null when either is unknown. */
const memoryPercent = (p: MetricPoint): number | null =>
  p.memoryUsedBytes !== null && p.memoryTotalBytes ? (p.memoryUsedBytes / p.memoryTotalBytes) * 100 : null;

/** uPlot's columns: time in seconds, CPU % and memory %; null leaves a gap. */
function columns(points: readonly MetricPoint[]): uPlot.AlignedData {
  return [points.map((p) => Date.parse(p.at) / 1000), points.map((p) => p.cpuPercent), points.map(memoryPercent)];
}

/** The CPU and memory chart (uPlot), redrawn in place when `points` change. */
function MetricsChart({ points }: { points: readonly MetricPoint[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    plot.current = new uPlot({
      width: Math.max(320, el.clientWidth), height: 240,
      scales: { y: { range: [0, 100] } },
      series: [{}, { label: "CPU %", stroke: "#2563eb", width: 2 }, { label: "Memory %", stroke: "#16a34a", width: 2 }],
      axes: [{}, { values: (_u, ticks) => ticks.map((t) => `${t}%`) }],
    }, columns([]), el);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData(columns(points));
  }, [points]);
  return <div ref={box} className="chart" data-chart="node-metrics" data-points={points.length} aria-label="CPU and memory over time" role="img" />;
}

/** A server: status, daemons (live), the latest figures and the CPU/memory chart (live over `/api/live`). */
export function ServerPage({ params }: { params: Record<string, string> }) {
  const id = params.id ?? "";
  const server = useResource(async () => {
    const [detail, health] = await Promise.all([api.server(id), api.serverHealth(id)]);
    return { detail, health };
  }, id, (current, message: LiveMessage) => {
    if (message.kind === "server" && message.id === id) return { ...current, detail: { ...current.detail, status: message.status, lastSeenAt: message.lastSeenAt } };
    if (message.kind !== "health" || message.serverId !== id) return current;
    const changed = new Map(message.services.map((s) => [s.name, s]));
    const merged: ServerHealth[] = current.health.map((h) => {
      const next = changed.get(h.name);
      return next ? { ...h, up: next.up, detail: next.detail } : h;
    });
    const known = new Set(merged.map((h) => h.name));
    const added = message.services.filter((s) => !known.has(s.name)).map((s) => ({ ...s, changedAt: new Date().toISOString(), checkedAt: new Date().toISOString() }));
    return { ...current, health: [...merged, ...added] };
  });
  const [points, setPoints] = useState<MetricPoint[]>([]);
  useEffect(() => {
    let current = true;
    void api.serverMetrics(id, { from: new Date(Date.now() - WINDOW_MS).toISOString(), step: STEP_SECONDS }).then((series) => {
      if (current) setPoints((live) => [...series.points, ...live].slice(-MAX_POINTS));
    }, () => undefined);
    return () => {
      current = false;
    };
  }, [id]);
  useLive((message) => {
    if (message.kind === "metrics" && message.serverId === id) setPoints((all) => [...all, ...message.points].slice(-MAX_POINTS));
  });
  if (!server.data) return <Pending resource={server} what="server" />;
  const { detail, health } = server.data;
  const last = points.at(-1);
  return (
    <>
      <PageHeader title={detail.hostname}><Badge status={detail.status} /></PageHeader>
      <dl className="facts">
        <dt>Roles</dt><dd>{detail.roles.join(", ")}</dd>
        <dt>Agent</dt><dd>{detail.agentVersion ?? "—"}</dd>
        <dt>Last seen</dt><dd><When at={detail.lastSeenAt} /></dd>
        <dt>CPU</dt><dd data-metric="cpu">{show(last?.cpuPercent, "%")}</dd>
        <dt>Load (1 min)</dt><dd data-metric="load1">{show(last?.load1, "")}</dd>
        <dt>Memory</dt><dd data-metric="memory">{show(last?.memoryUsedBytes, "GiB")} of {show(last?.memoryTotalBytes, "GiB")}</dd>
        <dt>Disk</dt><dd data-metric="disk">{show(last?.diskUsedBytes, "GiB")} of {show(last?.diskTotalBytes, "GiB")}</dd>
        <dt>Network</dt><dd data-metric="network">in {show(last?.netRxBytesPerSecond, "MiB/s")}, out {show(last?.netTxBytesPerSecond, "MiB/s")}</dd>
      </dl>
      <h2>CPU and memory</h2>
      <MetricsChart points={points} />
      <h2>Daemons</h2>
      {health.length === 0 ? <p className="muted">No daemon reported yet.</p> : (
        <ul className="plain">
          {health.map((h) => (
            <li key={h.name} data-service={h.name} data-up={String(h.up)}>
              {h.name} <Badge status={h.up ? "up" : "down"} /> {!h.up && h.detail && <span className="muted">{h.detail}</span>} <When at={h.changedAt} />
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
