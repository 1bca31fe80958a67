-- OpenID Connect sign-in (issue 8): providers managed by super admins, the provider accounts
-- linked to users (by `sub`), and authorization requests in flight (state, nonce, PKCE verifier).
CREATE TABLE "oidc_providers" (
    "id" UUID NOT NULL,
    "slug" TEXT NOT NULL,
    "display_name" TEXT NOT NULL,
    "issuer" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "client_secret" TEXT NOT NULL,
    "scopes" TEXT[],
    "allowed_domains" TEXT[],
    "allow_jit" BOOLEAN NOT NULL DEFAULT false,
    "jit_platform_role" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "oidc_providers_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "oidc_providers_slug_key" ON "oidc_providers"("slug");

CREATE TABLE "oidc_identities" (
    "id" UUID NOT NULL,
    "provider_id" UUID NOT NULL,
    "subject" TEXT NOT NULL,
    "user_id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_login_at" TIMESTAMPTZ(3),
    CONSTRAINT "oidc_identities_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "oidc_identities_provider_id_subject_key" ON "oidc_identities"("provider_id", "subject");
CREATE INDEX "oidc_identities_user_id_idx" ON "oidc_identities"("user_id");
ALTER TABLE "oidc_identities" ADD CONSTRAINT "oidc_identities_provider_id_fkey" FOREIGN KEY ("provider_id") REFERENCES "oidc_providers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "oidc_identities" ADD CONSTRAINT "oidc_identities_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "oidc_logins" (
    "id" UUID NOT NULL,
    "provider_id" UUID NOT NULL,
    "flow_hash" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "nonce" TEXT NOT NULL,
    "code_verifier" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "oidc_logins_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "oidc_logins_flow_hash_key" ON "oidc_logins"("flow_hash");
CREATE INDEX "oidc_logins_expires_at_idx" ON "oidc_logins"("expires_at");
ALTER TABLE "oidc_logins" ADD CONSTRAINT "oidc_logins_provider_id_fkey" FOREIGN KEY ("provider_id") REFERENCES "oidc_providers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
