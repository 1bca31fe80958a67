import { z } from "zod";

/**
 * What the coordinator sends the panel beyond the JSON API: the live events and the enrollment
 * facts. Kept free of server code so the panel's type check can import it.
 */

/** One point of a node's metrics series: ISO 8601 time and each figure; null = not measured (shown "N/A", never 0). */
export const MetricPoint = z.object({
  at: z.string(),
  cpuPercent: z.number().nullable(), load1: z.number().nullable(),
  memoryUsedBytes: z.number().nullable(), memoryTotalBytes: z.number().nullable(),
  diskUsedBytes: z.number().nullable(), diskTotalBytes: z.number().nullable(),
  netRxBytesPerSecond: z.number().nullable(), netTxBytesPerSecond: z.number().nullable(),
});
export type MetricPoint = z.infer<typeof MetricPoint>;

/**
 * One change pushed to the panel, as the triggers send it (and as the socket forwards it):
 * a job's status (insert or status change), a job's log line, a server's status, a node's
 * new metric points (`metrics`, the last ten of a batch) or its daemons that went up or down (`health`).
 * Timestamps are ISO 8601 strings; ids are UUIDs except a job event's (a bigint as string).
 */
export const LiveEvent = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("job"), id: z.uuid(), tenantId: z.uuid().nullable(), type: z.string(), status: z.string(),
    attempts: z.number().int(), targetServerId: z.uuid().nullable(), errorCode: z.string().nullable(),
  }),
  z.object({
    kind: z.literal("job_event"), id: z.string(), jobId: z.uuid(), tenantId: z.uuid().nullable(),
    at: z.string(), level: z.string(), message: z.string(), progress: z.number().int().nullable(),
  }),
  z.object({ kind: z.literal("server"), id: z.uuid(), hostname: z.string(), status: z.string(), lastSeenAt: z.string().nullable() }),
  z.object({ kind: z.literal("metrics"), serverId: z.uuid(), points: z.array(MetricPoint) }),
  z.object({ kind: z.literal("health"), serverId: z.uuid(), services: z.array(z.object({ name: z.string(), up: z.boolean(), detail: z.string() })) }),
]);
export type LiveEvent = z.infer<typeof LiveEvent>;

/** What a new node needs besides its join token: the coordinator's gRPC address and the CA pin (`sha256:<hex>`). */
export interface EnrollmentInfo {
  coordinator: string;
  caHash: string;
}
