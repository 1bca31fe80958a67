import { z } from "zod";
import { audit } from "../audit";
import { actorFrom, loadUserGrants } from "../auth/actors";
import type { Actor } from "../auth/rbac";
import { hashSecret, newSecret } from "../auth/tokens";
import type { Database, PrismaClient } from "../db/client";
import { AppError } from "../errors";

/** Prefix of API key tokens: `Authorization: Bearer mpk_...`. */
export const API_KEY_PREFIX = "mpk_";

/**
 * API key scopes and the permission resources (`resource:action`) each opens. `billing` and
 * `metrics` are accepted for the areas that will add routes under those resources.
 */
export const apiKeyScopes = {
  domains: ["domains", "dns"],
  cloudpods: ["cloudpods"],
  websites: ["websites"],
  email: ["email"],
  databases: ["databases"],
  ssl: ["ssl"],
  jobs: ["jobs"],
  tenants: ["tenants"],
  users: ["users"],
  servers: ["servers"],
  audit: ["audit"],
  billing: ["billing"],
  metrics: ["metrics"],
} as const satisfies Record<string, readonly string[]>;
export type ApiKeyScope = keyof typeof apiKeyScopes;

const scopeNames = Object.keys(apiKeyScopes) as [ApiKeyScope, ...ApiKeyScope[]];

/** Body of `POST /api/auth/api-keys`: at least one scope; optional tenant binding and expiry (ISO 8601, in the future). */
export const ApiKeyInput = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scopes: z.array(z.enum(scopeNames)).min(1).max(scopeNames.length),
  tenantId: z.uuid().optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});

/** Key use is written to the audit log at most once per key per this interval (ms); `lastUsedAt` has the same precision. */
export const API_KEY_AUDIT_INTERVAL_MS = 60_000;

/**
 * The actor of an API key: the owner's grants narrowed to the permissions whose resource one
 * of `scopes` opens; a key bound to a tenant acts only in that tenant (platform grants become
 * grants on that tenant alone).
 */
export function narrowToScopes(actor: Actor, scopes: readonly string[], tenantId: string | null): Actor {
  const resources = new Set<string>(scopes.flatMap((s) => (s in apiKeyScopes ? apiKeyScopes[s as ApiKeyScope] : [])));
  const keep = (codes: Iterable<string>): Set<string> => new Set([...codes].filter((c) => resources.has(c.split(":")[0] ?? "")));
  if (tenantId === null) {
    return { ...actor, platformPermissions: keep(actor.platformPermissions), tenantGrants: new Map([...actor.tenantGrants].map(([id, codes]) => [id, keep(codes)])) };
  }
  const inTenant = keep([...actor.platformPermissions, ...(actor.tenantGrants.get(tenantId) ?? [])]);
  return { ...actor, platformRole: null, platformPermissions: new Set(), tenantGrants: new Map([[tenantId, inTenant]]) };
}

/**
 * The actor behind an `mpk_` token, or null when the key is unknown, revoked, expired, or its
 * owner is not active (an owner who lost the bound tenant keeps a key that can do nothing). Records `lastUsedAt` and an
 * `API_KEY_USED` audit row, coalesced to one per key per `API_KEY_AUDIT_INTERVAL_MS` (the
 * conditional update lets exactly one of concurrent requests write them).
 */
export async function resolveApiKey(prisma: PrismaClient, token: string, requestId: string): Promise<Actor | null> {
  const key = await prisma.apiKey.findUnique({ where: { tokenHash: hashSecret(token) } });
  const now = new Date();
  if (!key || key.revokedAt || (key.expiresAt && key.expiresAt <= now)) return null;
  const grants = await loadUserGrants(prisma, key.userId);
  if (!grants || grants.status !== "active") return null;
  const stale = new Date(now.getTime() - API_KEY_AUDIT_INTERVAL_MS);
  await prisma.$transaction(async (tx) => {
    const touched = await tx.apiKey.updateMany({ where: { id: key.id, OR: [{ lastAuditedAt: null }, { lastAuditedAt: { lt: stale } }] }, data: { lastUsedAt: now, lastAuditedAt: now } });
    if (touched.count === 1) await audit(tx, { action: "API_KEY_USED", targetType: "api_key", targetId: key.id, actorUserId: key.userId, tenantId: key.tenantId, requestId });
  });
  return narrowToScopes(actorFrom(grants, key.id, { apiKeyId: key.id, apiKeyScopes: key.scopes }), key.scopes, key.tenantId);
}

const listed = { id: true, name: true, prefix: true, scopes: true, tenantId: true, expiresAt: true, lastUsedAt: true, revokedAt: true, createdAt: true } as const;

/** The signed-in user's API keys: create (token shown once), list, revoke. Keys cannot manage keys. */
export function createApiKeyService(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    /**
     * Creates a key. Throws `validation` for an expiry in the past, `not_found` for a tenant
     * the user cannot reach (so other tenants' ids reveal nothing).
     */
    async create(actor: Actor, input: z.output<typeof ApiKeyInput>, requestId: string) {
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
      if (expiresAt && expiresAt <= new Date()) throw new AppError("validation", "expiresAt must be in the future", [{ field: "expiresAt", message: "must be in the future" }]);
      const reachable = (id: string) => actor.platformPermissions.has("tenants:read") || actor.tenantGrants.has(id);
      if (input.tenantId && (!reachable(input.tenantId) || !(await prisma.tenant.findUnique({ where: { id: input.tenantId } })))) {
        throw new AppError("not_found", "tenant not found", [{ field: "tenantId", message: "unknown tenant" }]);
      }
      const token = newSecret(API_KEY_PREFIX);
      const key = await prisma.$transaction(async (tx) => {
        const created = await tx.apiKey.create({
          data: { userId: actor.userId, tenantId: input.tenantId ?? null, name: input.name, prefix: token.slice(0, 12), tokenHash: hashSecret(token), scopes: [...new Set(input.scopes)], expiresAt },
          select: listed,
        });
        await audit(tx, { action: "API_KEY_CREATED", targetType: "api_key", targetId: created.id, actorUserId: actor.userId, tenantId: created.tenantId, requestId, data: { name: input.name, scopes: created.scopes } });
        return created;
      });
      return { ...key, token };
    },

    async list(actor: Actor) {
      return prisma.apiKey.findMany({ where: { userId: actor.userId }, orderBy: { createdAt: "desc" }, select: listed });
    },

    /** Revokes one of the user's keys (idempotent); another user's key is `not_found`. */
    async revoke(actor: Actor, id: string, requestId: string) {
      return prisma.$transaction(async (tx) => {
        const key = await tx.apiKey.findFirst({ where: { id, userId: actor.userId }, select: listed });
        if (!key) throw new AppError("not_found", "API key not found");
        if (key.revokedAt) return key;
        const revoked = await tx.apiKey.update({ where: { id }, data: { revokedAt: new Date() }, select: listed });
        await audit(tx, { action: "API_KEY_REVOKED", targetType: "api_key", targetId: id, actorUserId: actor.userId, tenantId: key.tenantId, requestId });
        return revoked;
      });
    },
  };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;
