import { randomUUID } from "node:crypto";
import { jobPayloads, jobRoles, type JobInput, type JobType } from "@mpanel/proto";
import type { Database, Prisma, Tx } from "../db/client";
import { AppError } from "../errors";
import type { JobTarget, Wakeups } from "./wakeups";

/** A job to create. `targetServerId` pins it to a node; otherwise any node of the type's role takes it. */
export interface EnqueueInput<T extends JobType = JobType> {
  type: T;
  payload: JobInput<T>;
  tenantId?: string | null;
  targetServerId?: string | null;
  maxAttempts?: number;
  /** Same key twice returns the first job instead of creating a second. */
  idempotencyKey?: string;
  /** Jobs that must succeed before this one becomes claimable. */
  dependsOn?: string[];
  /** The CloudPod whose workflow this job is a step of (its status follows these jobs). */
  cloudPodId?: string;
}

/** Enqueues inside a transaction; the jobs are announced to agents only after COMMIT. */
export type Enqueue = <T extends JobType>(input: EnqueueInput<T>) => Promise<{ id: string; created: boolean }>;

/**
 * Runs `fn` in one Prisma transaction with an `enqueue` bound to it, then, once committed,
 * wakes the dispatcher for every job created (push on commit). If `fn` throws, nothing is
 * written and nobody is woken. Payloads are validated with the type's schema first
 * (AppError `validation`).
 */
export async function withJobs<R>(db: Database, wakeups: Wakeups, fn: (tx: Tx, enqueue: Enqueue) => Promise<R>): Promise<R> {
  const targets: JobTarget[] = [];
  const result = await db.prisma.$transaction(async (tx) => {
    const enqueue: Enqueue = async (input) => {
      const parsed = jobPayloads[input.type].safeParse(input.payload);
      if (!parsed.success) throw new AppError("validation", `invalid ${input.type} payload: ${parsed.error.message}`);
      if (input.idempotencyKey) {
        const existing = await tx.job.findUnique({ where: { idempotencyKey: input.idempotencyKey }, select: { id: true } });
        if (existing) return { id: existing.id, created: false };
      }
      const id = randomUUID();
      const target = { serverId: input.targetServerId ?? null, role: input.targetServerId ? null : jobRoles[input.type] };
      await tx.job.create({
        data: {
          id,
          type: input.type,
          payload: parsed.data as Prisma.InputJsonValue,
          tenantId: input.tenantId ?? null,
          targetServerId: target.serverId,
          targetRole: target.role,
          maxAttempts: input.maxAttempts ?? 5,
          idempotencyKey: input.idempotencyKey ?? null,
          cloudPodId: input.cloudPodId ?? null,
          dependsOn: input.dependsOn?.length ? { create: input.dependsOn.map((dependsOnJobId) => ({ dependsOnJobId })) } : undefined,
        },
      });
      targets.push(target);
      return { id, created: true };
    };
    return fn(tx, enqueue);
  });
  wakeups.announce(targets);
  return result;
}
