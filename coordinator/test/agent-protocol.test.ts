import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { AgentMessageSchema, create, HelloSchema, jobTypes, MINOR_0_JOB_TYPES, PROTOCOL_MINOR, protocolSupported, SUPPORTED_MINORS_BEHIND, type CoordinatorMessage } from "@mpanel/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient, mtlsCredentials } from "../../agent/src/client";
import { enroll } from "../../agent/src/enroll";
import { eventually, joinToken, startTestCoordinator, type TestCoordinator } from "./support/harness";

/** A hand-driven agent stream: sends Hello (as an agent of `protocolMinor` announcing `types`) and Pull, and records what arrives. */
async function rawAgent(t: TestCoordinator, dir: string, name: string, hello: { protocolMinor?: number; jobTypes?: string[] }) {
  const identity = await enroll({ coordinator: t.grpcAddress, ...(await joinToken(t, ["web"])), roles: ["web"], hostname: name, stateDir: join(dir, name) });
  const client = createAgentClient(t.grpcAddress, mtlsCredentials(identity));
  const stream = client.connect();
  const received: CoordinatorMessage[] = [];
  const ended = new Promise<{ code: number; details: string }>((resolve) => stream.on("status", resolve));
  stream.on("error", () => undefined);
  stream.on("data", (m: CoordinatorMessage) => received.push(m));
  stream.write(create(AgentMessageSchema, { msg: { case: "hello", value: create(HelloSchema, { agentVersion: "old", roles: ["web"], hostname: name, ...hello }) } }));
  stream.write(create(AgentMessageSchema, { msg: { case: "pull", value: { credits: 10 } } }));
  return {
    nodeId: identity.nodeId, received, ended,
    assigned: () => received.flatMap((m) => (m.msg.case === "jobAssignment" ? [m.msg.value.type] : [])),
    close() {
      stream.end();
      client.close();
    },
  };
}

describe("agent protocol versions", () => {
  let t: TestCoordinator;
  let dir: string;

  beforeAll(async () => {
    t = await startTestCoordinator();
    dir = await mkdtemp(join(tmpdir(), "mpanel-protocol-"));
  });
  afterAll(async () => {
    await t?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Queues a job of `type` for `nodeId` directly (the payload is never run: these agents only record assignments). */
  async function queue(nodeId: string, type: string): Promise<void> {
    await t.coordinator.database.db.pool.query("INSERT INTO jobs (id, type, payload, target_server_id) VALUES ($1, $2, '{}', $3)", [randomUUID(), type, nodeId]);
    t.coordinator.wakeups.announce([{ serverId: nodeId, role: null }]);
  }

  it("serves agents from one minor behind up, newer ones included", () => {
    expect(protocolSupported(PROTOCOL_MINOR)).toBe(true);
    expect(protocolSupported(PROTOCOL_MINOR + 1)).toBe(true);
    expect(protocolSupported(PROTOCOL_MINOR - SUPPORTED_MINORS_BEHIND)).toBe(true);
    const tooOld = PROTOCOL_MINOR - SUPPORTED_MINORS_BEHIND - 1;
    if (tooOld >= 0) expect(protocolSupported(tooOld)).toBe(false);
  });

  it("keeps an agent of the previous minor working and gives it only the job types it knows", async () => {
    const old = await rawAgent(t, dir, "old-agent", {});
    await eventually("welcome", async () => old.received.some((m) => m.msg.case === "welcome"));
    const welcome = old.received.find((m) => m.msg.case === "welcome");
    expect(welcome?.msg.case === "welcome" && welcome.msg.value.protocolMinor).toBe(PROTOCOL_MINOR);
    await eventually("node online", async () => (await t.api("GET", `/api/admin/servers/${old.nodeId}`)).body.data?.status === "online");

    const newer = jobTypes.filter((type) => !MINOR_0_JOB_TYPES.includes(type));
    for (const type of newer) await queue(old.nodeId, type);
    await queue(old.nodeId, "NOOP");
    await eventually("the NOOP assigned", async () => old.assigned().includes("NOOP"));
    expect(old.assigned()).toEqual(["NOOP"]);
    const { rows } = await t.coordinator.database.db.pool.query<{ type: string; status: string }>("SELECT type, status FROM jobs WHERE target_server_id = $1 ORDER BY type", [old.nodeId]);
    for (const type of newer) expect(rows.find((r) => r.type === type)?.status, `${type} waits for an agent that runs it`).toBe("queued");
    old.close();
  });

  it("assigns an agent only the job types it announced", async () => {
    const narrow = await rawAgent(t, dir, "narrow-agent", { protocolMinor: PROTOCOL_MINOR, jobTypes: ["NOOP"] });
    await eventually("welcome", async () => narrow.received.some((m) => m.msg.case === "welcome"));
    await queue(narrow.nodeId, "UPGRADE_AGENT");
    await queue(narrow.nodeId, "NOOP");
    await eventually("the NOOP assigned", async () => narrow.assigned().includes("NOOP"));
    expect(narrow.assigned()).toEqual(["NOOP"]);
    narrow.close();
  });
});
