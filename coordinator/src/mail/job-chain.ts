import type { JobType } from "@mpanel/proto";
import type { Tx } from "../db/client";
import { AppError, type FieldIssue } from "../errors";

/**
 * Ids of the jobs still queued or running on `serverId` whose payload has `field` equal to `id`
 * (e.g. `mailboxId`), optionally only of `types`. A new job for the same record depends on
 * them, so a node applies one record's changes in the order they were asked for (a later
 * full-state update never runs before an earlier one, a delete never overtakes its create).
 */
export async function pendingJobIds(tx: Tx, serverId: string, field: string, id: string, types?: JobType[]): Promise<string[]> {
  const rows = await tx.job.findMany({
    where: {
      status: { in: ["queued", "running"] }, targetServerId: serverId, payload: { path: [field], equals: id },
      ...(types ? { type: { in: types } } : {}),
    },
    orderBy: { createdAt: "asc" },
    select: { id: true },
  });
  return rows.map((row) => row.id);
}

/**
 * Runs `write` and turns a unique-constraint violation (Prisma `P2002`: a concurrent request
 * passed the same pre-check) into AppError `conflict` naming `issue.field`; rethrows the rest.
 */
export async function conflictOnDuplicate<T>(issue: FieldIssue, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if ((error as { code?: unknown }).code === "P2002") throw new AppError("conflict", `${issue.field}: ${issue.message}`, [issue], { cause: error });
    throw error;
  }
}

/** Where-fragment of the list routes' `tenantId` / `status` filters (ANDed so it never widens `tenantWhere`). */
export function listFilters(q: { tenantId?: string | undefined; status?: string | undefined }): { AND?: Array<{ tenantId: string }>; status?: string } {
  return { ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}), ...(q.status ? { status: q.status } : {}) };
}
