import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseAgentConfig, type AgentConfig } from "../../../agent/src/config";
import { startAgent, type RunningAgent } from "../../../agent/src/agent";
import { freePort } from "../../../agent/src/drivers/free-port";
import { startPrivateNginx, type PrivateNginx } from "../../../agent/src/drivers/nginx-instance";
import { createUser } from "../../src/auth/users";
import { loadConfig } from "../../src/config";
import { startCoordinator, type Coordinator } from "../../src/coordinator";
import { scratchDatabase } from "./scratch-db";

/** Test log level: silent unless MPANEL_TEST_LOG is set (e.g. "debug"). */
export const testLog = pino({ level: process.env.MPANEL_TEST_LOG ?? "silent" });

/** With DATABASE_URL set, a scratch database on that server; without it, none (embedded PostgreSQL). */
async function testDatabase(): Promise<{ url?: string; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL;
  return base ? scratchDatabase(base, "mpanel_test") : { drop: async () => undefined };
}

/** A coordinator on free loopback ports with its own data dir and database, plus a logged-in super admin. */
export interface TestCoordinator {
  coordinator: Coordinator;
  dataDir: string;
  grpcAddress: string;
  adminToken: string;
  /** The one-time password of `root@example.test` (the super admin), for tests that sign in like a person. */
  adminPassword: string;
  /** JSON request as the admin (or with `token`), returning status and parsed body. */
  api(method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; body: ApiBody }>;
  stop(): Promise<void>;
}

/** The loose shape of API responses in tests. */
export interface ApiBody {
  data?: Record<string, unknown> & { [key: string]: unknown };
  meta?: { total: number };
  error?: string;
  message?: string;
  details?: Array<{ field: string; message: string }>;
}

/** Starts a coordinator for a test. `env` overrides config (e.g. short leases). */
export async function startTestCoordinator(env: Record<string, string> = {}): Promise<TestCoordinator> {
  const dataDir = await mkdtemp(join(tmpdir(), "mpanel-coord-"));
  const db = await testDatabase();
  const config = loadConfig({
    MPANEL_DATA_DIR: dataDir,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    MPANEL_EMBEDDED_PG_PORT: String(await freePort()),
    MPANEL_HTTP_PORT: "0",
    MPANEL_GRPC_PORT: "0",
    MPANEL_GRPC_SANS: "localhost,127.0.0.1",
    LOG_LEVEL: "silent",
    ...env,
  });
  const coordinator = await startCoordinator(config, testLog);
  const admin = await createUser(coordinator.database.db, { email: "root@example.test", name: "Root", platformRole: "SUPER_ADMIN" });
  const api: TestCoordinator["api"] = async (method, url, body, token) => {
    const res = await coordinator.app.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token ?? adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as ApiBody) : {} };
  };
  const login = await coordinator.app.inject({ method: "POST", url: "/api/auth/login", payload: { email: "root@example.test", password: admin.password } });
  const adminToken = (JSON.parse(login.body) as { data: { token: string } }).data.token;
  return {
    coordinator, dataDir, adminToken, api, adminPassword: admin.password,
    grpcAddress: `127.0.0.1:${coordinator.grpcPort}`,
    async stop() {
      await coordinator.stop();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates a join token through the API and returns it with the CA pin. */
export async function joinToken(t: TestCoordinator, roles: string[] = ["web"], ttlSeconds = 3600): Promise<{ token: string; caHash: string }> {
  const res = await t.api("POST", "/api/admin/join-tokens", { roles, ttlSeconds });
  if (res.status !== 201) throw new Error(`join token: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: String(res.body.data?.token), caHash: t.coordinator.caHash };
}

/** A web node for tests: a private nginx and an agent config pointing at it and at the coordinator. */
export interface TestWebNode {
  nginx: PrivateNginx;
  config: AgentConfig;
  dir: string;
  stop(): Promise<void>;
}

/** Prepares (does not start) a web node: private nginx on a free port, pods and state under a temp dir. */
export async function prepareWebNode(t: TestCoordinator, extra: Partial<Record<string, unknown>> = {}): Promise<TestWebNode> {
  const dir = await mkdtemp(join(tmpdir(), "mpanel-node-"));
  const port = await freePort();
  const nginx = await startPrivateNginx({ prefix: join(dir, "nginx"), port });
  const config = parseAgentConfig({
    coordinator: t.grpcAddress,
    stateDir: join(dir, "state"),
    roles: ["web"],
    hostname: "web-test",
    podsRoot: join(dir, "pods"),
    nginx: { ...nginx.driverConfig, listen: `127.0.0.1:${port}` },
    logLevel: process.env.MPANEL_TEST_LOG ?? "silent",
    ...extra,
  });
  return {
    nginx, config, dir,
    async stop() {
      await nginx.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts an in-process agent for `node`, enrolling with a fresh token. */
export async function startTestAgent(t: TestCoordinator, node: TestWebNode): Promise<RunningAgent> {
  return startAgent(node.config, testLog, await joinToken(t, [...node.config.roles]));
}

/** Polls `fn` every 50 ms until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function eventually<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** GET `/` through nginx with a Host header; status and body. */
export async function fetchSite(node: TestWebNode, host: string, path = "/"): Promise<{ status: number; body: string }> {
  const { httpGet } = await import("../../../agent/src/drivers/nginx");
  const res = await httpGet(new URL(path, node.nginx.probeUrl), host, 5000);
  return res ?? { status: 0, body: "" };
}

/** Waits until the job reaches a final status, returning the job with its events. */
export async function waitForJob(t: TestCoordinator, jobId: string, statuses = ["succeeded", "failed"], timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return eventually(`job ${jobId} to reach ${statuses.join("|")}`, async () => {
    const res = await t.api("GET", `/api/admin/jobs/${jobId}`);
    const job = res.body.data;
    return job && statuses.includes(String(job.status)) ? job : null;
  }, timeoutMs);
}
