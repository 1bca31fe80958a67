import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Actor } from "../auth/rbac";
import { csrfFor, type AuthService } from "../auth/service";
import { AppError } from "../errors";

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
function sessionToken(request: FastifyRequest): { token: string; viaCookie: boolean } | null {
  const header = request.headers.authorization;
  if (header?.startsWith("Bearer ")) return { token: header.slice(7).trim(), viaCookie: false };
  const cookie = request.cookies[SESSION_COOKIE];
  return cookie ? { token: cookie, viaCookie: true } : null;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Authenticates every route except those with `config: { public: true }`: 401 without a valid
 * session. Cookie-authenticated unsafe requests must also carry the CSRF header matching the
 * session (double submit), or get 403 `csrf`. Bearer tokens need no CSRF token.
 */
export function registerAuth(app: FastifyInstance, auth: AuthService): void {
  app.addHook("onRequest", async (request) => {
    if (request.routeOptions.config.public) return;
    const found = sessionToken(request);
    const actor = found ? await auth.resolve(found.token) : null;
    if (!found || !actor) throw new AppError("unauthenticated", "authentication required");
    if (found.viaCookie && !SAFE_METHODS.has(request.method) && request.headers[CSRF_HEADER] !== csrfFor(found.token)) {
      throw new AppError("csrf", "missing or wrong CSRF token");
    }
    actors.set(request, actor);
  });
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Route needs no session (login, health, OpenAPI). */
    public?: boolean;
  }
}
