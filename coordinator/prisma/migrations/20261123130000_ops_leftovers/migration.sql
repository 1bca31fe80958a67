-- Issue 7, operations leftovers.
-- A rollout abort cancels the upgrade jobs no agent took yet; their nodes become `canceled`.
ALTER TABLE "rollout_nodes" DROP CONSTRAINT "rollout_nodes_state_check";
ALTER TABLE "rollout_nodes" ADD CONSTRAINT "rollout_nodes_state_check" CHECK ("state" IN ('pending', 'upgrading', 'healthy', 'failed', 'canceled'));

-- Restore tests: a random succeeded backup is restored into scratch space on its node on a
-- schedule; the outcome is kept here (and a failure raises an alert like a failed backup).
CREATE TABLE "backup_restore_tests" (
    "id" UUID NOT NULL,
    "backup_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "trigger" TEXT NOT NULL,
    "job_id" UUID,
    "result" JSONB,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    CONSTRAINT "backup_restore_tests_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "backup_restore_tests_status_check" CHECK ("status" IN ('pending', 'succeeded', 'failed')),
    CONSTRAINT "backup_restore_tests_trigger_check" CHECK ("trigger" IN ('schedule', 'manual'))
);
CREATE INDEX "backup_restore_tests_created_at_idx" ON "backup_restore_tests"("created_at");
CREATE INDEX "backup_restore_tests_backup_id_idx" ON "backup_restore_tests"("backup_id");
