/**
 * The mPanel side of bench/terminal and bench/files, brought up as the coordinator's tests do
 * (coordinator/test/support/harness.ts): a coordinator on free loopback ports with its embedded
 * PostgreSQL, a web node (private nginx) with a real agent enrolled over gRPC/mTLS, and one
 * CloudPod created through the API (its system user exists on this machine until the CloudPod
 * is deleted in `stop()`). The agent runs in the bench's process (the harness's way) or, with
 * `agentProcess`, as its own process (`agent/src/main.ts`, as in production).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RunningAgent } from "../../agent/src/agent";
import { eventually, joinToken, prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "../../coordinator/test/support/harness";

/** The repository's root (the agent process runs from there, to resolve tsx). */
const ROOT = new URL("../../", import.meta.url).pathname;

/** Starts `agent/src/main.ts` for `node` with a fresh join token; resolves once its node is online. */
async function startAgentProcess(t: TestCoordinator, node: TestWebNode): Promise<ChildProcess> {
  const file = join(node.dir, "agent.json");
  await writeFile(file, JSON.stringify(node.config));
  const { token, caHash } = await joinToken(t, [...node.config.roles]);
  const proc = spawn(process.execPath, ["--import", "tsx", "agent/src/main.ts", "--config", file, "--token", token, "--ca-hash", caHash], {
    cwd: ROOT, env: { ...process.env, LOG_LEVEL: "silent" }, stdio: ["ignore", "ignore", "inherit"],
  });
  const prisma = t.coordinator.database.db.prisma;
  await eventually("the agent process to connect", async () => proc.exitCode === null && (await prisma.server.count({ where: { status: "online" } })) > 0, 60_000);
  return proc;
}

/** A coordinator, one agent and one CloudPod on it. */
export interface BenchPod {
  t: TestCoordinator;
  podId: string;
  /** The CloudPod's root directory on this machine (where the file manager's paths land). */
  root: string;
  /** Deletes the CloudPod (and its system user), stops the agent, the node and the coordinator. */
  stop(): Promise<void>;
}

/**
 * Starts the coordinator, the agent (in this process, or its own with `agentProcess`) and a
 * CloudPod named `name`; throws if the CloudPod's job fails.
 */
export async function startBenchPod(name: string, options: { agentProcess?: boolean } = {}): Promise<BenchPod> {
  const t = await startTestCoordinator();
  let node: TestWebNode | null = null;
  let agent: RunningAgent | null = null;
  let agentProc: ChildProcess | null = null;
  let podId = "";
  const stop = async (): Promise<void> => {
    const deleted = podId ? await t.api("DELETE", `/api/admin/cloudpods/${podId}`) : null;
    if (deleted?.body.data?.jobId) await waitForJob(t, String(deleted.body.data.jobId));
    await agent?.stop(2000);
    if (agentProc && agentProc.exitCode === null && agentProc.signalCode === null) {
      const exited = new Promise((resolve) => agentProc?.once("exit", resolve));
      agentProc.kill("SIGTERM");
      await exited;
    }
    await node?.stop();
    await t.stop();
  };
  try {
    node = await prepareWebNode(t);
    if (options.agentProcess) agentProc = await startAgentProcess(t, node);
    else agent = await startTestAgent(t, node);
    const tenant = await t.api("POST", "/api/admin/tenants", { name: `Bench ${name}` });
    const tenantId = (tenant.body.data?.tenant as { id: string }).id;
    const created = await t.api("POST", "/api/admin/cloudpods", { tenantId, name });
    if (created.status !== 202) throw new Error(`cloudpod refused: ${JSON.stringify(created.body)}`);
    podId = (created.body.data?.pod as { id: string }).id;
    const job = await waitForJob(t, String(created.body.data?.jobId));
    if (job.status !== "succeeded") throw new Error(`cloudpod job ${String(job.status)}`);
    const pod = await t.coordinator.database.db.prisma.cloudPod.findUniqueOrThrow({ where: { id: podId } });
    return { t, podId, root: join(node.config.podsRoot, pod.systemUser), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
