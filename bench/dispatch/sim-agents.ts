/**
 * Child process: a share of the simulated agents. Each agent is enrolled through the real
 * Enroll RPC (its own join token, node id and client certificate), then holds its own grpc-js
 * Client (its own HTTP/2 connection, mTLS) with one `Connect` stream: Hello, Pull{slots},
 * and for every JobAssignment an immediate JobResult{success} then Pull{1} (a noop handler).
 * Heartbeats (at the Welcome's interval, like the real agent) run only when the parent
 * switches them on.
 *
 * To keep enrollment of thousands of agents fast, all agents of this process share one key
 * pair (one CSR); every agent still gets its own node id and certificate. Enroll calls share
 * one TLS channel; Connect streams never do.
 */
import * as grpc from "@grpc/grpc-js";
import { AgentMessageSchema, create, EnrollRequestSchema, jobTypes, PROTOCOL_MINOR, type AgentMessage, type CoordinatorMessage } from "@mpanel/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createAgentClient, mtlsCredentials, type AgentClient } from "../../agent/src/client";
import { generateKeyAndCsr } from "../../agent/src/pki";
import { reply, type FromAgents, type ToAgents } from "./ipc";
import { mapLimit, msSince, now } from "./stats";

// grpc-js passes the IP literal of the address as TLS servername; Node warns about it once per process.
process.noDeprecation = true;

const ENROLL_CONCURRENCY = 32;
const CONNECT_CONCURRENCY = 64;

type Outgoing = MessageInitShape<typeof AgentMessageSchema>["msg"];

/** Receipt stamps of the latency phase. */
const receipts = { on: false, ids: [] as string[], at: [] as bigint[] };
const counters = { enrolled: 0, connected: 0, assignments: 0, heartbeats: 0, streamErrors: 0 };

class SimAgent {
  private client: AgentClient | null = null;
  private stream: grpc.ClientDuplexStream<AgentMessage, CoordinatorMessage> | null = null;
  private heartbeatMs = 5000;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    readonly nodeId: string,
    private readonly credentials: grpc.ChannelCredentials,
    private readonly address: string,
    private readonly slots: number,
  ) {}

  private send(msg: Outgoing): void {
    this.stream?.write(create(AgentMessageSchema, { msg }));
  }

  /** Opens the stream; resolves on Welcome (after granting credits). */
  connect(): Promise<void> {
    const client = createAgentClient(this.address, this.credentials);
    const stream = client.connect();
    this.client = client;
    this.stream = stream;
    return new Promise((resolve, reject) => {
      let welcomed = false;
      stream.on("data", (message: CoordinatorMessage) => {
        const { msg } = message;
        if (msg.case === "jobAssignment") {
          const at = now();
          counters.assignments += 1;
          if (receipts.on) {
            receipts.ids.push(msg.value.jobId);
            receipts.at.push(at);
          }
          this.send({ case: "jobResult", value: { jobId: msg.value.jobId, success: true, resultJson: "null", retryable: false } });
          this.send({ case: "pull", value: { credits: 1 } });
        } else if (msg.case === "welcome") {
          welcomed = true;
          counters.connected += 1;
          this.heartbeatMs = msg.value.heartbeatIntervalMs;
          this.send({ case: "pull", value: { credits: this.slots } });
          this.heartbeats(true);
          resolve();
        }
      });
      stream.on("error", () => undefined);
      stream.on("status", (status: grpc.StatusObject) => {
        this.heartbeats(false);
        if (!welcomed) reject(new Error(`connect ${this.nodeId}: ${status.code} ${status.details}`));
        else {
          counters.connected -= 1;
          if (status.code !== grpc.status.OK && status.code !== grpc.status.CANCELLED) counters.streamErrors += 1;
        }
      });
      this.send({ case: "hello", value: { agentVersion: "bench", roles: ["web"], capabilities: [], runningJobIds: [], hostname: this.nodeId, protocolMinor: PROTOCOL_MINOR, jobTypes } });
    });
  }

  /**
   * Heartbeats every Welcome interval (first one after a random share of it), from Welcome on, as
   * real agents do: a coordinator cuts a stream silent for 3 heartbeat intervals.
   */
  heartbeats(on: boolean): void {
    clearTimeout(this.heartbeat);
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (!on) return;
    const beat = (): void => {
      counters.heartbeats += 1;
      this.send({ case: "heartbeat", value: { runningJobIds: [] } });
    };
    this.heartbeat = setTimeout(() => {
      beat();
      this.heartbeat = setInterval(beat, this.heartbeatMs);
    }, Math.random() * this.heartbeatMs);
  }

  close(): void {
    this.heartbeats(false);
    this.stream?.end();
    this.client?.close();
  }
}

let agents: SimAgent[] = [];

async function start(msg: Extract<ToAgents, { kind: "start" }>): Promise<void> {
  const ticker = setInterval(() => reply<FromAgents>({ kind: "progress", enrolled: counters.enrolled, connected: counters.connected }), 5000);
  const t0 = now();
  const { keyPem, csrPem } = await generateKeyAndCsr("bench-agent");
  const enrollClient = createAgentClient(msg.address, grpc.credentials.createSsl(Buffer.from(msg.caPem)));
  const identities = await mapLimit(msg.tokens, ENROLL_CONCURRENCY, async (joinToken, i) => {
    const res = await enrollClient.enroll(create(EnrollRequestSchema, {
      joinToken, csrPem, hostname: `sim-${process.pid}-${i}`, roles: ["web"], agentVersion: "bench",
    }));
    counters.enrolled += 1;
    return { nodeId: res.nodeId, certPem: res.certificatePem };
  });
  enrollClient.close();
  reply<FromAgents>({ kind: "enrolled", count: identities.length, ms: msSince(t0) });

  const t1 = now();
  agents = identities.map((id) => new SimAgent(id.nodeId, mtlsCredentials({ caPem: msg.caPem, keyPem, certPem: id.certPem }), msg.address, msg.slots));
  await mapLimit(agents, CONNECT_CONCURRENCY, (agent) => agent.connect());
  clearInterval(ticker);
  reply<FromAgents>({ kind: "ready", nodeIds: agents.map((a) => a.nodeId), ms: msSince(t1) });
}

process.on("message", (raw) => {
  const msg = raw as ToAgents;
  switch (msg.kind) {
    case "start":
      start(msg).catch((error: unknown) => reply<FromAgents>({ kind: "error", message: String(error) }));
      return;
    case "record":
      receipts.on = msg.on;
      return;
    case "flush": {
      reply<FromAgents>({ kind: "receipts", ids: receipts.ids, at: receipts.at });
      receipts.ids = [];
      receipts.at = [];
      return;
    }
    case "stats": {
      const { enrolled: _enrolled, ...rest } = counters;
      reply<FromAgents>({ kind: "stats", rss: process.memoryUsage().rss, ...rest });
      return;
    }
    case "stop":
      for (const agent of agents) agent.close();
      process.send?.({ kind: "stopped" } satisfies FromAgents, () => setTimeout(() => process.exit(0), 100));
      return;
  }
});
