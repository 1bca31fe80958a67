import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Actor } from "../auth/rbac";
import { csrfFor, type AuthService } from "../auth/service";
import { AppError } from "../errors";
import { apiKeyScopes } from "../identity/api-keys";

/** Cookie names of the panel session (httpOnly) and its CSRF double-submit partner. */
export const SESSION_COOKIE = "mpanel_session";
export const CSRF_COOKIE = "mpanel_csrf";
export const CSRF_HEADER = "x-csrf-token";

const actors = new WeakMap<FastifyRequest, Actor>();

/** The authenticated actor of a request (set by `registerAuth`); throws `unauthenticated` on public routes. */
export function actorOf(request: FastifyRequest): Actor {
  const actor = actors.get(request);
  if (!actor) throw new AppError("unauthenticated", "authentication required");
  return actor;
}

/** The session token of a request: `Authorization: Bearer <token>`, else the session cookie. */
export function sessionToken(request: FastifyRequest): { token: string; viaCookie: boolean } | null {
  const header = request.headers.authorization;
  if (header?.startsWith("Bearer ")) return { token: header.slice(7).trim(), viaCookie: false };
  const cookie = request.cookies[SESSION_COOKIE];
  return cookie ? { token: cookie, viaCookie: true } : null;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The API key scope a route needs, from its URL pattern (never the raw URL): the first
 * segment after `/api/admin/` (`hosting/` skipped), `join-tokens` counting as `servers`.
 * Null for every other route, which API keys cannot call (deny by default), except
 * `GET /api/auth/me`.
 */
export function routeScope(method: string, pattern: string): string | null {
  if (method === "GET" && pattern === "/api/auth/me") return "me";
  const segment = /^\/api\/admin\/(?:hosting\/)?([a-z-]+)/.exec(pattern)?.[1];
  if (segment === "join-tokens") return "servers";
  return segment !== undefined && segment in apiKeyScopes ? segment : null;
}

/**
 * Authenticates every route except those with `config: { public: true }`: 401 without a valid
 * session or API key. Cookie-authenticated unsafe requests must also carry the CSRF header
 * matching the session (double submit), or get 403 `csrf`; bearer tokens need none. An API
 * key reaches only the routes its scopes name (`routeScope`, else 403); a session that policy
 * holds until TOTP is enrolled reaches only routes with `config: { allowDuringMfaSetup: true }`
 * (else 403 `mfa_setup_required`).
 */
export function registerAuth(app: FastifyInstance, auth: Pick<AuthService, "resolve">): void {
  app.addHook("onRequest", async (request) => {
    const config = request.routeOptions.config;
    if (config.public) return;
    const found = sessionToken(request);
    const actor = found ? await auth.resolve(found.token, request.id) : null;
    if (!found || !actor) throw new AppError("unauthenticated", "authentication required");
    if (found.viaCookie && !SAFE_METHODS.has(request.method) && request.headers[CSRF_HEADER] !== csrfFor(found.token)) {
      throw new AppError("csrf", "missing or wrong CSRF token");
    }
    if (actor.apiKeyScopes) {
      const scope = routeScope(request.method === "HEAD" ? "GET" : request.method, request.routeOptions.url ?? "");
      if (scope === null) throw new AppError("forbidden", "API keys cannot call this route");
      if (scope !== "me" && !actor.apiKeyScopes.includes(scope)) throw new AppError("forbidden", `the API key lacks the ${scope} scope`);
    }
    if (actor.mfaSetupRequired && !config.allowDuringMfaSetup) throw new AppError("mfa_setup_required", "enrol two-factor authentication first (POST /api/auth/totp/enroll)");
    actors.set(request, actor);
  });
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Route needs no session (login, health, OpenAPI). */
    public?: boolean;
    /** Route is open to a session that must enrol TOTP before anything else (me, logout, enrolment). */
    allowDuringMfaSetup?: boolean;
  }
}
