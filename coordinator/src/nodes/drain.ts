import { z } from "zod";
import { audit } from "../audit";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";

/** How an operator names a node: its id (UUID) or its hostname (1-253 characters of a host name). */
export const NodeRef = z.union([z.uuid(), z.string().regex(/^[A-Za-z0-9._-]{1,253}$/, "must be a node id or hostname")]);

/** A node as `drain` / `undrain` report it; `changed` is false when it already was in that state. */
export interface DrainResult {
  id: string;
  hostname: string;
  drainedAt: Date | null;
  changed: boolean;
}

/**
 * Finds the node `ref` names: by id when it is a UUID, else by hostname. Throws AppError
 * `not_found` when none matches and `conflict` when a hostname names several nodes (pass the
 * id then).
 */
export async function findNode(tx: Tx | Database["prisma"], ref: string): Promise<{ id: string; hostname: string; drainedAt: Date | null }> {
  const byId = z.uuid().safeParse(ref).success;
  const rows = await tx.server.findMany({ where: byId ? { id: ref } : { hostname: ref }, select: { id: true, hostname: true, drainedAt: true }, take: 2 });
  const [first, second] = rows;
  if (!first) throw new AppError("not_found", `no node with ${byId ? "id" : "hostname"} ${ref}`);
  if (second) throw new AppError("conflict", `several nodes are named ${ref}: pass the node id (see mpanel nodes)`);
  return first;
}

/**
 * Drains (`drained` true) or undrains a node. A drained node gets no new placements
 * (hosting/placement.ts skips it and refuses it by id); what runs on it keeps running and its
 * jobs still reach it. Idempotent: a node already in that state is left as it is (no audit
 * event). Otherwise writes `drained_at` and a SERVER_UPDATED audit event (`data.drained`) in one
 * transaction. `requestId` tags the audit event (the CLI passes "cli"). Throws like `findNode`.
 */
export async function setNodeDrained(db: Database, ref: string, drained: boolean, requestId: string): Promise<DrainResult> {
  return db.prisma.$transaction(async (tx) => {
    const node = await findNode(tx, NodeRef.parse(ref));
    if ((node.drainedAt !== null) === drained) return { ...node, changed: false };
    const updated = await tx.server.update({ where: { id: node.id }, data: { drainedAt: drained ? new Date() : null }, select: { id: true, hostname: true, drainedAt: true } });
    await audit(tx, { action: "SERVER_UPDATED", targetType: "server", targetId: node.id, requestId, data: { drained } });
    return { ...updated, changed: true };
  });
}
