import * as client from "openid-client";
import { z } from "zod";
import { audit } from "../audit";
import type { AuthService, LoginMeta, LoginResult, MfaChallengeResult } from "../auth/service";
import { hashSecret, newSecret } from "../auth/tokens";
import { insertUser, newCredentials } from "../auth/users";
import type { Database } from "../db/client";
import type { OidcProvider } from "../generated/prisma/client";
import { AppError } from "../errors";

/** Lifetime of an authorization request, and of the browser cookie that names it (ms). */
export const OIDC_FLOW_TTL_MS = 10 * 60_000;
/** Seconds the coordinator waits for the provider's discovery, token and userinfo endpoints. */
const PROVIDER_TIMEOUT_S = 10;

const Email = z.email().max(254);
const DisplayName = z.string().trim().min(1).max(200).regex(/^[^\r\n\0]+$/);

/** What the provider says about the user (`email`, `email_verified`, `name`): the ID token's claims, else the userinfo endpoint's. */
type Profile = Readonly<Record<string, unknown>>;

/**
 * OpenID Connect sign-in (OpenID Connect Core 1.0, authorization code flow with PKCE, RFC
 * 7636), with `openid-client`. `start` keeps state, nonce and the PKCE verifier server-side,
 * in a row found by the hash of a random flow token that only the browser holds (an
 * httpOnly cookie), so a callback completes only in the browser that started it.
 * `callback` exchanges the code, validates the ID token (issuer, audience, expiry, nonce)
 * and the state, then signs in the linked user, or links by a verified email, or creates the
 * user where the provider's policy allows; the user's TOTP still applies (`loginVerified`).
 */
export function createOidcLoginService(deps: { db: Database; auth: Pick<AuthService, "loginVerified">; publicUrl: string; allowHttp: boolean }) {
  const { prisma } = deps.db;
  const configs = new Map<string, Promise<client.Configuration>>();

  /** The provider's discovered configuration, cached per provider; a failed discovery is retried next time. */
  function configFor(provider: OidcProvider): Promise<client.Configuration> {
    let config = configs.get(provider.id);
    if (!config) {
      config = client.discovery(new URL(provider.issuer), provider.clientId, undefined, client.ClientSecretBasic(provider.clientSecret), {
        timeout: PROVIDER_TIMEOUT_S, ...(deps.allowHttp ? { execute: [client.allowInsecureRequests] } : {}),
      });
      configs.set(provider.id, config);
      config.catch(() => configs.delete(provider.id));
    }
    return config.catch((cause: unknown) => {
      throw new AppError("unavailable", "the identity provider cannot be reached", undefined, { cause });
    });
  }

  const redirectUri = (slug: string): URL => new URL(`/api/auth/oidc/${slug}/callback`, deps.publicUrl);

  /** Audits the refusal (LOGIN_FAILED, reason `oidc_<reason>`) and throws `unauthenticated`. */
  async function refuse(reason: string, meta: LoginMeta, details: { userId?: string; provider?: string; code?: string } = {}): Promise<never> {
    await prisma.$transaction((tx) => audit(tx, {
      action: "LOGIN_FAILED", targetType: "user", targetId: details.userId ?? null, requestId: meta.requestId,
      data: { ip: meta.ip, reason: `oidc_${reason}`, provider: details.provider ?? null, ...(details.code ? { error: details.code } : {}) },
    }));
    throw new AppError("unauthenticated", "sign-in with the identity provider failed");
  }

  /**
   * The user behind `subject` at `provider`: the linked one, else the user with the verified
   * email (linked now), else a new user when the provider allows JIT. Refuses an email that
   * is missing or not verified (`email_verified` must be `true`), or outside `allowedDomains`.
   */
  async function resolveUser(provider: OidcProvider, subject: string, profile: Profile, meta: LoginMeta): Promise<string> {
    const linked = await prisma.oidcIdentity.findUnique({ where: { providerId_subject: { providerId: provider.id, subject } } });
    if (linked) {
      await prisma.oidcIdentity.update({ where: { id: linked.id }, data: { lastLoginAt: new Date() } });
      return linked.userId;
    }
    const email = Email.safeParse(profile.email);
    if (!email.success || profile.email_verified !== true) return refuse("email_unverified", meta, { provider: provider.slug });
    const address = email.data.toLowerCase();
    const domain = address.slice(address.lastIndexOf("@") + 1);
    if (provider.allowedDomains.length > 0 && !provider.allowedDomains.includes(domain)) return refuse("domain_not_allowed", meta, { provider: provider.slug });
    const existing = await prisma.user.findUnique({ where: { email: address } });
    if (!existing && !provider.allowJit) return refuse("no_account", meta, { provider: provider.slug });
    // A JIT user's generated password is never shown: the account signs in through the provider (or a password reset).
    const target = existing ? { userId: existing.id } : { jit: await newCredentials() };
    const name = DisplayName.safeParse(profile.name);
    const newUser = { email: address, name: name.success ? name.data : address, ...(provider.jitPlatformRole ? { platformRole: provider.jitPlatformRole } : {}) };
    return prisma.$transaction(async (tx) => {
      const userId = target.jit ? await insertUser(tx, newUser, target.jit.passwordHash) : target.userId;
      const identity = await tx.oidcIdentity.create({ data: { providerId: provider.id, subject, userId, email: address, lastLoginAt: new Date() } });
      await audit(tx, {
        action: "OIDC_LINKED", targetType: "user", targetId: userId, actorUserId: userId, requestId: meta.requestId,
        data: { provider: provider.slug, identityId: identity.id, email: address, ip: meta.ip, createdUser: !existing },
      });
      return userId;
    });
  }

  return {
    /** Starts a sign-in: the provider's authorization URL and the flow token for the browser's cookie. Throws `not_found`, `unavailable`. */
    async start(slug: string): Promise<{ url: URL; flowToken: string }> {
      const provider = await prisma.oidcProvider.findUnique({ where: { slug } });
      if (!provider) throw new AppError("not_found", "identity provider not found");
      const config = await configFor(provider);
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const flowToken = newSecret("mpo_");
      await prisma.$transaction(async (tx) => {
        await tx.oidcLogin.deleteMany({ where: { expiresAt: { lt: new Date() } } });
        await tx.oidcLogin.create({ data: { providerId: provider.id, flowHash: hashSecret(flowToken), state, nonce, codeVerifier, expiresAt: new Date(Date.now() + OIDC_FLOW_TTL_MS) } });
      });
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri(slug).href, scope: provider.scopes.join(" "), state, nonce,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: "S256",
      });
      return { url, flowToken };
    },

    /**
     * Completes a sign-in: `search` is the callback's query string, `flowToken` the browser's
     * cookie. The flow is single use. Throws `unauthenticated` (audited) for a missing or
     * spent flow, a wrong state or nonce, a failed code exchange, or an account that may not
     * sign in; the answer is a session, or a TOTP challenge when the user has TOTP on.
     */
    async callback(slug: string, search: string, flowToken: string | undefined, meta: LoginMeta): Promise<LoginResult | MfaChallengeResult> {
      const flow = flowToken ? await prisma.oidcLogin.findUnique({ where: { flowHash: hashSecret(flowToken) }, include: { provider: true } }) : null;
      const claimed = flow && flow.provider.slug === slug && flow.expiresAt > new Date()
        ? await prisma.oidcLogin.updateMany({ where: { id: flow.id, usedAt: null }, data: { usedAt: new Date() } })
        : null;
      if (!flow || claimed?.count !== 1) return refuse("flow", meta, { provider: slug });
      const { provider } = flow;
      const config = await configFor(provider);
      const currentUrl = redirectUri(slug);
      currentUrl.search = search;
      let profile: Profile;
      let subject: string;
      try {
        const tokens = await client.authorizationCodeGrant(config, currentUrl, { pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true });
        const claims = tokens.claims();
        if (!claims) return await refuse("no_id_token", meta, { provider: slug });
        subject = claims.sub;
        profile = typeof claims.email === "string" ? claims : await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      } catch (error) {
        if (error instanceof AppError) throw error;
        const code = error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : "unknown";
        return refuse("exchange", meta, { provider: slug, code });
      }
      const userId = await resolveUser(provider, subject, profile, meta);
      return deps.auth.loginVerified(userId, meta);
    },

    /** Forgets a provider's cached configuration (after it is deleted). */
    forget(providerId: string): void {
      configs.delete(providerId);
    },
  };
}

export type OidcLoginService = ReturnType<typeof createOidcLoginService>;
