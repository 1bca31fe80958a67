/** Messages between bench/metrics/main.ts and its agent processes (agents.ts), over `Child` of bench/dispatch/ipc.ts. */

/** main -> agent process. */
export type ToMetricsAgents =
  | { kind: "start"; address: string; caPem: string; tokens: string[] }
  /** Every agent sends `batches` MetricsBatch messages of `samples` samples, instants 1 ms apart from `fromMs` (Unix ms). */
  | { kind: "send"; batches: number; samples: number; fromMs: number }
  | { kind: "stop" };

/** agent process -> main. */
export type FromMetricsAgents =
  | { kind: "ready"; count: number }
  /** Every batch of the last `send` is written to the streams (not necessarily stored yet). */
  | { kind: "sent" }
  | { kind: "stopped" }
  | { kind: "error"; message: string };
