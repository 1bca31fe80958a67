import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { AppError } from "../errors";
import { actorOf } from "../http/auth-hook";
import { meta, setSessionCookies } from "./http-session";
import { OIDC_FLOW_TTL_MS } from "./oidc-login";
import { OidcProviderInput } from "./oidc-providers";
import { SecurityEventQuery } from "./security-events";
import type { IdentityServices } from "./services";

/** The browser's handle on a sign-in in flight: httpOnly, sent only to the OIDC routes, gone after `OIDC_FLOW_TTL_MS`. */
export const OIDC_FLOW_COOKIE = "mpanel_oidc";
const FLOW_PATH = "/api/auth/oidc/";

const ProviderParams = z.object({ provider: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "not a provider name") });
const IdParams = z.object({ id: z.uuid() });
/** The callback's query: what the provider sends back (RFC 6749 section 4.1.2, RFC 9207 `iss`); openid-client checks it. */
const CallbackQuery = z.object({
  code: z.string().max(4096).optional(),
  state: z.string().max(1024).optional(),
  iss: z.string().max(2048).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(1024).optional(),
}).catchall(z.string().max(4096));

/** The callback URL's query string as received (openid-client validates the authorization response from it). */
function searchOf(req: FastifyRequest): string {
  const at = req.url.indexOf("?");
  return at === -1 ? "" : req.url.slice(at);
}

/**
 * OpenID Connect sign-in (public, rate limited like login): the providers for the login
 * page, `start` (302 to the provider, flow cookie set) and `callback` (302 to the panel with
 * a session, to `/login#mfaToken=...` when the account has TOTP on, or to
 * `/login#error=oidc` when refused). Provider management (super admins) and the security
 * events view (`audit:read`) sit under `/api/admin`.
 */
export function registerOidcRoutes(root: FastifyInstance, id: IdentityServices): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const limited = { public: true, rateLimit: { max: id.policy.loginRateMax, timeWindow: 60_000 } };
  const tags = ["auth"];
  const flowCookie = (req: FastifyRequest) => ({ path: FLOW_PATH, httpOnly: true, sameSite: "lax" as const, secure: req.protocol === "https" });

  app.get("/api/auth/oidc/providers", { config: { public: true }, schema: { tags } }, async () => ({ data: await id.oidcProviders.publicList() }));
  app.get("/api/auth/oidc/:provider/start", { config: limited, schema: { params: ProviderParams, tags } }, async (req, reply) => {
    const { url, flowToken } = await id.oidcLogin.start(req.params.provider);
    reply.setCookie(OIDC_FLOW_COOKIE, flowToken, { ...flowCookie(req), maxAge: OIDC_FLOW_TTL_MS / 1000 });
    return reply.redirect(url.href, 302);
  });
  app.get("/api/auth/oidc/:provider/callback", { config: limited, schema: { params: ProviderParams, querystring: CallbackQuery, tags } }, async (req, reply) => {
    reply.clearCookie(OIDC_FLOW_COOKIE, flowCookie(req));
    try {
      const result = await id.oidcLogin.callback(req.params.provider, searchOf(req), req.cookies[OIDC_FLOW_COOKIE], meta(req));
      if ("mfaToken" in result) return reply.redirect(`/login#mfaToken=${result.mfaToken}`, 302);
      setSessionCookies(req, reply, result);
      return reply.redirect("/", 302);
    } catch (error) {
      if (error instanceof AppError && error.code === "unauthenticated") return reply.redirect("/login#error=oidc", 302);
      throw error;
    }
  });

  const adminTags = ["identity"];
  app.get("/api/admin/identity/oidc-providers", { schema: { tags: adminTags } }, async (req) => ({ data: await id.oidcProviders.list(actorOf(req)) }));
  app.post("/api/admin/identity/oidc-providers", { schema: { body: OidcProviderInput, tags: adminTags } }, async (req, reply) =>
    reply.status(201).send({ data: await id.oidcProviders.create(actorOf(req), req.body, req.id) }));
  app.delete("/api/admin/identity/oidc-providers/:id", { schema: { params: IdParams, tags: adminTags } }, async (req) => {
    await id.oidcProviders.remove(actorOf(req), req.params.id, req.id);
    return { data: { deleted: true } };
  });
  app.get("/api/admin/security-events", { schema: { querystring: SecurityEventQuery, tags: adminTags } }, async (req) => id.securityEvents.list(actorOf(req), req.query));
}
