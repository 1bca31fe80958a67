import type { FastifyReply, FastifyRequest } from "fastify";
import type { LoginMeta, LoginResult } from "../auth/service";
import { CSRF_COOKIE, SESSION_COOKIE } from "../http/auth-hook";

/** Who is signing in from where (client address as fastify resolved it through the trusted proxies), for sessions and the audit trail. */
export function meta(req: FastifyRequest): LoginMeta {
  return { ip: req.ip, userAgent: req.headers["user-agent"], requestId: req.id };
}

/** Sets the panel's session cookie (httpOnly) and its CSRF partner for a new session. */
export function setSessionCookies(req: FastifyRequest, reply: FastifyReply, session: LoginResult): void {
  const cookie = { path: "/", sameSite: "strict" as const, secure: req.protocol === "https", expires: session.expiresAt };
  reply.setCookie(SESSION_COOKIE, session.token, { ...cookie, httpOnly: true });
  reply.setCookie(CSRF_COOKIE, session.csrfToken, { ...cookie, httpOnly: false });
}
