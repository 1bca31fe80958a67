import * as grpc from "@grpc/grpc-js";
import { AgentMessageSchema, create, PROTOCOL_MINOR, RenewCertificateRequestSchema, type AgentMessage, type CoordinatorMessage, type JobResult } from "@mpanel/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { backoffDelay } from "./backoff";
import { createAgentClient, mtlsCredentials } from "./client";
import type { AgentConfig } from "./config";
import { saveIdentity, type NodeIdentity } from "./identity";
import { handlers } from "./jobs/index";
import { generateKeyAndCsr, needsRenewal } from "./pki";
import type { JobRunner, RunnerOutput } from "./runner";

/** Ends the agent: the coordinator refused this node (revoked, unknown certificate). Not retried. */
export class FatalSessionError extends Error {
  constructor(message: string, readonly grpcCode: number) {
    super(message);
    this.name = "FatalSessionError";
  }
}

const FATAL = new Set([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]);

/** A message the agent sends (the `msg` oneof of AgentMessage). */
export type Outgoing = MessageInitShape<typeof AgentMessageSchema>["msg"];

/** What the coordinator sends besides jobs (file operations, terminal traffic). */
export type LiveIncoming = Exclude<CoordinatorMessage["msg"], { case: "welcome" | "jobAssignment" | "ping" | undefined }>;

/** Receives the session's non-job traffic: `connected` after every Welcome, `message` for each file or terminal message. */
export interface LiveListener {
  connected?(): void;
  message?(msg: LiveIncoming): void;
}

/**
 * The agent's connection to the coordinator (DESIGN sections 2-3, 7). One loop: renew the
 * certificate when 2/3 of its life is gone, open `Connect` over mTLS, say Hello (roles,
 * capabilities, jobs still running), grant credits, run assignments, heartbeat, and reconnect
 * with exponential backoff and jitter. "Stop" errors (unauthenticated, permission denied) end
 * the loop with FatalSessionError; everything else is retried. Results of jobs that finish
 * while disconnected are kept and sent after the next Welcome.
 */
export class AgentSession implements RunnerOutput {
  private stream: grpc.ClientDuplexStream<AgentMessage, CoordinatorMessage> | null = null;
  private welcomed = false;
  private readonly pending: JobResult[] = [];
  private draining = false;
  private runner: JobRunner | null = null;
  private readonly listeners: LiveListener[] = [];

  constructor(
    private identity: NodeIdentity,
    private readonly deps: { config: AgentConfig; capabilities: Array<{ name: string; version: string }>; log: Logger; agentVersion: string },
  ) {}

  attach(runner: JobRunner): void {
    this.runner = runner;
  }

  /** Adds a receiver of file and terminal messages and of the (re)connections. */
  listen(listener: LiveListener): void {
    this.listeners.push(listener);
  }

  private send(msg: Outgoing): boolean {
    if (!this.stream || !this.welcomed) return false;
    this.stream.write(create(AgentMessageSchema, { msg }));
    return true;
  }

  /**
   * Sends a metrics, health, file or terminal message on the current stream. Returns false
   * when there is no welcomed stream (the caller keeps or drops it). `onDrained` (optional) is
   * called when the stream can take more: at once, or after its 'drain' when its buffer is full
   * (back-pressure for bulk senders).
   */
  sendLive(msg: Outgoing, onDrained?: () => void): boolean {
    const stream = this.stream;
    if (!stream || !this.welcomed) return false;
    const room = stream.write(create(AgentMessageSchema, { msg }));
    if (!room && onDrained) stream.once("drain", onDrained);
    else onDrained?.();
    return true;
  }

  event(jobId: string, level: string, message: string, progress: number): void {
    this.send({ case: "jobEvent", value: { jobId, level, message, progress, atMs: BigInt(Date.now()) } });
  }

  result(result: JobResult): void {
    if (!this.send({ case: "jobResult", value: result })) {
      this.pending.push(result);
      return;
    }
    if (!this.draining) this.send({ case: "pull", value: { credits: 1 } });
  }

  /** Stop taking jobs: no further credits are granted. */
  drain(): void {
    this.draining = true;
  }

  private async renewIfDue(): Promise<void> {
    if (!needsRenewal(this.identity.certPem)) return;
    const client = createAgentClient(this.deps.config.coordinator, mtlsCredentials(this.identity));
    try {
      const { keyPem, csrPem } = await generateKeyAndCsr(this.deps.config.hostname);
      const response = await client.renewCertificate(create(RenewCertificateRequestSchema, { csrPem }));
      this.identity = { ...this.identity, keyPem, certPem: response.certificatePem };
      await saveIdentity(this.deps.config.stateDir, this.identity);
      this.deps.log.info("node certificate renewed");
    } finally {
      client.close();
    }
  }

  /** One stream, until it ends. Resolves true if it was healthy (Welcome received). */
  private connectOnce(signal: AbortSignal): Promise<boolean> {
    const runner = this.runner;
    if (!runner) throw new Error("attach a runner first");
    const client = createAgentClient(this.deps.config.coordinator, mtlsCredentials(this.identity));
    const stream = client.connect();
    this.stream = stream;
    this.welcomed = false;
    const log = this.deps.log;
    return new Promise<boolean>((resolve, reject) => {
      let heartbeat: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        stream.end();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      let finished = false;
      const done = (error: grpc.StatusObject | null): void => {
        if (finished) return;
        finished = true;
        clearInterval(heartbeat);
        signal.removeEventListener("abort", onAbort);
        const healthy = this.welcomed;
        this.stream = null;
        this.welcomed = false;
        client.close();
        if (error && FATAL.has(error.code)) reject(new FatalSessionError(error.details, error.code));
        else resolve(healthy);
      };
      stream.on("data", (message: CoordinatorMessage) => {
        const { msg } = message;
        if (msg.case === "welcome") {
          this.welcomed = true;
          log.info({ nodeId: msg.value.nodeId }, "connected to coordinator");
          heartbeat = setInterval(() => this.send({ case: "heartbeat", value: { runningJobIds: [...runner.runningIds(), ...this.pending.map((r) => r.jobId)] } }), msg.value.heartbeatIntervalMs);
          for (const result of this.pending.splice(0)) this.send({ case: "jobResult", value: result });
          const free = this.deps.config.slots - runner.runningIds().length;
          if (!this.draining && free > 0) this.send({ case: "pull", value: { credits: free } });
          for (const listener of this.listeners) listener.connected?.();
        } else if (msg.case === "jobAssignment") {
          void runner.run(msg.value);
        } else if (msg.case !== "ping" && msg.case !== undefined) {
          for (const listener of this.listeners) listener.message?.(msg);
        }
      });
      // 'status' fires exactly once when the call ends; 'error' repeats it for non-OK codes.
      stream.on("error", () => undefined);
      stream.on("status", (status: grpc.StatusObject) => {
        if (status.code !== grpc.status.OK && status.code !== grpc.status.CANCELLED) log.warn({ code: status.code, details: status.details }, "stream ended with error");
        done(status.code === grpc.status.OK ? null : status);
      });
      stream.write(create(AgentMessageSchema, {
        msg: { case: "hello", value: {
          agentVersion: this.deps.agentVersion, roles: [...this.deps.config.roles], capabilities: this.deps.capabilities,
          runningJobIds: [...runner.runningIds(), ...this.pending.map((r) => r.jobId)], hostname: this.deps.config.hostname,
          protocolMinor: PROTOCOL_MINOR, jobTypes: Object.keys(handlers),
        } },
      }));
    });
  }

  /** Runs until `signal` aborts (resolves) or the coordinator refuses the node (FatalSessionError). */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.renewIfDue();
        const healthy = await this.connectOnce(signal);
        failures = healthy ? 0 : failures + 1;
      } catch (error) {
        if (error instanceof FatalSessionError) throw error;
        failures += 1;
        this.deps.log.warn({ err: error }, "connect failed");
      }
      if (signal.aborted) break;
      const delay = backoffDelay(failures);
      this.deps.log.info({ delayMs: delay, failures }, "reconnecting");
      await sleep(delay, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Ends the current stream cleanly (after results were flushed). */
  close(): void {
    this.stream?.end();
  }
}
