/**
 * Child process of bench/metrics: a share of the simulated agents. Enrollment and connection
 * are bench/dispatch/sim-agents.ts's: the real Enroll RPC per agent (own join token, node id
 * and certificate; the agents of one process share one key pair), then one grpc-js Client per
 * agent (its own mTLS HTTP/2 connection) with one `Connect` stream: Hello, Welcome, and a
 * Heartbeat every Welcome interval. On `send`, every agent writes `batches` MetricsBatch
 * messages of `samples` samples each, as fast as its stream takes them (a `write` that returns
 * false waits for `drain`), with distinct instants 1 ms apart from `fromMs`.
 */
import * as grpc from "@grpc/grpc-js";
import { AgentMessageSchema, create, EnrollRequestSchema, type AgentMessage, type CoordinatorMessage, type MetricSampleSchema } from "@mpanel/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createAgentClient, mtlsCredentials } from "../../agent/src/client";
import { generateKeyAndCsr } from "../../agent/src/pki";
import { reply } from "../dispatch/ipc";
import { mapLimit } from "../dispatch/stats";
import type { FromMetricsAgents, ToMetricsAgents } from "./ipc";

process.noDeprecation = true;

const ENROLL_CONCURRENCY = 8;
const CONNECT_CONCURRENCY = 16;

type Outgoing = MessageInitShape<typeof AgentMessageSchema>["msg"];
type Stream = grpc.ClientDuplexStream<AgentMessage, CoordinatorMessage>;
type SampleInit = MessageInitShape<typeof MetricSampleSchema>;

/** One connected agent: its stream and heartbeat timer. */
interface SimAgent {
  close(): void;
  /** Writes one message; resolves at once, or after `drain` when the stream's buffer is full. */
  write(msg: Outgoing): Promise<void>;
}

/** A sample shaped like the real sampler's (every figure measured). */
function sample(atMs: number, i: number): SampleInit {
  return {
    atMs: BigInt(atMs), cpuPercent: (i % 100) + 0.5, load1: 0.25 + (i % 7), memoryUsedBytes: 2_000_000_000 + i, memoryTotalBytes: 8_000_000_000,
    diskUsedBytes: 40_000_000_000 + i, diskTotalBytes: 100_000_000_000, netRxBytesPerSecond: 125_000 + i, netTxBytesPerSecond: 250_000 + i,
  };
}

function connect(nodeId: string, credentials: grpc.ChannelCredentials, address: string): Promise<SimAgent> {
  const client = createAgentClient(address, credentials);
  const stream: Stream = client.connect();
  let heartbeat: NodeJS.Timeout | undefined;
  const send = (msg: Outgoing): boolean => stream.write(create(AgentMessageSchema, { msg }));
  return new Promise((resolve, reject) => {
    let welcomed = false;
    stream.on("data", (message: CoordinatorMessage) => {
      if (message.msg.case !== "welcome") return;
      welcomed = true;
      heartbeat = setInterval(() => send({ case: "heartbeat", value: { runningJobIds: [] } }), message.msg.value.heartbeatIntervalMs);
      resolve({
        close() {
          clearInterval(heartbeat);
          stream.end();
          client.close();
        },
        write: (msg) => (send(msg) ? Promise.resolve() : new Promise((done) => stream.once("drain", () => done()))),
      });
    });
    stream.on("error", () => undefined);
    stream.on("status", (status: grpc.StatusObject) => {
      clearInterval(heartbeat);
      if (!welcomed) reject(new Error(`connect ${nodeId}: ${status.code} ${status.details}`));
    });
    send({ case: "hello", value: { agentVersion: "bench", roles: ["web"], capabilities: [], runningJobIds: [], hostname: nodeId } });
  });
}

let agents: SimAgent[] = [];

async function start(msg: Extract<ToMetricsAgents, { kind: "start" }>): Promise<void> {
  const { keyPem, csrPem } = await generateKeyAndCsr("bench-agent");
  const enrollClient = createAgentClient(msg.address, grpc.credentials.createSsl(Buffer.from(msg.caPem)));
  const identities = await mapLimit(msg.tokens, ENROLL_CONCURRENCY, async (joinToken, i) => {
    const res = await enrollClient.enroll(create(EnrollRequestSchema, {
      joinToken, csrPem, hostname: `metrics-${process.pid}-${i}`, roles: ["web"], agentVersion: "bench",
    }));
    return { nodeId: res.nodeId, certPem: res.certificatePem };
  });
  enrollClient.close();
  agents = await mapLimit(identities, CONNECT_CONCURRENCY, (id) => connect(id.nodeId, mtlsCredentials({ caPem: msg.caPem, keyPem, certPem: id.certPem }), msg.address));
  reply<FromMetricsAgents>({ kind: "ready", count: agents.length });
}

/** Every agent sends its batches (all agents at once, each one batch after another). */
async function send(msg: Extract<ToMetricsAgents, { kind: "send" }>): Promise<void> {
  await Promise.all(agents.map(async (agent) => {
    for (let b = 0; b < msg.batches; b++) {
      const samples: SampleInit[] = [];
      for (let s = 0; s < msg.samples; s++) {
        const seq = b * msg.samples + s;
        samples.push(sample(msg.fromMs + seq, seq));
      }
      await agent.write({ case: "metricsBatch", value: { samples } });
    }
  }));
  reply<FromMetricsAgents>({ kind: "sent" });
}

process.on("message", (raw) => {
  const msg = raw as ToMetricsAgents;
  const fail = (error: unknown): void => reply<FromMetricsAgents>({ kind: "error", message: String(error) });
  switch (msg.kind) {
    case "start":
      start(msg).catch(fail);
      return;
    case "send":
      send(msg).catch(fail);
      return;
    case "stop":
      for (const agent of agents) agent.close();
      process.send?.({ kind: "stopped" } satisfies FromMetricsAgents, () => setTimeout(() => process.exit(0), 100));
      return;
  }
});
