/** CPU time of processes from /proc (Linux), to split a phase's CPU between coordinator, agents and PostgreSQL. */
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SEC = 100; // USER_HZ on Linux

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** user + system CPU of `pid` in ms (0 if it is gone). */
export function cpuMsOf(pid: number): number {
  const f = statFields(pid);
  return f ? ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SEC : 0;
}

/** `root` and all its descendants (e.g. a postmaster and its backends). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU ms used by a process tree (re-listed at each call, so new backends count; exited ones are lost). */
export function treeCpuMs(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + cpuMsOf(pid), 0);
}

/** Measures CPU ms of named groups across `fn`. */
export async function cpuAcross<T>(groups: Record<string, () => number>, fn: () => Promise<T>): Promise<{ result: T; cpuMs: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(groups).map(([k, read]) => [k, read()]));
  const result = await fn();
  const cpuMs = Object.fromEntries(Object.entries(groups).map(([k, read]) => [k, read() - (before[k] ?? 0)]));
  return { result, cpuMs };
}
