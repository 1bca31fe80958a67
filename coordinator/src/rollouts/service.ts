import { UpgradeAgent } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import { withJobs, type Enqueue } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";

/** The advisory lock of the controller run: with several replicas one advances rollouts at a time. */
const ROLLOUT_LOCK = 7245011;

/** Body of `POST /api/admin/rollouts`. `stages`: strictly increasing cumulative percentages of the nodes (e.g. [10, 50, 100]). */
export const RolloutInput = z.strictObject({
  version: UpgradeAgent.shape.version,
  bundleUrl: UpgradeAgent.shape.bundleUrl,
  sha256: UpgradeAgent.shape.sha256,
  stages: z.array(z.number().int().min(1).max(100)).min(1).max(10)
    .refine((stages) => stages.every((pct, i) => i === 0 || pct > (stages[i - 1] ?? 0)), "must be strictly increasing percentages"),
  /** How long each stage's nodes have, from the stage's start, to come back with the target version and healthy (ms). */
  healthWindowMs: z.number().int().min(1_000).max(86_400_000).default(600_000),
});

/** `GET /api/admin/rollouts` query: a page, optionally one status. */
export const RolloutListQuery = PageQuery.extend({ status: z.enum(["running", "paused", "stopped", "completed"]).optional() });

const rolloutFields = {
  id: true, version: true, bundleUrl: true, sha256: true, stages: true, healthWindowMs: true, status: true,
  currentStage: true, stageStartedAt: true, reason: true, createdAt: true, finishedAt: true,
} as const;

type RolloutRow = { id: string; version: string; stages: number[]; healthWindowMs: number; currentStage: number; stageStartedAt: Date | null; bundleUrl: string; sha256: string };
type NodeRow = { serverId: string; stage: number; state: string; jobId: string | null };
type Verdict = { state: "healthy" | "failed" | "upgrading"; detail: string };

/**
 * The stage (0-based) of the node at `index` among `count` nodes, or null when it is beyond the
 * last stage: stage i covers the first ceil(stages[i] * count / 100) nodes.
 */
export function stageOf(index: number, count: number, stages: readonly number[]): number | null {
  const stage = stages.findIndex((pct) => index < Math.ceil((pct * count) / 100));
  return stage < 0 ? null : stage;
}

/**
 * Where an upgrading node stands: failed when its UPGRADE_AGENT job failed; healthy when, after
 * the job succeeded, the node is online, reports the target version in its Hello and its daemon
 * states (service_health) were reported since the job finished with every daemon up; otherwise
 * still upgrading, or failed once `expired` (the stage's health window is over).
 */
async function judge(tx: Tx, rollout: RolloutRow, node: NodeRow, expired: boolean): Promise<Verdict> {
  const job = node.jobId ? await tx.job.findUnique({ where: { id: node.jobId }, select: { status: true, errorCode: true, errorMessage: true, finishedAt: true } }) : null;
  if (!job) return { state: "failed", detail: "the upgrade job is missing" };
  if (job.status === "failed" || job.status === "dependency_failed") return { state: "failed", detail: `upgrade job failed: ${job.errorCode ?? "error"}: ${job.errorMessage ?? ""}` };
  let why: string;
  if (job.status !== "succeeded" || !job.finishedAt) {
    why = `upgrade job ${job.status}`;
  } else {
    const finishedAt = job.finishedAt;
    const server = await tx.server.findUnique({ where: { id: node.serverId }, select: { status: true, agentVersion: true, health: true } });
    const fresh = server?.health.filter((h) => h.checkedAt >= finishedAt) ?? [];
    const down = server?.health.filter((h) => !h.up) ?? [];
    if (!server || server.status !== "online") why = "not back online since the upgrade";
    else if (server.agentVersion !== rollout.version) why = `reports version ${server.agentVersion ?? "none"}`;
    else if (down.length > 0) why = `unhealthy: ${down.map((h) => `${h.name} down (${h.detail})`).join(", ")}`;
    else if (fresh.length === 0) why = "no health report since the upgrade";
    else return { state: "healthy", detail: `version ${rollout.version}, ${fresh.length} service(s) up` };
  }
  return expired ? { state: "failed", detail: `${why} after the ${rollout.healthWindowMs} ms health window` } : { state: "upgrading", detail: why };
}

/**
 * Staged agent rollouts (issue 7): an operator names a bundle (URL + SHA-256) and a version;
 * the online nodes that do not run it yet are split into stages by cumulative percentage;
 * `advance` (the controller run, on a timer) upgrades one stage at a time with UPGRADE_AGENT
 * jobs and starts the next only when every node of the stage came back within `healthWindowMs`
 * online, reporting the version and healthy. Any failure or timeout stops the rollout
 * (`stopped`, ROLLOUT_STOPPED audit event with the reason); later stages' nodes are not touched.
 * All routes need the platform permission `servers:manage` (`servers:read` to look).
 */
export function createRolloutService(deps: { db: Database; wakeups: Wakeups }) {
  const { db } = deps;
  const { prisma } = db;

  async function load(id: string, tx: Tx | Database["prisma"] = prisma) {
    const rollout = await tx.rollout.findUnique({
      where: { id },
      select: {
        ...rolloutFields,
        nodes: {
          select: { serverId: true, stage: true, state: true, fromVersion: true, jobId: true, detail: true, startedAt: true, finishedAt: true, server: { select: { hostname: true, agentVersion: true, status: true } } },
          orderBy: [{ stage: "asc" }, { serverId: "asc" }],
        },
      },
    });
    if (!rollout) throw new AppError("not_found", "rollout not found");
    return rollout;
  }

  /**
   * Cancels the rollout's UPGRADE_AGENT jobs that are still `queued` (no agent leased them yet):
   * status `canceled`, error code `canceled`, a job event saying why; their nodes become
   * `canceled`. A job an agent already claimed is left to finish (the claim and this update
   * both require `status = 'queued'` on a locked row, so exactly one of them wins). Returns the
   * canceled job ids.
   */
  async function cancelQueued(tx: Tx, rolloutId: string): Promise<string[]> {
    const rows = await tx.$queryRaw<Array<{ id: string }>>`
      UPDATE jobs SET status = 'canceled', error_code = 'canceled', error_message = 'the rollout was aborted', finished_at = now()
      WHERE type = 'UPGRADE_AGENT' AND status = 'queued'
        AND id IN (SELECT job_id FROM rollout_nodes WHERE rollout_id = ${rolloutId}::uuid AND job_id IS NOT NULL)
      RETURNING id`;
    const ids = rows.map((r) => r.id);
    if (ids.length === 0) return ids;
    await tx.jobEvent.createMany({ data: ids.map((jobId) => ({ jobId, level: "warn", message: "canceled before any agent took it: the rollout was aborted" })) });
    await tx.rolloutNode.updateMany({
      where: { rolloutId, jobId: { in: ids } },
      data: { state: "canceled", detail: "upgrade job canceled by the abort before the node took it", finishedAt: new Date() },
    });
    return ids;
  }

  /** Moves a rollout from one of `from` to `to` (409 otherwise), audited as `action`; under the controller's lock. */
  async function transition(actor: Actor, id: string, from: string[], to: "running" | "paused" | "stopped", action: "ROLLOUT_PAUSED" | "ROLLOUT_RESUMED" | "ROLLOUT_STOPPED", requestId: string) {
    checkPermission(actor, "servers:manage");
    return prisma.$transaction(async (tx) => {
      // Waits for a controller run in progress, so it cannot judge (and rewrite) nodes this changes.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ROLLOUT_LOCK})`;
      const found = await tx.rollout.findUnique({ where: { id }, select: { status: true, currentStage: true } });
      if (!found) throw new AppError("not_found", "rollout not found");
      if (!from.includes(found.status)) throw new AppError("conflict", `the rollout is ${found.status}`);
      const reason = to === "stopped" ? "aborted by an operator" : null;
      const canceledJobIds = to === "stopped" ? await cancelQueued(tx, id) : [];
      await tx.rollout.update({
        where: { id },
        data: {
          status: to,
          ...(reason ? { reason, finishedAt: new Date() } : {}),
          // The health window starts again on resume: the paused time does not count against the nodes.
          ...(to === "running" && found.currentStage >= 0 ? { stageStartedAt: new Date() } : {}),
        },
      });
      await audit(tx, { action, targetType: "rollout", targetId: id, actorUserId: actor.userId, requestId, data: reason ? { reason, canceledJobIds } : {} });
      return load(id, tx);
    });
  }

  async function stop(tx: Tx, rollout: RolloutRow, reason: string, failed: string[]): Promise<void> {
    await tx.rollout.update({ where: { id: rollout.id }, data: { status: "stopped", reason, finishedAt: new Date() } });
    await audit(tx, { action: "ROLLOUT_STOPPED", targetType: "rollout", targetId: rollout.id, data: { reason, stage: rollout.currentStage, failedServerIds: failed } });
  }

  /** Starts stage `stage`: one UPGRADE_AGENT job per node of it, targeted at that server. */
  async function startStage(tx: Tx, enqueue: Enqueue, rollout: RolloutRow, nodes: NodeRow[], stage: number): Promise<void> {
    const now = new Date();
    for (const node of nodes.filter((n) => n.stage === stage)) {
      const job = await enqueue({
        type: "UPGRADE_AGENT", payload: { version: rollout.version, bundleUrl: rollout.bundleUrl, sha256: rollout.sha256 },
        targetServerId: node.serverId, maxAttempts: 1, idempotencyKey: `rollout:${rollout.id}:${node.serverId}`,
      });
      await tx.rolloutNode.update({ where: { rolloutId_serverId: { rolloutId: rollout.id, serverId: node.serverId } }, data: { state: "upgrading", jobId: job.id, startedAt: now, detail: "upgrade job queued" } });
    }
    await tx.rollout.update({ where: { id: rollout.id }, data: { currentStage: stage, stageStartedAt: now } });
    await audit(tx, { action: "ROLLOUT_STAGE_STARTED", targetType: "rollout", targetId: rollout.id, data: { stage, percent: rollout.stages[stage] ?? 100 } });
  }

  /** One controller step of a running rollout: judge the current stage, then stop, wait, start the next stage or complete. */
  async function step(tx: Tx, enqueue: Enqueue, rollout: RolloutRow, nodes: NodeRow[]): Promise<void> {
    if (rollout.currentStage >= 0) {
      const expired = rollout.stageStartedAt !== null && Date.now() > rollout.stageStartedAt.getTime() + rollout.healthWindowMs;
      const failed: string[] = [];
      const reasons: string[] = [];
      let waiting = 0;
      for (const node of nodes.filter((n) => n.stage === rollout.currentStage && n.state === "upgrading")) {
        const verdict = await judge(tx, rollout, node, expired);
        const done = verdict.state !== "upgrading";
        await tx.rolloutNode.update({
          where: { rolloutId_serverId: { rolloutId: rollout.id, serverId: node.serverId } },
          data: { state: verdict.state, detail: verdict.detail.slice(0, 1000), ...(done ? { finishedAt: new Date() } : {}) },
        });
        if (verdict.state === "failed") {
          failed.push(node.serverId);
          reasons.push(`${node.serverId}: ${verdict.detail}`);
        } else if (verdict.state === "upgrading") {
          waiting += 1;
        }
      }
      if (failed.length > 0) {
        await stop(tx, rollout, `stage ${rollout.currentStage + 1} (${rollout.stages[rollout.currentStage] ?? 100}%) failed: ${reasons.join("; ")}`.slice(0, 4000), failed);
        return;
      }
      if (waiting > 0) return;
    }
    const next = rollout.currentStage + 1;
    if (next >= rollout.stages.length) {
      await tx.rollout.update({ where: { id: rollout.id }, data: { status: "completed", finishedAt: new Date() } });
      await audit(tx, { action: "ROLLOUT_COMPLETED", targetType: "rollout", targetId: rollout.id, data: { version: rollout.version, nodes: nodes.length } });
      return;
    }
    await startStage(tx, enqueue, rollout, nodes, next);
  }

  return {
    /**
     * Creates a running rollout over the online, non-revoked nodes not on `version` yet (ordered
     * by enrollment), split into stages; the first stage starts at the next controller run.
     * 409 when another rollout is running or paused, or no node needs the version.
     */
    async create(actor: Actor, input: z.output<typeof RolloutInput>, requestId: string) {
      checkPermission(actor, "servers:manage");
      return prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ROLLOUT_LOCK})`;
        const active = await tx.rollout.findFirst({ where: { status: { in: ["running", "paused"] } }, select: { id: true } });
        if (active) throw new AppError("conflict", `rollout ${active.id} is still active: complete, stop or abort it first`);
        const servers = await tx.server.findMany({
          where: { revokedAt: null, status: "online", OR: [{ agentVersion: null }, { agentVersion: { not: input.version } }] },
          select: { id: true, agentVersion: true }, orderBy: [{ createdAt: "asc" }, { id: "asc" }],
        });
        if (servers.length === 0) throw new AppError("conflict", `no online node needs agent version ${input.version}`);
        const rollout = await tx.rollout.create({ data: { ...input, createdBy: actor.userId }, select: { id: true } });
        const nodes = servers.flatMap((server, index) => {
          const stage = stageOf(index, servers.length, input.stages);
          return stage === null ? [] : [{ rolloutId: rollout.id, serverId: server.id, stage, fromVersion: server.agentVersion }];
        });
        await tx.rolloutNode.createMany({ data: nodes });
        await audit(tx, { action: "ROLLOUT_CREATED", targetType: "rollout", targetId: rollout.id, actorUserId: actor.userId, requestId, data: { version: input.version, stages: input.stages, nodes: nodes.length } });
        return load(rollout.id, tx);
      });
    },

    /** Rollouts, newest first. */
    async list(actor: Actor, q: z.output<typeof RolloutListQuery>) {
      checkPermission(actor, "servers:read");
      const where = q.status ? { status: q.status } : {};
      const [rows, total] = await Promise.all([
        prisma.rollout.findMany({ where, select: rolloutFields, orderBy: { createdAt: "desc" }, ...pageArgs(q) }),
        prisma.rollout.count({ where }),
      ]);
      return paged(rows, total, q);
    },

    /** One rollout with its nodes (stage, state, detail, the server's current version). */
    async get(actor: Actor, id: string) {
      checkPermission(actor, "servers:read");
      return load(id);
    },

    /** Pauses a running rollout: no stage is judged or started until it is resumed. */
    pause: (actor: Actor, id: string, requestId: string) => transition(actor, id, ["running"], "paused", "ROLLOUT_PAUSED", requestId),
    /** Resumes a paused rollout; the current stage's health window starts again. */
    resume: (actor: Actor, id: string, requestId: string) => transition(actor, id, ["paused"], "running", "ROLLOUT_RESUMED", requestId),
    /**
     * Stops a running or paused rollout for good. Its upgrade jobs still queued are canceled
     * (their nodes become `canceled`); jobs an agent already took run to their end.
     */
    abort: (actor: Actor, id: string, requestId: string) => transition(actor, id, ["running", "paused"], "stopped", "ROLLOUT_STOPPED", requestId),

    /**
     * The controller run: under a transaction-level advisory lock (one replica at a time; a
     * replica that does not get it skips the round), steps every running rollout once.
     * Returns the number of rollouts stepped (0 when another replica holds the lock).
     */
    async advance(): Promise<number> {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const [lock] = await tx.$queryRaw<Array<{ ok: boolean }>>`SELECT pg_try_advisory_xact_lock(${ROLLOUT_LOCK}) AS ok`;
        if (!lock?.ok) return 0;
        const running = await tx.rollout.findMany({ where: { status: "running" }, include: { nodes: { select: { serverId: true, stage: true, state: true, jobId: true } } } });
        for (const rollout of running) await step(tx, enqueue, rollout, rollout.nodes);
        return running.length;
      });
    },
  };
}

export type RolloutService = ReturnType<typeof createRolloutService>;
