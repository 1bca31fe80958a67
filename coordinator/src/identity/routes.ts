import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AuthService } from "../auth/service";
import { AppError } from "../errors";
import { actorOf, CSRF_COOKIE, SESSION_COOKIE } from "../http/auth-hook";
import { ApiKeyInput } from "./api-keys";
import { UserListQuery } from "./directory";
import { meta, setSessionCookies } from "./http-session";
import { registerOidcRoutes } from "./oidc-routes";
import { ResetCompleteInput, ResetRequestInput } from "./password-reset";
import type { IdentityServices } from "./services";
import { PasswordChangeInput } from "./sessions";
import { CustomRoleInput, MemberInput } from "./tenant-roles";

const IdParams = z.object({ id: z.uuid() });
const LoginBody = z.strictObject({ email: z.email().max(254), password: z.string().min(1).max(1024) });
const Code = z.string().regex(/^\d{6}$/, "must be 6 digits");
const RecoveryCode = z.string().min(1).max(64);
const SecondFactor = z.strictObject({ code: Code.optional(), recoveryCode: RecoveryCode.optional() })
  .refine((f) => f.code !== undefined || f.recoveryCode !== undefined, { message: "give code or recoveryCode", path: ["code"] });
const MfaBody = z.strictObject({ mfaToken: z.string().regex(/^mpm_[A-Za-z0-9_-]{43}$/, "not a login challenge token"), code: Code.optional(), recoveryCode: RecoveryCode.optional() })
  .refine((f) => f.code !== undefined || f.recoveryCode !== undefined, { message: "give code or recoveryCode", path: ["code"] });

/** API keys manage nothing about identity: these routes need a session of the user's own. */
function sessionActor(req: FastifyRequest) {
  const actor = actorOf(req);
  if (actor.apiKeyId) throw new AppError("forbidden", "API keys cannot manage sessions, keys or two-factor settings");
  return actor;
}

/**
 * The identity API, top to bottom: login (password, then TOTP), logout, me; TOTP enrolment;
 * own sessions, password and API keys; password reset by email; the user directory; custom
 * tenant roles, members and impersonation (a cookie caller continues in the impersonated
 * session). Login, its second step and password reset are rate limited per client address
 * (`req.ip`: X-Forwarded-For is believed only from the configured trusted proxies).
 */
export function registerIdentityRoutes(root: FastifyInstance, s: { auth: AuthService; identity: IdentityServices }): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const { identity: id } = s;
  const tags = ["auth"];
  const limited = { public: true, rateLimit: { max: id.policy.loginRateMax, timeWindow: 60_000 } };
  const setup = { allowDuringMfaSetup: true };

  app.post("/api/auth/login", { config: limited, schema: { body: LoginBody, tags } }, async (req, reply) => {
    const result = await s.auth.login(req.body.email, req.body.password, meta(req));
    if ("token" in result) setSessionCookies(req, reply, result);
    return { data: result };
  });
  app.post("/api/auth/login/totp", { config: limited, schema: { body: MfaBody, tags } }, async (req, reply) => {
    const session = await s.auth.completeMfa(req.body.mfaToken, req.body, meta(req));
    setSessionCookies(req, reply, session);
    return { data: session };
  });
  app.post("/api/auth/logout", { config: setup, schema: { tags } }, async (req, reply) => {
    await s.auth.logout(actorOf(req), req.id);
    reply.clearCookie(SESSION_COOKIE, { path: "/" }).clearCookie(CSRF_COOKIE, { path: "/" });
    return { data: { loggedOut: true } };
  });
  app.get("/api/auth/me", { config: setup, schema: { tags } }, async (req) => {
    const actor = actorOf(req);
    return {
      data: {
        userId: actor.userId, platformRole: actor.platformRole, tenants: [...actor.tenantGrants.keys()], permissions: [...actor.platformPermissions],
        impersonatedBy: actor.impersonatedBy ?? null, mfaSetupRequired: actor.mfaSetupRequired ?? false, apiKeyId: actor.apiKeyId ?? null,
        mfaEnabled: await id.totp.enabled(actor),
      },
    };
  });

  app.post("/api/auth/totp/enroll", { config: setup, schema: { tags } }, async (req) => ({ data: await id.totp.enroll(sessionActor(req)) }));
  app.post("/api/auth/totp/confirm", { config: setup, schema: { body: z.strictObject({ code: Code }), tags } }, async (req) =>
    ({ data: await id.totp.confirm(sessionActor(req), req.body.code, req.id) }));
  app.post("/api/auth/totp/disable", { schema: { body: SecondFactor, tags } }, async (req) => {
    await id.totp.disable(sessionActor(req), req.body, id.policy.mfaRequiredRoles, req.id);
    return { data: { disabled: true } };
  });

  app.get("/api/auth/sessions", { schema: { tags } }, async (req) => ({ data: await id.sessions.list(sessionActor(req)) }));
  app.delete("/api/auth/sessions/:id", { schema: { params: IdParams, tags } }, async (req) => {
    await id.sessions.revoke(sessionActor(req), req.params.id, req.id);
    return { data: { revoked: true } };
  });
  app.post("/api/auth/password", { schema: { body: PasswordChangeInput, tags } }, async (req) =>
    ({ data: await id.sessions.changePassword(sessionActor(req), req.body, req.id) }));

  app.post("/api/auth/api-keys", { schema: { body: ApiKeyInput, tags } }, async (req, reply) =>
    reply.status(201).send({ data: await id.apiKeys.create(sessionActor(req), req.body, req.id) }));
  app.get("/api/auth/api-keys", { schema: { tags } }, async (req) => ({ data: await id.apiKeys.list(sessionActor(req)) }));
  app.delete("/api/auth/api-keys/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await id.apiKeys.revoke(sessionActor(req), req.params.id, req.id) }));

  app.post("/api/auth/password-reset", { config: limited, schema: { body: ResetRequestInput, tags } }, async (req, reply) => {
    await id.passwordReset.request(req.body.email, meta(req));
    return reply.status(202).send({ data: { sent: true }, message: "if the address belongs to an account, a reset link is on its way" });
  });
  app.post("/api/auth/password-reset/complete", { config: limited, schema: { body: ResetCompleteInput, tags } }, async (req) => {
    await id.passwordReset.complete(req.body, req.id);
    return { data: { reset: true } };
  });

  registerOidcRoutes(root, id);

  app.get("/api/admin/users", { schema: { querystring: UserListQuery, tags: ["users"] } }, async (req) => id.directory.list(actorOf(req), req.query));

  const tenantTags = ["tenants"];
  app.get("/api/admin/tenants/:id/roles", { schema: { params: IdParams, tags: tenantTags } }, async (req) => ({ data: await id.tenantRoles.listRoles(actorOf(req), req.params.id) }));
  app.post("/api/admin/tenants/:id/roles", { schema: { params: IdParams, body: CustomRoleInput, tags: tenantTags } }, async (req, reply) =>
    reply.status(201).send({ data: await id.tenantRoles.createRole(actorOf(req), req.params.id, req.body, req.id) }));
  app.post("/api/admin/tenants/:id/users", { schema: { params: IdParams, body: MemberInput, tags: tenantTags } }, async (req, reply) =>
    reply.status(201).send({ data: await id.tenantRoles.addMember(actorOf(req), req.params.id, req.body) }));
  app.post("/api/admin/tenants/:id/impersonate", { schema: { params: IdParams, tags: tenantTags } }, async (req, reply) => {
    const session = await id.impersonation.start(sessionActor(req), req.params.id, meta(req));
    // A panel (cookie) caller continues in the new session: its cookies replace the staff member's.
    if (!req.headers.authorization) setSessionCookies(req, reply, session);
    return reply.status(201).send({ data: session });
  });
}
