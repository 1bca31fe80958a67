import type { Database } from "../db/client";
import { createApiKeyService } from "./api-keys";
import { createImpersonationService } from "./impersonation";
import { createPasswordResetService, type ResetMailConfig } from "./password-reset";
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

/** Builds the identity services over one database. */
export function createIdentityServices(deps: { db: Database; policy: IdentityPolicy; mail: ResetMailConfig }) {
  return {
    policy: deps.policy,
    totp: createTotpService({ db: deps.db, issuer: "mPanel" }),
    apiKeys: createApiKeyService({ db: deps.db }),
    sessions: createSessionService({ db: deps.db }),
    passwordReset: createPasswordResetService({ db: deps.db, mail: deps.mail }),
    tenantRoles: createTenantRoleService({ db: deps.db }),
    impersonation: createImpersonationService({ db: deps.db }),
  };
}

export type IdentityServices = ReturnType<typeof createIdentityServices>;
