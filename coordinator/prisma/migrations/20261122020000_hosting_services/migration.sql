-- Hosting services (issue 3): domains, DNS zones and records, mail domains, mailboxes and
-- aliases, databases and their users, TLS certificates; servers get a region for placement.
ALTER TABLE "servers" ADD COLUMN "region" TEXT NOT NULL DEFAULT 'default';
ALTER TABLE "servers" ADD COLUMN "public_ipv4" TEXT;
ALTER TABLE "servers" ADD COLUMN "public_ipv6" TEXT;
-- The CloudPod whose provisioning workflow a job belongs to; the pod's status follows these jobs.
ALTER TABLE "jobs" ADD COLUMN "cloud_pod_id" UUID;
CREATE INDEX "jobs_cloud_pod_id_idx" ON "jobs"("cloud_pod_id") WHERE "cloud_pod_id" IS NOT NULL;

CREATE TABLE "domains" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "cloud_pod_id" UUID,
    "name" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'active',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "domains_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "domains_tenant_id_idx" ON "domains"("tenant_id");
-- A name belongs to one tenant at a time (partial unique index, not expressible in schema.prisma).
CREATE UNIQUE INDEX "domains_live_name_key" ON "domains"("name") WHERE "deleted_at" IS NULL;

CREATE TABLE "dns_zones" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "domain_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "nameservers" TEXT[],
    "status" TEXT NOT NULL DEFAULT 'pending',
    "last_synced_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "dns_zones_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "dns_zones_domain_id_key" ON "dns_zones"("domain_id");
CREATE INDEX "dns_zones_tenant_id_idx" ON "dns_zones"("tenant_id");

CREATE TABLE "dns_records" (
    "id" UUID NOT NULL,
    "zone_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "ttl" INTEGER NOT NULL,
    "content" TEXT NOT NULL,
    "managed" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "dns_records_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "dns_records_zone_id_name_type_idx" ON "dns_records"("zone_id", "name", "type");

CREATE TABLE "mail_domains" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "domain_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "dkim_selector" TEXT NOT NULL,
    "dkim_public_key" TEXT,
    "status" TEXT NOT NULL DEFAULT 'provisioning',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "mail_domains_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "mail_domains_domain_id_key" ON "mail_domains"("domain_id");
CREATE INDEX "mail_domains_tenant_id_idx" ON "mail_domains"("tenant_id");

CREATE TABLE "mailboxes" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "mail_domain_id" UUID NOT NULL,
    "local_part" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "password_hash" TEXT NOT NULL,
    "quota_bytes" BIGINT NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'provisioning',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "mailboxes_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "mailboxes_tenant_id_idx" ON "mailboxes"("tenant_id");
CREATE INDEX "mailboxes_mail_domain_id_idx" ON "mailboxes"("mail_domain_id");

CREATE TABLE "mail_aliases" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "mail_domain_id" UUID NOT NULL,
    "local_part" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "destinations" TEXT[],
    "status" TEXT NOT NULL DEFAULT 'provisioning',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "mail_aliases_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "mail_aliases_tenant_id_idx" ON "mail_aliases"("tenant_id");
CREATE INDEX "mail_aliases_mail_domain_id_idx" ON "mail_aliases"("mail_domain_id");
-- One live mailbox or alias per address.
CREATE UNIQUE INDEX "mailboxes_live_address_key" ON "mailboxes"("address") WHERE "deleted_at" IS NULL;
CREATE UNIQUE INDEX "mail_aliases_live_address_key" ON "mail_aliases"("address") WHERE "deleted_at" IS NULL;

CREATE TABLE "databases" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "engine" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'provisioning',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "databases_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "databases_tenant_id_idx" ON "databases"("tenant_id");
CREATE UNIQUE INDEX "databases_live_name_key" ON "databases"("server_id", "engine", "name") WHERE "deleted_at" IS NULL;

CREATE TABLE "database_users" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "database_id" UUID NOT NULL,
    "username" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'provisioning',
    "password_set_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "database_users_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "database_users_tenant_id_idx" ON "database_users"("tenant_id");
CREATE INDEX "database_users_database_id_idx" ON "database_users"("database_id");
-- User names are unique per engine across the whole platform (they are server-wide logins).
CREATE UNIQUE INDEX "database_users_live_username_key" ON "database_users"("username") WHERE "deleted_at" IS NULL;

CREATE TABLE "tls_certificates" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "website_id" UUID NOT NULL,
    "domains" TEXT[],
    "status" TEXT NOT NULL DEFAULT 'pending',
    "serial" TEXT,
    "issuer" TEXT,
    "not_before" TIMESTAMPTZ(3),
    "not_after" TIMESTAMPTZ(3),
    "renew_after" TIMESTAMPTZ(3),
    "failures" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "certificate_pem" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "tls_certificates_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "tls_certificates_tenant_id_idx" ON "tls_certificates"("tenant_id");
CREATE INDEX "tls_certificates_website_id_idx" ON "tls_certificates"("website_id");
-- The renewal scan: issued certificates due for renewal, oldest first.
CREATE INDEX "tls_certificates_renewal_idx" ON "tls_certificates"("renew_after") WHERE "status" = 'issued';

ALTER TABLE "domains" ADD CONSTRAINT "domains_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "domains" ADD CONSTRAINT "domains_cloud_pod_id_fkey" FOREIGN KEY ("cloud_pod_id") REFERENCES "cloud_pods"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "dns_zones" ADD CONSTRAINT "dns_zones_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "dns_zones" ADD CONSTRAINT "dns_zones_domain_id_fkey" FOREIGN KEY ("domain_id") REFERENCES "domains"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "dns_zones" ADD CONSTRAINT "dns_zones_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "dns_records" ADD CONSTRAINT "dns_records_zone_id_fkey" FOREIGN KEY ("zone_id") REFERENCES "dns_zones"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "mail_domains" ADD CONSTRAINT "mail_domains_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "mail_domains" ADD CONSTRAINT "mail_domains_domain_id_fkey" FOREIGN KEY ("domain_id") REFERENCES "domains"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "mail_domains" ADD CONSTRAINT "mail_domains_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "mailboxes" ADD CONSTRAINT "mailboxes_mail_domain_id_fkey" FOREIGN KEY ("mail_domain_id") REFERENCES "mail_domains"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "mail_aliases" ADD CONSTRAINT "mail_aliases_mail_domain_id_fkey" FOREIGN KEY ("mail_domain_id") REFERENCES "mail_domains"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "databases" ADD CONSTRAINT "databases_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "databases" ADD CONSTRAINT "databases_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "database_users" ADD CONSTRAINT "database_users_database_id_fkey" FOREIGN KEY ("database_id") REFERENCES "databases"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "tls_certificates" ADD CONSTRAINT "tls_certificates_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "tls_certificates" ADD CONSTRAINT "tls_certificates_website_id_fkey" FOREIGN KEY ("website_id") REFERENCES "websites"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
