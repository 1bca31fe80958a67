import { createHash, randomBytes } from "node:crypto";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAgentConfig } from "../../agent/src/config";
import { startAgent, type RunningAgent } from "../../agent/src/agent";
import { freePort } from "../../agent/src/drivers/free-port";
import { startPrivateNginx } from "../../agent/src/drivers/nginx-instance";
import { createUser } from "../src/auth/users";
import { openDatabase, type Database } from "../src/db/client";
import { startEmbeddedPostgres } from "../src/db/embedded";
import { startPrivateHaproxy } from "./support/haproxy-instance";
import { eventually, testLog, type ApiBody } from "./support/harness";
import { startPrivateRedis } from "./support/redis-instance";
import { startReplica, type ReplicaProcess } from "./support/replica";
import { scratchDatabase } from "./support/scratch-db";

/** A terminal WebSocket as the test drives it: everything it printed so far, and how it closed. */
interface Terminal {
  output(): string;
  type(text: string): void;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

describe("a node reached through the replica that does not hold its stream", () => {
  const cleanups: Array<() => Promise<void>> = [];
  let db: Database;
  let replicas: ReplicaProcess[];
  let agent: RunningAgent;
  let cookie: string;
  let token: string;
  let podId: string;
  let systemUser: string;
  /** The replica holding the agent's stream, and the other one (the browser's). */
  let holder: ReplicaProcess;
  let other: ReplicaProcess;
  /** Starts one more replica on the same database, Redis and CA (stopped at the end). */
  let extraReplica: () => Promise<ReplicaProcess>;
  /** Is a shell of the CloudPod's user running on the node? */
  const shells = async (): Promise<boolean> => (await execa("pgrep", ["-u", systemUser, "-x", "bash"], { reject: false })).exitCode === 0;

  /** JSON API call on `base` as the admin. */
  async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: ApiBody }> {
    const res = await fetch(new URL(path, base), {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as ApiBody) : {} };
  }

  /** Opens the CloudPod's web terminal on `base` with the admin's session cookie. */
  function openTerminal(base: string): Terminal {
    const ws = new WebSocket(`${base.replace("http", "ws")}/api/admin/cloudpods/${podId}/terminal`, { headers: { cookie } });
    ws.binaryType = "arraybuffer";
    const decoder = new TextDecoder();
    let printed = "";
    // Keystrokes are sent as soon as the socket is open, before the shell exists: the coordinator keeps them until it does.
    const opened = new Promise<void>((resolve) => ws.addEventListener("open", () => resolve()));
    ws.addEventListener("error", () => undefined);
    ws.addEventListener("message", (e) => {
      printed += typeof e.data === "string" ? e.data : decoder.decode(e.data as ArrayBuffer, { stream: true });
    });
    return {
      output: () => printed,
      type: (text) => void opened.then(() => ws.send(new TextEncoder().encode(text))),
      closed: new Promise((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }))),
      close: () => ws.close(),
    };
  }

  /** Types a command whose output (not its echo) carries the shell user's name; resolves once it is printed. */
  async function whoami(terminal: Terminal): Promise<string> {
    terminal.type("printf 'user=%s.\\n' \"$(id -un)\"\n");
    const match = await eventually("the shell to print its user", async () => /user=([a-z_][a-z0-9_-]*)\./.exec(terminal.output()), 20_000)
      .catch((error: unknown) => {
        throw new Error(`${String(error)}; the terminal printed: ${JSON.stringify(terminal.output().slice(-500))}`);
      });
    return match[1] ?? "";
  }

  beforeAll(async () => {
    let url: string;
    if (process.env.DATABASE_URL) {
      const scratch = await scratchDatabase(process.env.DATABASE_URL, "mpanel_cross");
      cleanups.push(scratch.drop);
      url = scratch.url;
    } else {
      const pgDir = await mkdtemp(join(tmpdir(), "mpanel-cross-pg-"));
      const embedded = await startEmbeddedPostgres(pgDir, await freePort(), testLog);
      cleanups.push(async () => {
        await embedded.stop();
        await rm(pgDir, { recursive: true, force: true });
      });
      url = embedded.url;
    }
    const redis = await startPrivateRedis();
    cleanups.push(() => redis.stop());
    const env = (dataDir: string): Record<string, string> => ({
      MPANEL_DATA_DIR: dataDir, DATABASE_URL: url, MPANEL_REDIS_URL: redis.url,
      MPANEL_HTTP_PORT: "0", MPANEL_GRPC_PORT: "0", MPANEL_GRPC_SANS: "localhost,127.0.0.1", LOG_LEVEL: "silent",
      MPANEL_HEARTBEAT_MS: "1000", MPANEL_RENEWAL_SCAN_MS: "3600000", MPANEL_BILLING_RUN_MS: "3600000", MPANEL_BACKUP_SCAN_MS: "3600000",
    });
    const dirA = await mkdtemp(join(tmpdir(), "mpanel-cross-a-"));
    const dirB = await mkdtemp(join(tmpdir(), "mpanel-cross-b-"));
    cleanups.push(() => rm(dirA, { recursive: true, force: true }), () => rm(dirB, { recursive: true, force: true }));
    const a = await startReplica(env(dirA));
    cleanups.push(() => a.stop());
    await cp(join(dirA, "ca"), join(dirB, "ca"), { recursive: true, preserveTimestamps: true });
    const b = await startReplica(env(dirB));
    cleanups.push(() => b.stop());
    replicas = [a, b];
    extraReplica = async () => {
      const dir = await mkdtemp(join(tmpdir(), "mpanel-cross-c-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      await cp(join(dirA, "ca"), join(dir, "ca"), { recursive: true, preserveTimestamps: true });
      const replica = await startReplica(env(dir));
      cleanups.push(() => replica.stop());
      return replica;
    };
    db = openDatabase(url, 2);
    cleanups.push(() => db.close());

    // The agent reaches the gateways only through haproxy (A first, B as its backup).
    const front = await freePort();
    const proxy = await startPrivateHaproxy([{ name: "gateway", port: front, servers: [a.grpcPort, b.grpcPort], balance: "failover" }]);
    cleanups.push(() => proxy.stop());

    const admin = await createUser(db, { email: "root@cross.test", name: "Root", platformRole: "SUPER_ADMIN" });
    const login = await fetch(`${b.httpUrl}/api/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: "root@cross.test", password: admin.password }) });
    expect(login.status).toBe(200);
    cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    token = ((await login.json()) as { data: { token: string } }).data.token;

    const dir = await mkdtemp(join(tmpdir(), "mpanel-cross-node-"));
    const port = await freePort();
    const nginx = await startPrivateNginx({ prefix: join(dir, "nginx"), port });
    cleanups.push(async () => {
      await nginx.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const joinToken = await api(b.httpUrl, "POST", "/api/admin/join-tokens", { roles: ["web"], ttlSeconds: 600 });
    expect(joinToken.status).toBe(201);
    const config = parseAgentConfig({
      coordinator: `127.0.0.1:${front}`, stateDir: join(dir, "state"), roles: ["web"], hostname: "cross-web", podsRoot: join(dir, "pods"),
      nginx: { ...nginx.driverConfig, listen: `127.0.0.1:${port}` }, metrics: { sampleMs: 300, batchMs: 1000 }, logLevel: process.env.MPANEL_TEST_LOG ?? "silent",
    });
    agent = await startAgent(config, testLog, { token: String(joinToken.body.data?.token), caHash: a.caHash });
    cleanups.push(() => agent.stop(2000));

    const tenant = await api(b.httpUrl, "POST", "/api/admin/tenants", { name: "Cross Co" });
    const created = await api(b.httpUrl, "POST", "/api/admin/cloudpods", { tenantId: (tenant.body.data?.tenant as { id: string }).id, name: "cross" });
    expect(created.status).toBe(202);
    podId = (created.body.data?.pod as { id: string }).id;
    const jobId = String(created.body.data?.jobId);
    const job = await eventually("the CloudPod created", async () => {
      const res = await api(b.httpUrl, "GET", `/api/admin/jobs/${jobId}`);
      return ["succeeded", "failed"].includes(String(res.body.data?.status)) ? res.body.data : null;
    }, 60_000);
    expect(job.status).toBe("succeeded");
    systemUser = (await db.prisma.cloudPod.findUniqueOrThrow({ where: { id: podId } })).systemUser;
    cleanups.push(async () => {
      // Deleting the CloudPod removes its system user from this machine (through whichever replica is left).
      // userdel refuses while the user runs processes: end this test's shells and file door first, by pid.
      const pids = (await execa("pgrep", ["-u", systemUser], { reject: false })).stdout.split("\n").filter(Boolean).map(Number);
      for (const pid of pids) process.kill(pid, "SIGKILL");
      await eventually("the CloudPod's processes to end", async () => (await execa("pgrep", ["-u", systemUser], { reject: false })).exitCode === 1);
      const live = replicas.find((r) => r !== holder) ?? b;
      const deleted = await api(live.httpUrl, "DELETE", `/api/admin/cloudpods/${podId}`);
      const id = String(deleted.body.data?.jobId);
      await eventually("the CloudPod deleted", async () => ["succeeded", "failed"].includes(String((await api(live.httpUrl, "GET", `/api/admin/jobs/${id}`)).body.data?.status)), 60_000);
    });

    const counts = await Promise.all(replicas.map((r) => r.sessions()));
    expect(counts.reduce((x, y) => x + y, 0)).toBe(1);
    holder = counts[0] === 1 ? a : b;
    other = holder === a ? b : a;
  }, 180_000);

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }, 120_000);

  it("runs a terminal through the other replica as the CloudPod's user", async () => {
    const terminal = openTerminal(other.httpUrl);
    expect(await whoami(terminal)).toBe(systemUser);
    // Output keeps flowing past the agent's flow-control window: the browser's acks travel back through the holder.
    // About 1 MB of output, four times the agent's 256 KiB window: it only finishes if the browser's acks reach the agent.
    terminal.type("head -c 320000 /dev/zero | od -An -v; echo end-of-flood-$((6*7))\n");
    await eventually("a flood larger than the flow-control window", async () => terminal.output().includes("end-of-flood-42"), 60_000);
    expect(terminal.output().length).toBeGreaterThan(1_000_000);
    // Closing the browser's socket closes the shell on the node: the close travels through the holder too.
    expect(await shells()).toBe(true);
    terminal.close();
    await terminal.closed;
    await eventually("the shell to end on the node", async () => !(await shells()));
  });

  it("uploads, lists, reads and downloads files through the other replica", async () => {
    const bytes = randomBytes(2 * 1024 * 1024 + 12_345);
    const expected = createHash("sha256").update(bytes).digest("hex");
    const files = `${other.httpUrl}/api/admin/cloudpods/${podId}/files`;
    const headers = { authorization: `Bearer ${token}` };
    const upload = await fetch(`${files}/upload?path=cross.bin&uploadId=cross-upload-1&offset=0&size=${bytes.length}`, {
      method: "PUT", headers: { ...headers, "content-type": "application/octet-stream" }, body: bytes,
    });
    expect(upload.status, await upload.clone().text()).toBe(200);
    expect(((await upload.json()) as ApiBody).data).toEqual({ received: bytes.length, complete: true });

    const listing = await api(other.httpUrl, "GET", `/api/admin/cloudpods/${podId}/files?path=`);
    expect(listing.status).toBe(200);
    expect(listing.body.data?.entries).toEqual(expect.arrayContaining([expect.objectContaining({ name: "cross.bin", type: "file", size: bytes.length })]));

    expect((await api(other.httpUrl, "PUT", `/api/admin/cloudpods/${podId}/files/content`, { path: "note.txt", content: "across replicas\n" })).status).toBe(200);
    expect((await api(other.httpUrl, "GET", `/api/admin/cloudpods/${podId}/files/content?path=note.txt`)).body.data?.content).toBe("across replicas\n");
    // A refusal of the node's door keeps its status across the relay.
    expect((await api(other.httpUrl, "GET", `/api/admin/cloudpods/${podId}/files/content?path=missing.txt`)).status).toBe(404);

    const download = await fetch(`${files}/download?path=cross.bin`, { headers });
    expect(download.status).toBe(200);
    expect(createHash("sha256").update(Buffer.from(await download.arrayBuffer())).digest("hex")).toBe(expected);
  });

  it("serves the node's metrics and their live feed on the other replica", async () => {
    const serverId = agent.nodeId;
    const ws = new WebSocket(`${other.httpUrl.replace("http", "ws")}/api/live`, { headers: { cookie } });
    const seen: Array<{ type: string; event?: { kind: string; serverId?: string } }> = [];
    ws.addEventListener("error", () => undefined);
    ws.addEventListener("message", (e) => seen.push(JSON.parse(String(e.data)) as (typeof seen)[number]));
    try {
      await eventually("metrics pushed live by the other replica", async () => seen.some((m) => m.event?.kind === "metrics" && m.event.serverId === serverId));
      const series = await api(other.httpUrl, "GET", `/api/admin/servers/${serverId}/metrics?step=1`);
      expect(series.status).toBe(200);
      expect((series.body.data?.points as unknown[]).length).toBeGreaterThan(0);
    } finally {
      ws.close();
    }
  });

  it("closes the shell the holder runs for a replica that crashed", async () => {
    const third = await extraReplica();
    const terminal = openTerminal(third.httpUrl);
    expect(await whoami(terminal)).toBe(systemUser);
    expect(await shells()).toBe(true);
    await third.kill();
    // Nothing more comes from the crashed replica: the holder notices its liveness key expired and closes the shell.
    await eventually("the holder to close the crashed replica's shell", async () => !(await shells()), 60_000);
  }, 120_000);

  it("ends a relayed terminal when the holder is killed, and works again once the agent reconnected to the survivor", async () => {
    const relayed = openTerminal(other.httpUrl);
    expect(await whoami(relayed)).toBe(systemUser);
    await holder.kill();
    const ended = await relayed.closed;
    expect(ended.code).toBe(1000);
    // Whichever comes first: the survivor sees the agent reconnect, or finds the holder gone (unsubscribed, or its liveness key expired).
    expect(ended.reason).toMatch(/node reconnected elsewhere|the node's replica is gone/);
    testLog.info({ reason: ended.reason }, "cross-replica: relayed terminal ended with its holder");

    await eventually("the agent to reconnect to the survivor", async () => (await other.sessions()) === 1, 60_000);
    const terminal = openTerminal(other.httpUrl);
    expect(await whoami(terminal)).toBe(systemUser);
    terminal.close();
    await terminal.closed;
  }, 120_000);
});
