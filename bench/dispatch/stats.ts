/** Small numeric helpers shared by the dispatch benchmark: percentiles, timing, concurrency. */

/** Latency summary in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of `samples` (ms). Empty input gives NaN figures. */
export function summarize(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => {
    if (sorted.length === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * sorted.length));
    return sorted[rank - 1] ?? Number.NaN;
  };
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted.length ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** Latencies (ms) for every id present in both maps: `received - committed` (hrtime ns). */
export function pairLatencies(committed: ReadonlyMap<string, bigint>, received: ReadonlyMap<string, bigint>): number[] {
  const out: number[] = [];
  for (const [id, at] of committed) {
    const got = received.get(id);
    if (got !== undefined) out.push(Number(got - at) / 1e6);
  }
  return out;
}

/** Monotonic clock in ns, comparable across processes on one Linux host (CLOCK_MONOTONIC). */
export const now = (): bigint => process.hrtime.bigint();

/** Milliseconds since `start` (hrtime ns). */
export const msSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Calls `fire(i)` for i = 0..count-1 at a steady `ratePerSec` (open loop: a slow call never
 * delays the next one). Resolves once every call has settled.
 */
export async function steadyRate(count: number, ratePerSec: number, fire: (i: number) => Promise<void>): Promise<void> {
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  let issued = 0;
  while (issued < count) {
    const due = Math.min(count, Math.floor(((performance.now() - start) * ratePerSec) / 1000) + 1);
    while (issued < due) pending.push(fire(issued++));
    await sleep(1);
  }
  await Promise.all(pending);
}

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes; the time (hrtime) it first held, or null. */
export async function waitUntil(check: () => Promise<boolean>, everyMs: number, timeoutMs: number): Promise<bigint | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return now();
    await sleep(everyMs);
  }
  return null;
}

export const mib = (bytes: number): number => Math.round(bytes / 1048576);

/** Rounds to `digits` decimals (figures in tables and JSON). */
export const round = (value: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};
