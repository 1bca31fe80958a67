import type { Prisma, Tx } from "./db/client";

/** Audit actions written by the coordinator (DESIGN section 5); append-only in the database. */
export type AuditAction =
  | "USER_CREATED" | "SESSION_CREATED" | "SESSION_REVOKED" | "LOGIN_FAILED"
  | "TENANT_CREATED" | "TENANT_SUSPENDED" | "TENANT_UNSUSPENDED"
  | "JOIN_TOKEN_CREATED" | "NODE_ENROLLED" | "NODE_REVOKED" | "NODE_CERT_RENEWED"
  | "CLOUDPOD_CREATED" | "CLOUDPOD_PROVISIONED" | "CLOUDPOD_DELETED"
  | "WEBSITE_CREATED" | "WEBSITE_PROVISIONED" | "WEBSITE_DELETED" | "WEBSITE_FAILED"
  | "CLOUDPOD_SUSPENDED" | "CLOUDPOD_UNSUSPENDED" | "CLOUDPOD_FAILED" | "SERVER_UPDATED"
  | "DOMAIN_CREATED" | "DOMAIN_DELETED" | "DNS_CHANGED"
  | "MAIL_DOMAIN_CREATED" | "MAIL_DOMAIN_DELETED"
  | "MAILBOX_CREATED" | "MAILBOX_UPDATED" | "MAILBOX_DELETED" | "MAIL_ALIAS_CREATED" | "MAIL_ALIAS_DELETED"
  | "DATABASE_CREATED" | "DATABASE_DELETED" | "DATABASE_USER_CREATED" | "DATABASE_USER_PASSWORD_ROTATED" | "DATABASE_USER_DELETED"
  | "MAIL_DOMAIN_PROVISIONED" | "MAIL_DOMAIN_FAILED" | "MAILBOX_FAILED" | "MAIL_ALIAS_FAILED" | "DATABASE_FAILED" | "DATABASE_USER_FAILED"
  | "SSL_ISSUE_REQUESTED" | "SSL_ISSUED" | "SSL_FAILED";

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
