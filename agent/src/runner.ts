import { create, JobResultSchema, type JobAssignment, type JobResult, type JobType, jobTypes } from "@mpanel/proto";
import type { Logger } from "pino";
import type { AgentConfig } from "./config";
import type { AgentServices } from "./services";
import { JobError, parsePayload, type JobContext } from "./jobs/define";
import { handlers } from "./jobs/index";
import type { JobJournal, JournalRecord } from "./journal";

/** How the runner talks back: job log lines and final results (the session queues them while disconnected). */
export interface RunnerOutput {
  event(jobId: string, level: string, message: string, progress: number): void;
  result(result: JobResult): void;
}

function isJobType(type: string): type is JobType {
  return (jobTypes as string[]).includes(type);
}

/**
 * Runs assigned jobs: answers a re-delivered job from the journal without running it again
 * (a retry after a failed attempt runs again),
 * validates the payload, runs the handler with an abort signal, journals the outcome and
 * reports it. Failures are classified once: JobError carries its own `retryable`; anything
 * unexpected is retryable.
 */
export class JobRunner {
  private readonly running = new Map<string, AbortController>();

  /**
   * `restart`: called once a job that asked for it (`ctx.requestRestart()`) has journaled and
   * sent its result; the agent then stops and starts again (a new version after UPGRADE_AGENT).
   */
  constructor(private readonly deps: { config: AgentConfig; services: AgentServices; journal: JobJournal; log: Logger; output: RunnerOutput; restart: () => void }) {}

  /** Ids of jobs running now. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** Runs one assignment to completion (never throws). */
  async run(assignment: JobAssignment): Promise<void> {
    const { jobId } = assignment;
    const log = this.deps.log.child({ jobId, type: assignment.type, attempt: assignment.attempt });
    const known = this.deps.journal.replayFor(jobId, assignment.attempt);
    if (known) {
      log.info("job already finished; replaying its result");
      this.deps.output.result(create(JobResultSchema, known));
      return;
    }
    if (this.running.has(jobId)) return;
    const controller = new AbortController();
    this.running.set(jobId, controller);
    let restart = false;
    const ctx: JobContext = {
      config: this.deps.config,
      services: this.deps.services,
      log,
      signal: controller.signal,
      event: (level, message, progress) => {
        log[level]({ progress }, message);
        this.deps.output.event(jobId, level, message, progress ?? -1);
      },
      requestRestart: () => {
        restart = true;
      },
    };
    let entry: JournalRecord;
    log.info("job started");
    try {
      if (!isJobType(assignment.type)) throw new JobError("unknown_type", `this agent has no handler for ${assignment.type}`, false);
      const type = assignment.type;
      const payload = parsePayload(type, assignment.payloadJson);
      const handler = handlers[type] as { run(p: typeof payload, c: JobContext): Promise<unknown> };
      const result = await handler.run(payload, ctx);
      entry = { jobId, attempt: assignment.attempt, success: true, resultJson: JSON.stringify(result ?? null), errorCode: "", errorMessage: "", retryable: false };
      log.info("job succeeded");
    } catch (error) {
      const jobError = error instanceof JobError ? error : new JobError("handler_error", (error as Error).message ?? String(error), true, { cause: error });
      entry = { jobId, attempt: assignment.attempt, success: false, resultJson: "", errorCode: jobError.code, errorMessage: jobError.message, retryable: jobError.retryable };
      log.warn({ err: error, code: jobError.code, retryable: jobError.retryable }, "job failed");
    } finally {
      this.running.delete(jobId);
    }
    await this.deps.journal.record(entry).catch((error: unknown) => log.error({ err: error }, "journal write failed"));
    const { attempt: _attempt, ...result } = entry;
    this.deps.output.result(create(JobResultSchema, result));
    if (restart && entry.success) this.deps.restart();
  }

  /** Aborts every running job (shutdown after the grace period). */
  abortAll(): void {
    for (const controller of this.running.values()) controller.abort();
  }
}
