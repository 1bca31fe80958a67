import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { AgentMessageSchema, create, ERROR_CODE_METADATA_KEY, HelloSchema, PullSchema, RenewCertificateRequestSchema, type AgentMessage } from "@mpanel/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "../../agent/src/agent";
import { createAgentClient, errorCodeOf, mtlsCredentials } from "../../agent/src/client";
import { enroll, EnrollError } from "../../agent/src/enroll";
import { loadIdentity, type NodeIdentity } from "../../agent/src/identity";
import { generateKeyAndCsr } from "../../agent/src/pki";
import { FatalSessionError } from "../../agent/src/session";
import { eventually, joinToken, prepareWebNode, startTestAgent, startTestCoordinator, testLog, type TestCoordinator, type TestWebNode } from "./support/harness";

describe("enrollment and node refusals", () => {
  let t: TestCoordinator;
  let dir: string;
  let n = 0;
  const codes = new Map<string, string>();

  beforeAll(async () => {
    t = await startTestCoordinator();
    dir = await mkdtemp(join(tmpdir(), "mpanel-enroll-"));
  });
  afterAll(async () => {
    await t?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function tryEnroll(token: string, roles: string[] = ["web"], caHash = t.coordinator.caHash): Promise<NodeIdentity> {
    n += 1;
    return enroll({ coordinator: t.grpcAddress, token, caHash, roles, hostname: `node-${n}`, stateDir: join(dir, `state-${n}`) });
  }

  /** Expects enrollment to be refused with `code` (an EnrollError) and records the code under `why`. */
  async function expectRefused(why: string, attempt: Promise<unknown>, code: string): Promise<void> {
    const error = await attempt.then(() => null, (e: unknown) => e);
    expect(error, why).toBeInstanceOf(EnrollError);
    expect((error as EnrollError).code, why).toBe(code);
    codes.set(why, code);
  }

  const hello: AgentMessage["msg"] = { case: "hello", value: create(HelloSchema, { agentVersion: "test", roles: ["web"], hostname: "web-test" }) };

  /** Opens Connect with `identity`, sends `first`, and returns the status the coordinator ends the stream with. */
  async function connectStatus(identity: NodeIdentity, first: AgentMessage["msg"]): Promise<grpc.StatusObject> {
    const client = createAgentClient(t.grpcAddress, mtlsCredentials(identity));
    try {
      const stream = client.connect();
      return await new Promise<grpc.StatusObject>((resolve) => {
        stream.on("error", () => undefined);
        stream.on("data", () => undefined);
        stream.on("status", resolve);
        stream.write(create(AgentMessageSchema, { msg: first }));
      });
    } finally {
      client.close();
    }
  }

  async function serverCount(): Promise<number> {
    const res = await t.api("GET", "/api/admin/servers");
    expect(res.status).toBe(200);
    return Number(res.body.meta?.total);
  }

  async function tokenUsedAt(token: { id: string }): Promise<Date | null> {
    const { rows } = await t.coordinator.database.db.pool.query<{ used_at: Date | null }>("SELECT used_at FROM join_tokens WHERE id = $1", [token.id]);
    expect(rows).toHaveLength(1);
    return rows[0]?.used_at ?? null;
  }

  async function newToken(roles: string[] = ["web"]): Promise<{ id: string; token: string }> {
    const res = await t.api("POST", "/api/admin/join-tokens", { roles, ttlSeconds: 600 });
    expect(res.status).toBe(201);
    return { id: String(res.body.data?.id), token: String(res.body.data?.token) };
  }

  it("refuses a token that was already used", async () => {
    const token = await newToken();
    const first = await tryEnroll(token.token);
    expect(first.nodeId).toMatch(/^[0-9a-f-]{36}$/);
    const before = await serverCount();
    await expectRefused("reused", tryEnroll(token.token), "token_used");
    expect(await serverCount()).toBe(before);
  });

  it("refuses an expired token", async () => {
    const token = await newToken();
    await t.coordinator.database.db.pool.query("UPDATE join_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [token.id]);
    const before = await serverCount();
    await expectRefused("expired", tryEnroll(token.token), "token_expired");
    expect(await serverCount()).toBe(before);
    expect(await tokenUsedAt(token)).toBeNull();
  });

  it("refuses roles beyond the token's, without burning the token", async () => {
    const token = await newToken(["mail"]);
    await expectRefused("role", tryEnroll(token.token, ["web"]), "token_role");
    await expectRefused("role+", tryEnroll(token.token, ["mail", "web"]), "token_role");
    codes.delete("role+");
    expect(await tokenUsedAt(token)).toBeNull();
    const identity = await tryEnroll(token.token, ["mail"]);
    const server = await t.api("GET", `/api/admin/servers/${identity.nodeId}`);
    expect(server.body.data?.roles).toEqual(["mail"]);
  });

  it("refuses a token it never issued", async () => {
    const before = await serverCount();
    await expectRefused("garbage", tryEnroll("mpj_this-token-was-never-issued"), "token_invalid");
    await expectRefused("empty", tryEnroll(""), "token_invalid");
    codes.delete("empty");
    expect(await serverCount()).toBe(before);
  });

  it("refuses a coordinator whose CA does not match the pin before sending the token", async () => {
    const token = await newToken();
    const wrongPin = `sha256:${"0".repeat(64)}`;
    expect(wrongPin).not.toBe(t.coordinator.caHash);
    await expectRefused("ca pin", tryEnroll(token.token, ["web"], wrongPin), "ca_pin_mismatch");
    await expectRefused("ca pin format", tryEnroll(token.token, ["web"], "not-a-pin"), "ca_pin_mismatch");
    codes.delete("ca pin format");
    expect(await tokenUsedAt(token)).toBeNull();
    const identity = await tryEnroll(token.token);
    expect(await tokenUsedAt(token)).toBeInstanceOf(Date);
    expect((await t.api("GET", `/api/admin/servers/${identity.nodeId}`)).status).toBe(200);
  });

  it("gives each refusal its own code", () => {
    expect([...codes.keys()].sort()).toEqual(["ca pin", "expired", "garbage", "reused", "role"]);
    expect(new Set(codes.values()).size).toBe(codes.size);
  });

  describe("a revoked node", () => {
    let node: TestWebNode;
    let agent: RunningAgent;
    let outcome: Promise<unknown>;

    beforeAll(async () => {
      node = await prepareWebNode(t);
      agent = await startTestAgent(t, node);
      outcome = agent.done.then(() => "resolved", (error: unknown) => error);
      await eventually("node online", async () => (await t.api("GET", `/api/admin/servers/${agent.nodeId}`)).body.data?.status === "online");
    });
    afterAll(async () => {
      await agent?.stop(1000);
      await node?.stop();
    });

    it("is cut off: the running agent stops with FatalSessionError and the node stays revoked", async () => {
      const revoked = await t.api("POST", `/api/admin/servers/${agent.nodeId}/revoke`);
      expect(revoked.status).toBe(200);
      expect(revoked.body.data?.status).toBe("revoked");
      const error = await Promise.race([outcome, new Promise((r) => setTimeout(() => r("still running"), 10_000))]);
      expect(error).toBeInstanceOf(FatalSessionError);
      expect((error as FatalSessionError).grpcCode).toBe(grpc.status.PERMISSION_DENIED);
      // The coordinator's disconnect handling must not flip the status back to offline.
      await new Promise((r) => setTimeout(r, 300));
      const server = await t.api("GET", `/api/admin/servers/${agent.nodeId}`);
      expect(server.body.data?.status).toBe("revoked");
      expect(server.body.data?.revokedAt).toBeTruthy();
    });

    it("refuses a new Connect and a certificate renewal with that certificate", async () => {
      const identity = await loadIdentity(node.config.stateDir);
      expect(identity?.nodeId).toBe(agent.nodeId);
      const status = await connectStatus(identity as NodeIdentity, hello);
      expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(status.metadata.get(ERROR_CODE_METADATA_KEY)).toEqual(["node_revoked"]);
      const client = createAgentClient(t.grpcAddress, mtlsCredentials(identity as NodeIdentity));
      try {
        const { csrPem } = await generateKeyAndCsr("web-test");
        const renewal = await client.renewCertificate(create(RenewCertificateRequestSchema, { csrPem })).then(() => null, (e: unknown) => e);
        expect(errorCodeOf(renewal)).toBe("node_revoked");
      } finally {
        client.close();
      }
      expect((await t.api("GET", `/api/admin/servers/${agent.nodeId}`)).body.data?.status).toBe("revoked");
    });

    it("does not come back when the agent restarts with its stored identity", async () => {
      const restarted = await startAgent(node.config, testLog);
      expect(restarted.nodeId).toBe(agent.nodeId);
      const error = await restarted.done.then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(FatalSessionError);
      expect((await t.api("GET", `/api/admin/servers/${agent.nodeId}`)).body.data?.status).toBe("revoked");
    });
  });

  it("still enrolls new nodes with fresh tokens, and ends a stream that does not start with Hello", async () => {
    const identity = await tryEnroll((await joinToken(t)).token);
    expect(identity.certPem).toContain("BEGIN CERTIFICATE");
    const status = await connectStatus(identity, { case: "pull", value: create(PullSchema, { credits: 1 }) });
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await t.api("GET", `/api/admin/servers/${identity.nodeId}`)).body.data?.status).toBe("offline");
  });
});
