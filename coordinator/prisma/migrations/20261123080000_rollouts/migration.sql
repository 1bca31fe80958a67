-- Staged agent rollouts (issue 7): a target agent version and bundle, stages as cumulative
-- percentages of the nodes, and the health window every stage's nodes get to come back online
-- with the target version and healthy daemons before the next stage starts.
CREATE TABLE "rollouts" (
    "id" UUID NOT NULL,
    "version" TEXT NOT NULL,
    "bundle_url" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "stages" INTEGER[] NOT NULL,
    "health_window_ms" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'running',
    "current_stage" INTEGER NOT NULL DEFAULT -1,
    "stage_started_at" TIMESTAMPTZ(3),
    "reason" TEXT,
    "created_by" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollouts_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "rollouts_status_check" CHECK ("status" IN ('running', 'paused', 'stopped', 'completed'))
);

CREATE INDEX "rollouts_status_idx" ON "rollouts"("status");

-- One node of a rollout: the stage it belongs to and where it is (pending, upgrading, healthy, failed).
CREATE TABLE "rollout_nodes" (
    "rollout_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "stage" INTEGER NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'pending',
    "from_version" TEXT,
    "job_id" UUID,
    "detail" TEXT NOT NULL DEFAULT '',
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollout_nodes_pkey" PRIMARY KEY ("rollout_id", "server_id"),
    CONSTRAINT "rollout_nodes_state_check" CHECK ("state" IN ('pending', 'upgrading', 'healthy', 'failed'))
);

ALTER TABLE "rollout_nodes" ADD CONSTRAINT "rollout_nodes_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "rollout_nodes" ADD CONSTRAINT "rollout_nodes_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
