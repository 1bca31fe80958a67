import * as grpc from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { agentJobTypes, create, CoordinatorMessageSchema, PROTOCOL_MINOR, protocolSupported, SUPPORTED_MINORS_BEHIND, type AgentMessage, type CoordinatorMessage } from "@mpanel/proto";
import type { Logger } from "pino";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { toServiceError } from "./grpc-errors";
import type { ResultBatcher } from "../jobs/result-batcher";
import type { JobLogLine, JobStore } from "../jobs/store";
import type { AgentSession, Dispatcher } from "./dispatcher";
import type { LastSeen } from "./last-seen";
import { markOffline, MISSED_HEARTBEATS } from "../metrics/monitor";
import type { MetricsStore } from "../metrics/store";
import type { AgentLink, NodeChannels } from "./node-channels";

/** How often a session checks that its agent still talks (ms); a silent agent is cut within this after `MISSED_HEARTBEATS` heartbeats. */
const WATCHDOG_CHECK_MS = 1_000;

/** Settings the coordinator hands each agent in `Welcome`. */
export interface SessionSettings {
  heartbeatMs: number;
  leaseMs: number;
}

/**
 * Runs one agent's `Connect` stream for an authenticated node: waits for `Hello`, hands back
 * jobs the agent no longer holds, answers `Pull` credits through the dispatcher, stores job
 * events and results, extends leases on `Heartbeat`, stores `MetricsBatch` and `ServiceHealth`,
 * routes file and terminal traffic through `channels`,
 * and marks the node online/offline: offline (with a `NODE_OFFLINE` alert) when the stream ends
 * or when nothing arrived for `MISSED_HEARTBEATS` heartbeat intervals (the stream is then cut).
 */
export function runSession(
  call: grpc.ServerDuplexStream<AgentMessage, CoordinatorMessage>,
  node: { id: string; roles: string[] },
  deps: { db: Database; store: JobStore; results: ResultBatcher; lastSeen: LastSeen; dispatcher: Dispatcher; metrics: MetricsStore; channels: NodeChannels; settings: SessionSettings; log: Logger },
): void {
  const log = deps.log.child({ nodeId: node.id });
  const send = (msg: MessageInitShape<typeof CoordinatorMessageSchema>["msg"]): void => {
    call.write(create(CoordinatorMessageSchema, { msg }));
  };
  const session: AgentSession = {
    nodeId: node.id,
    roles: node.roles,
    jobTypes: [],
    credits: 0,
    deliver(jobs) {
      for (const job of jobs) {
        send({
          case: "jobAssignment",
          value: {
            jobId: job.id, type: job.type, payloadJson: JSON.stringify(job.payload),
            attempt: job.attempt, leaseDeadlineMs: BigInt(job.leaseDeadline.getTime()),
          },
        });
      }
      log.debug({ jobIds: jobs.map((j) => j.id) }, "jobs assigned");
    },
    close() {
      call.emit("error", toServiceError(new AppError("node_revoked", "this node was revoked"), log));
    },
  };
  const link: AgentLink = {
    send: (msg) => call.write(create(CoordinatorMessageSchema, { msg })),
    drained: () => new Promise((resolve) => call.once("drain", resolve)),
  };
  let hello = false;
  // Messages of one stream are handled in order: a result never overtakes its job's events.
  let chain: Promise<void> = Promise.resolve();

  const touch = async (fields: Record<string, unknown>): Promise<void> => {
    // Never on a revoked node: its stream ends after the revoke, and "offline" must not replace "revoked".
    await deps.db.prisma.server.updateMany({ where: { id: node.id, revokedAt: null }, data: { lastSeenAt: new Date(), ...fields } });
  };

  async function handle(message: AgentMessage): Promise<void> {
    const { msg } = message;
    if (!hello && msg.case !== "hello") {
      call.emit("error", Object.assign(new Error("Hello must come first"), { code: grpc.status.FAILED_PRECONDITION }));
      return;
    }
    switch (msg.case) {
      case "hello": {
        if (!protocolSupported(msg.value.protocolMinor)) {
          const oldest = PROTOCOL_MINOR - SUPPORTED_MINORS_BEHIND;
          log.warn({ protocolMinor: msg.value.protocolMinor, oldest }, "agent protocol too old; refused");
          call.emit("error", Object.assign(new Error(`agent protocol 1.${msg.value.protocolMinor} is older than this coordinator serves (1.${oldest} to 1.${PROTOCOL_MINOR}): upgrade the agent (re-run install/agent.sh)`), { code: grpc.status.FAILED_PRECONDITION }));
          return;
        }
        hello = true;
        session.jobTypes = agentJobTypes(msg.value.jobTypes);
        const released = await deps.store.releaseUnheld(node.id, msg.value.runningJobIds);
        await touch({
          status: "online",
          agentVersion: msg.value.agentVersion,
          capabilities: msg.value.capabilities.map((c) => ({ name: c.name, version: c.version })),
        });
        deps.dispatcher.add(session);
        deps.channels.attach(node.id, link);
        send({ case: "welcome", value: { nodeId: node.id, heartbeatIntervalMs: deps.settings.heartbeatMs, leaseMs: deps.settings.leaseMs, protocolMinor: PROTOCOL_MINOR } });
        log.info({ version: msg.value.agentVersion, protocolMinor: msg.value.protocolMinor, released, running: msg.value.runningJobIds.length }, "agent connected");
        return;
      }
      case "pull":
        deps.dispatcher.grant(session, msg.value.credits);
        return;
      case "jobEvent": {
        const line: JobLogLine = {
          jobId: msg.value.jobId, level: msg.value.level, message: msg.value.message,
          progress: msg.value.progress >= 0 ? msg.value.progress : null, at: new Date(Number(msg.value.atMs)),
        };
        await deps.store.appendEvents([line]);
        return;
      }
      case "jobResult": {
        const r = msg.value;
        // Not awaited: the Pull that follows a result must not wait for its database write.
        // The job's events came before it on this stream and are already stored.
        deps.results.submit(node.id, {
          jobId: r.jobId, success: r.success, retryable: r.retryable,
          result: r.resultJson ? JSON.parse(r.resultJson) : null,
          errorCode: r.errorCode || undefined, errorMessage: r.errorMessage || undefined,
        }).catch((error: unknown) => log.error({ err: error, jobId: r.jobId }, "storing job result failed"));
        return;
      }
      case "heartbeat":
        await deps.store.extendLeases(node.id, msg.value.runningJobIds);
        deps.lastSeen.mark(node.id);
        return;
      case "metricsBatch":
        await deps.metrics.ingest(node.id, msg.value.samples);
        return;
      case "serviceHealth":
        await deps.metrics.recordHealth(node.id, msg.value.services, new Date());
        return;
      case "fileOpResult":
        deps.channels.onFileResult(node.id, msg.value);
        return;
      case "terminalOutput":
        deps.channels.onTerminalOutput(node.id, msg.value.sessionId, msg.value.data);
        return;
      case "terminalExit":
        deps.channels.onTerminalExit(node.id, msg.value);
        return;
      default:
        return;
    }
  }

  let lastMessageAt = Date.now();
  const silenceMs = MISSED_HEARTBEATS * deps.settings.heartbeatMs;
  const watchdog = setInterval(() => {
    if (Date.now() - lastMessageAt <= silenceMs) return;
    log.warn({ silenceMs }, "agent missed its heartbeats; cutting the stream");
    call.emit("error", Object.assign(new Error("missed heartbeats"), { code: grpc.status.DEADLINE_EXCEEDED }));
    finish(`missed ${MISSED_HEARTBEATS} heartbeats`);
  }, Math.min(WATCHDOG_CHECK_MS, deps.settings.heartbeatMs));
  watchdog.unref();
  call.on("data", (message: AgentMessage) => {
    lastMessageAt = Date.now();
    chain = chain.then(() => handle(message)).catch((error: unknown) => log.error({ err: error }, "agent message failed"));
  });
  let finished = false;
  const finish = (reason = "agent stream closed"): void => {
    if (finished) return;
    finished = true;
    clearInterval(watchdog);
    deps.dispatcher.remove(node.id, session);
    deps.channels.detach(node.id, link);
    chain = chain
      .then(async () => {
        if (!deps.dispatcher.isConnected(node.id)) await markOffline(deps.db, { ids: [node.id] }, reason);
      })
      .catch((error: unknown) => log.warn({ err: error }, "marking node offline failed"));
    log.info("agent disconnected");
  };
  call.on("end", () => {
    finish();
    call.end();
  });
  call.on("error", (error) => log.debug({ err: error }, "agent stream error"));
  call.on("cancelled", () => finish());
}
