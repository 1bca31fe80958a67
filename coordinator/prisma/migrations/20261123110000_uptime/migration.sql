-- Site uptime checks (issue 6): the coordinator GETs a website's URL every `interval_seconds`
-- and keeps each outcome; `status` moves to 'down' after `failures_to_alert` failures in a row
-- (a SITE_DOWN audit event) and back to 'up' on the next success (SITE_UP).
CREATE TABLE "uptime_checks" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "website_id" UUID NOT NULL,
    "url" TEXT NOT NULL,
    "interval_seconds" INTEGER NOT NULL DEFAULT 60,
    "timeout_ms" INTEGER NOT NULL DEFAULT 10000,
    "expect_status" INTEGER,
    "failures_to_alert" INTEGER NOT NULL DEFAULT 2,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "consecutive_failures" INTEGER NOT NULL DEFAULT 0,
    "last_checked_at" TIMESTAMPTZ(3),
    "next_run_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "uptime_checks_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "uptime_checks_status_check" CHECK ("status" IN ('pending', 'up', 'down'))
);

CREATE INDEX "uptime_checks_tenant_id_idx" ON "uptime_checks"("tenant_id");
CREATE INDEX "uptime_checks_website_id_idx" ON "uptime_checks"("website_id");
CREATE INDEX "uptime_checks_enabled_next_run_at_idx" ON "uptime_checks"("enabled", "next_run_at");

ALTER TABLE "uptime_checks" ADD CONSTRAINT "uptime_checks_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "uptime_checks" ADD CONSTRAINT "uptime_checks_website_id_fkey" FOREIGN KEY ("website_id") REFERENCES "websites"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- One row per probe: HTTP status and latency (ms) on an answer, the error otherwise.
CREATE TABLE "uptime_results" (
    "id" BIGSERIAL NOT NULL,
    "check_id" UUID NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ok" BOOLEAN NOT NULL,
    "status_code" INTEGER,
    "latency_ms" INTEGER,
    "error" TEXT,

    CONSTRAINT "uptime_results_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "uptime_results_check_id_at_idx" ON "uptime_results"("check_id", "at");

ALTER TABLE "uptime_results" ADD CONSTRAINT "uptime_results_check_id_fkey" FOREIGN KEY ("check_id") REFERENCES "uptime_checks"("id") ON DELETE CASCADE ON UPDATE CASCADE;
