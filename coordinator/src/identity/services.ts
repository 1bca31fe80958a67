import type { AuthService } from "../auth/service";
import type { Database } from "../db/client";
import { createApiKeyService } from "./api-keys";
import { createUserDirectory } from "./directory";
import { createImpersonationService } from "./impersonation";
import { createOidcLoginService } from "./oidc-login";
import { createOidcProviderService } from "./oidc-providers";
import { createPasswordResetService, type ResetMailConfig } from "./password-reset";
import { createSecurityEventService } from "./security-events";
import { createSessionService } from "./sessions";
import { createTenantRoleService } from "./tenant-roles";
import { createTotpService } from "./totp";

/** The identity settings the routes need: rate limit per client address and the TOTP policy. */
export interface IdentityPolicy {
  /** Attempts per client address per minute on login, its second step and password reset. */
  loginRateMax: number;
  /** Platform roles that must use TOTP. */
  mfaRequiredRoles: readonly string[];
}

/** OIDC sign-in settings: the panel's public URL (base of the redirect URI) and whether `http://` issuers are allowed (tests only). */
export interface OidcSettings {
  publicUrl: string;
  allowHttp: boolean;
}

/** Builds the identity services over one database; OIDC sign-in ends in `auth.loginVerified`. */
export function createIdentityServices(deps: { db: Database; policy: IdentityPolicy; mail: ResetMailConfig; auth: Pick<AuthService, "loginVerified">; oidc: OidcSettings }) {
  const oidcLogin = createOidcLoginService({ db: deps.db, auth: deps.auth, ...deps.oidc });
  return {
    policy: deps.policy,
    totp: createTotpService({ db: deps.db, issuer: "mPanel" }),
    apiKeys: createApiKeyService({ db: deps.db }),
    sessions: createSessionService({ db: deps.db }),
    passwordReset: createPasswordResetService({ db: deps.db, mail: deps.mail }),
    tenantRoles: createTenantRoleService({ db: deps.db }),
    impersonation: createImpersonationService({ db: deps.db }),
    oidcLogin,
    oidcProviders: createOidcProviderService({ db: deps.db, allowHttp: deps.oidc.allowHttp, onDelete: (id) => oidcLogin.forget(id) }),
    securityEvents: createSecurityEventService({ db: deps.db }),
    directory: createUserDirectory({ db: deps.db }),
  };
}

export type IdentityServices = ReturnType<typeof createIdentityServices>;
