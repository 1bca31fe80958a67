import { z } from "zod";
import { audit, type AuditAction } from "../audit";
import { checkPermission, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { pageArgs, paged, PageQuery } from "../http/pagination";

/**
 * The audit actions that are security events: sign-in outcomes, new sign-in contexts,
 * credentials, role grants, impersonation, identity providers, and the alerts below.
 * (A new-country signal needs a GeoIP database, which mPanel does not ship: a login from a
 * new client address or user agent is what is recorded instead.)
 */
export const securityActions = [
  "LOGIN_FAILED", "ACCOUNT_LOCKED", "LOGIN_NEW_CONTEXT", "SECURITY_ALERT",
  "MFA_ENABLED", "MFA_DISABLED", "MFA_FAILED", "MFA_RECOVERY_CODE_USED",
  "API_KEY_CREATED", "API_KEY_REVOKED", "PASSWORD_CHANGED", "PASSWORD_RESET",
  "USER_CREATED", "ROLE_CREATED", "IMPERSONATION_STARTED",
  "OIDC_LINKED", "OIDC_PROVIDER_CREATED", "OIDC_PROVIDER_DELETED",
] as const satisfies readonly AuditAction[];

/** How far back the alert rules look (ms). */
export const ALERT_WINDOW_MS = 15 * 60_000;
/** Failed logins for this many different accounts from one client address within the window raise an alert (unknown emails count as one account). */
export const FAILED_ACCOUNTS_ALERT = 5;

/** `?alertsOnly=true&userId=` of `GET /api/admin/security-events`, paged. */
export const SecurityEventQuery = PageQuery.extend({
  alertsOnly: z.stringbool().default(false),
  userId: z.uuid().optional(),
});

/** Writes a SECURITY_ALERT unless the same `pattern` for the same `key` was raised within the window. */
async function raiseOnce(tx: Tx, pattern: string, key: { field: "ip" | "userId"; value: string }, data: Record<string, string | number>, requestId: string): Promise<void> {
  const since = new Date(Date.now() - ALERT_WINDOW_MS);
  const raised = await tx.auditEvent.count({
    where: { action: "SECURITY_ALERT", at: { gte: since }, AND: [{ data: { path: ["pattern"], equals: pattern } }, { data: { path: [key.field], equals: key.value } }] },
  });
  if (raised > 0) return;
  await audit(tx, {
    action: "SECURITY_ALERT", targetType: key.field === "ip" ? "client_address" : "user", targetId: key.value, requestId,
    data: { pattern, [key.field]: key.value, ...data, windowMs: ALERT_WINDOW_MS },
  });
}

/**
 * After a LOGIN_FAILED row from `ip` (same transaction): when failures from that address hit
 * `FAILED_ACCOUNTS_ALERT` different accounts within `ALERT_WINDOW_MS` (password spraying,
 * credential stuffing), raises the `failed_logins_across_accounts` alert once per window.
 */
export async function noteFailedLogin(tx: Tx, ip: string, requestId: string): Promise<void> {
  const since = new Date(Date.now() - ALERT_WINDOW_MS);
  const accounts = await tx.auditEvent.findMany({
    where: { action: "LOGIN_FAILED", at: { gte: since }, data: { path: ["ip"], equals: ip } },
    distinct: ["targetId"], select: { targetId: true },
  });
  if (accounts.length >= FAILED_ACCOUNTS_ALERT) await raiseOnce(tx, "failed_logins_across_accounts", { field: "ip", value: ip }, { accounts: accounts.length }, requestId);
}

/**
 * Before a session is issued to `user` (same transaction, before its lock is cleared):
 * raises `login_after_lock` when the account's lock ended less than `ALERT_WINDOW_MS` ago,
 * and records LOGIN_NEW_CONTEXT when the client address or user agent never signed in to
 * this user before (impersonated sessions are not the user's; the very first sign-in has
 * nothing to compare with and records nothing).
 */
export async function noteSuccessfulLogin(tx: Tx, user: { id: string; lockedUntil: Date | null }, meta: { ip: string; userAgent?: string | undefined; requestId: string }): Promise<void> {
  if (user.lockedUntil && user.lockedUntil.getTime() > Date.now() - ALERT_WINDOW_MS) {
    await raiseOnce(tx, "login_after_lock", { field: "userId", value: user.id }, { ip: meta.ip, lockedUntil: user.lockedUntil.toISOString() }, meta.requestId);
  }
  const seen = async (where: { ip?: string; userAgent?: string | null }) => (await tx.session.count({ where: { userId: user.id, impersonatedBy: null, ...where } })) > 0;
  if (!(await seen({}))) return;
  const newAddress = !(await seen({ ip: meta.ip }));
  const newUserAgent = !(await seen({ userAgent: meta.userAgent ?? null }));
  if (!newAddress && !newUserAgent) return;
  await audit(tx, {
    action: "LOGIN_NEW_CONTEXT", targetType: "user", targetId: user.id, actorUserId: user.id, requestId: meta.requestId,
    data: { ip: meta.ip, userAgent: meta.userAgent ?? null, newAddress, newUserAgent },
  });
}

/** Platform staff's view of the security events in the audit log (needs `audit:read`). */
export function createSecurityEventService(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    /** Newest first; `alert` marks SECURITY_ALERT rows; `userId` keeps events by or about that user. Throws `forbidden` without `audit:read`. */
    async list(actor: Actor, q: z.output<typeof SecurityEventQuery>) {
      checkPermission(actor, "audit:read");
      const where = {
        action: { in: q.alertsOnly ? ["SECURITY_ALERT"] : [...securityActions] },
        ...(q.userId ? { OR: [{ actorUserId: q.userId }, { targetType: "user", targetId: q.userId }] } : {}),
      };
      const [rows, total] = await Promise.all([
        prisma.auditEvent.findMany({ where, orderBy: { id: "desc" }, ...pageArgs(q) }),
        prisma.auditEvent.count({ where }),
      ]);
      return paged(rows.map((r) => ({ ...r, id: String(r.id), alert: r.action === "SECURITY_ALERT" })), total, q);
    },
  };
}

export type SecurityEventService = ReturnType<typeof createSecurityEventService>;
