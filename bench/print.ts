import { loadavg } from "node:os";

/** The 1, 5 and 15 minute load averages now, as the benches print them ("0.17 1.17 3.16"). */
export function loadText(): string {
  return loadavg().map((l) => l.toFixed(2)).join(" ");
}

/**
 * Prints a bench's result on stdout (progress goes to stderr): its table `lines`, the load
 * average at the end beside `loadAtStart` (the machine is small and may be shared), then one
 * JSON line with every figure for scripts.
 */
export function printReport(lines: readonly string[], loadAtStart: string, figures: object): void {
  const load = `load average at the end (2 cores, shared): ${loadText()}; at the start: ${loadAtStart}`;
  process.stdout.write(`${[...lines, load, JSON.stringify(figures)].join("\n")}\n`);
}
