import type { JobPayload, JobType } from "@mpanel/proto";
import { jobPayloads } from "@mpanel/proto";
import type { Logger } from "pino";
import type { AgentConfig } from "../config";
import type { AgentServices } from "../services";

/** What a handler may use: the node's drivers, config, and a log that streams to the job's events. */
export interface JobContext {
  config: AgentConfig;
  /** Drivers of this node's daemons; `requireService` gets one or fails the job. */
  services: AgentServices;
  /** Logs locally and sends the line to the coordinator as a JobEvent. */
  event(level: "info" | "warn" | "error", message: string, progress?: number): void;
  log: Logger;
  signal: AbortSignal;
  /** Asks the agent to restart once this job's result is journaled and sent (UPGRADE_AGENT); absent when a test runs a handler directly. */
  requestRestart?(): void;
}

/** A job failure the handler classified: `retryable: false` means retrying cannot help (bad input, rejected config). */
export class JobError extends Error {
  constructor(readonly code: string, message: string, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "JobError";
  }
}

/** One job type's handler: an idempotent ensure of desired state. */
export interface JobHandler<T extends JobType = JobType> {
  type: T;
  run(payload: JobPayload<T>, ctx: JobContext): Promise<unknown>;
}

/** Declares a handler; its payload is validated with the shared schema before `run`. */
export function defineJob<T extends JobType>(handler: JobHandler<T>): JobHandler<T> {
  return handler;
}

/** Parses a JSON payload with the type's schema; throws a non-retryable JobError naming the fields. */
export function parsePayload<T extends JobType>(type: T, json: string): JobPayload<T> {
  const parsed = jobPayloads[type].safeParse(JSON.parse(json));
  if (!parsed.success) throw new JobError("invalid_payload", parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "), false);
  return parsed.data as JobPayload<T>;
}
