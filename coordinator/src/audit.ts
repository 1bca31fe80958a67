import type { Prisma, Tx } from "./db/client";

/** Audit actions written by the coordinator (DESIGN section 5); append-only in the database. */
export type AuditAction =
  | "USER_CREATED" | "SESSION_CREATED" | "SESSION_REVOKED" | "LOGIN_FAILED"
  | "TENANT_CREATED" | "TENANT_SUSPENDED" | "TENANT_UNSUSPENDED"
  | "JOIN_TOKEN_CREATED" | "NODE_ENROLLED" | "NODE_REVOKED" | "NODE_CERT_RENEWED"
  | "CLOUDPOD_CREATED" | "CLOUDPOD_PROVISIONED" | "CLOUDPOD_DELETED"
  | "WEBSITE_CREATED" | "WEBSITE_PROVISIONED" | "WEBSITE_DELETED" | "WEBSITE_FAILED";

/** One audit event; written with `audit(tx, ...)` inside the transaction of the change it records. */
export interface AuditInput {
  action: AuditAction;
  targetType: string;
  targetId?: string | null;
  tenantId?: string | null;
  actorUserId?: string | null;
  actorNodeId?: string | null;
  requestId?: string | null;
  data?: Prisma.InputJsonValue;
}

/** Appends an audit event in the caller's transaction. */
export async function audit(tx: Tx, event: AuditInput): Promise<void> {
  await tx.auditEvent.create({ data: { ...event, data: event.data ?? {} } });
}
