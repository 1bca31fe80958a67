-- Backups (issue 7, DESIGN section 10): a policy per CloudPod, and one row per restic snapshot
-- taken (or attempted) of a pod's files or of one of its tenant's databases.
CREATE TABLE "backup_policies" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "cloud_pod_id" UUID NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "frequency_hours" INTEGER NOT NULL,
    "keep_last" INTEGER NOT NULL,
    "keep_daily" INTEGER NOT NULL DEFAULT 0,
    "keep_weekly" INTEGER NOT NULL DEFAULT 0,
    "keep_monthly" INTEGER NOT NULL DEFAULT 0,
    "database_ids" UUID[],
    "next_run_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "backup_policies_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "backup_policies_cloud_pod_id_key" ON "backup_policies"("cloud_pod_id");
CREATE INDEX "backup_policies_tenant_id_idx" ON "backup_policies"("tenant_id");
CREATE INDEX "backup_policies_due_idx" ON "backup_policies"("next_run_at") WHERE "enabled";

CREATE TABLE "backups" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "cloud_pod_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "database_id" UUID,
    "server_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "trigger" TEXT NOT NULL,
    "snapshot_id" TEXT,
    "size_bytes" BIGINT,
    "job_id" UUID,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    CONSTRAINT "backups_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "backups_tenant_id_created_at_idx" ON "backups"("tenant_id", "created_at");
CREATE INDEX "backups_cloud_pod_id_created_at_idx" ON "backups"("cloud_pod_id", "created_at");
CREATE INDEX "backups_snapshot_id_idx" ON "backups"("snapshot_id");
