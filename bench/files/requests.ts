/**
 * Per-request latency of the file API, to see where a transfer's time goes: an authenticated
 * request that reads the database only (`GET /api/admin/cloudpods/:id`), an unauthenticated one
 * (`GET /api/health`), a `stat` that goes through the node (coordinator -> agent -> door and
 * back), and upload requests of one 64 KiB and one 1 MiB chunk. Requests go through Fastify's
 * `inject` (no TCP), one at a time; prints p50 and max in ms over `ROUNDS` (default 30) each.
 * Run: `npx tsx bench/files/requests.ts` (as root: the CloudPod's user is created).
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { loadText, printReport } from "../print";
import { startBenchPod } from "../terminal/pod";

const ROUNDS = Number(process.env.ROUNDS ?? 30);
const loadAtStart = loadText();
const pod = await startBenchPod("requests");
const { t, podId } = pod;
const files = `/api/admin/cloudpods/${podId}/files`;

/** Milliseconds `request` takes, `ROUNDS` times; throws on a non-2xx answer. */
async function timed(request: (round: number) => Promise<{ statusCode: number; body: string }>): Promise<number[]> {
  const ms: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    const res = await request(round);
    ms.push(performance.now() - started);
    if (res.statusCode >= 300) throw new Error(`${res.statusCode} ${res.body}`);
  }
  return ms.sort((a, b) => a - b);
}

const inject = (method: "GET" | "PUT", url: string, payload?: Buffer) => t.coordinator.app.inject({
  method, url, headers: { authorization: `Bearer ${t.adminToken}`, ...(payload ? { "content-type": "application/octet-stream" } : {}) }, ...(payload ? { payload } : {}),
});
const upload = (size: number) => {
  const id = randomUUID();
  const data = Buffer.alloc(size, 7);
  return (round: number) => inject("PUT", `${files}/upload?path=chunk-${size}.bin&uploadId=${id}&offset=${round * size}&size=${size * ROUNDS}`, data);
};

try {
  await t.api("PUT", `${files}/content`, { path: "probe.txt", content: "probe" });
  const rows: Array<[string, number[]]> = [
    ["GET /api/health (no auth, no database)", await timed(() => inject("GET", "/api/health"))],
    ["GET cloudpod (auth + database read)", await timed(() => inject("GET", `/api/admin/cloudpods/${podId}`))],
    ["stat through the node", await timed(() => inject("GET", `${files}/stat?path=probe.txt`))],
    ["upload request, 64 KiB chunk", await timed(upload(64 * 1024))],
    ["upload request, 1 MiB chunk", await timed(upload(1024 * 1024))],
  ];
  const p50 = (ms: number[]): number => ms[Math.floor(ms.length / 2)] ?? NaN;
  printReport([
    `file API request latency, ${ROUNDS} requests each, one at a time (ms)`,
    ...rows.map(([name, ms]) => `${name.padEnd(40)} p50 ${p50(ms).toFixed(2).padStart(7)}   max ${(ms.at(-1) ?? NaN).toFixed(2).padStart(7)}`),
  ], loadAtStart, { bench: "file-requests", rounds: ROUNDS, p50Ms: Object.fromEntries(rows.map(([name, ms]) => [name, p50(ms)])) });
} finally {
  await pod.stop();
}
