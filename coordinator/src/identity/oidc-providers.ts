import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, type Actor } from "../auth/rbac";
import type { Database } from "../db/client";
import { AppError } from "../errors";

/** A scope token (RFC 6749 section 3.3: printable ASCII except space, `"` and `\`). */
const ScopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,64}$/, "not a scope token");

/**
 * Body of `POST /api/admin/identity/oidc-providers`: an OpenID Connect provider (Google,
 * Keycloak, Entra ID, ... anything with OIDC discovery at `<issuer>/.well-known/openid-configuration`).
 * `allowedDomains` limits which verified email domains may sign in (empty = any);
 * `allowJit` lets unknown verified emails get a new account, with `jitPlatformRole` (never
 * SUPER_ADMIN: a provider must not mint super admins) or no role.
 */
export const OidcProviderInput = z.strictObject({
  slug: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "must be 1-32 lowercase letters, digits or -"),
  displayName: z.string().trim().min(1).max(100),
  issuer: z.url({ protocol: /^https?$/ }).max(2048),
  clientId: z.string().min(1).max(512),
  clientSecret: z.string().min(1).max(2048),
  scopes: z.array(ScopeToken).min(1).max(20).default(["openid", "email", "profile"])
    .refine((s) => s.includes("openid"), "must include openid"),
  allowedDomains: z.array(z.string().toLowerCase().regex(/^(?=.{1,253}$)[a-z0-9-]+(\.[a-z0-9-]+)+$/, "not a domain name")).max(50).default([]),
  allowJit: z.boolean().default(false),
  jitPlatformRole: z.enum(["PLATFORM_ADMIN"]).nullable().default(null),
});

const listed = { id: true, slug: true, displayName: true, issuer: true, clientId: true, scopes: true, allowedDomains: true, allowJit: true, jitPlatformRole: true, createdAt: true } as const;

/**
 * OIDC providers, managed by holders of the platform permission `users:manage` (super admins
 * only): whoever configures a provider decides who it may sign in as, so a platform admin
 * must not be able to add one that vouches for a super admin's email. The client secret is
 * write-only. `allowHttp` admits `http://` issuers (tests and local development only).
 */
export function createOidcProviderService(deps: { db: Database; allowHttp: boolean; onDelete(id: string): void }) {
  const { prisma } = deps.db;
  return {
    /** Throws `validation` for an `http://` issuer (unless allowed), `conflict` for a taken slug. */
    async create(actor: Actor, input: z.output<typeof OidcProviderInput>, requestId: string) {
      checkPermission(actor, "users:manage");
      if (new URL(input.issuer).protocol !== "https:" && !deps.allowHttp) {
        throw new AppError("validation", "the issuer must use https", [{ field: "issuer", message: "must be an https URL" }]);
      }
      return prisma.$transaction(async (tx) => {
        if (await tx.oidcProvider.findUnique({ where: { slug: input.slug } })) throw new AppError("conflict", `provider ${input.slug} exists`, [{ field: "slug", message: "already taken" }]);
        const provider = await tx.oidcProvider.create({ data: { ...input, scopes: [...new Set(input.scopes)], allowedDomains: [...new Set(input.allowedDomains)] }, select: listed });
        const { slug, issuer, clientId, scopes, allowedDomains, allowJit, jitPlatformRole } = provider;
        await audit(tx, {
          action: "OIDC_PROVIDER_CREATED", targetType: "oidc_provider", targetId: provider.id, actorUserId: actor.userId, requestId,
          data: { slug, issuer, clientId, scopes, allowedDomains, allowJit, jitPlatformRole },
        });
        return provider;
      });
    },

    /** Every provider, without client secrets. */
    async list(actor: Actor) {
      checkPermission(actor, "users:manage");
      return prisma.oidcProvider.findMany({ orderBy: { slug: "asc" }, select: listed });
    },

    /** Deletes a provider and its account links (users keep their accounts). Throws `not_found`. */
    async remove(actor: Actor, id: string, requestId: string): Promise<void> {
      checkPermission(actor, "users:manage");
      await prisma.$transaction(async (tx) => {
        const provider = await tx.oidcProvider.findUnique({ where: { id } });
        if (!provider) throw new AppError("not_found", "provider not found");
        await tx.oidcProvider.delete({ where: { id } });
        await audit(tx, { action: "OIDC_PROVIDER_DELETED", targetType: "oidc_provider", targetId: id, actorUserId: actor.userId, requestId, data: { slug: provider.slug } });
      });
      deps.onDelete(id);
    },

    /** What the login page shows: slug and display name of each provider. Public. */
    async publicList() {
      return prisma.oidcProvider.findMany({ orderBy: { displayName: "asc" }, select: { slug: true, displayName: true } });
    },
  };
}

export type OidcProviderService = ReturnType<typeof createOidcProviderService>;
