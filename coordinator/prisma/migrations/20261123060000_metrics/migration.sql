-- Node metrics (issue 6): samples streamed by each agent, at three resolutions in one table:
-- step_seconds 0 = raw samples, 60 = one-minute averages, 3600 = one-hour averages. A figure
-- the agent could not measure is NULL (shown "N/A"), never 0; averages ignore NULLs.
CREATE TABLE "node_metrics" (
    "server_id" UUID NOT NULL,
    "step_seconds" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "samples" INTEGER NOT NULL DEFAULT 1,
    "cpu_percent" DOUBLE PRECISION,
    "load1" DOUBLE PRECISION,
    "memory_used_bytes" DOUBLE PRECISION,
    "memory_total_bytes" DOUBLE PRECISION,
    "disk_used_bytes" DOUBLE PRECISION,
    "disk_total_bytes" DOUBLE PRECISION,
    "net_rx_bytes_per_second" DOUBLE PRECISION,
    "net_tx_bytes_per_second" DOUBLE PRECISION,

    CONSTRAINT "node_metrics_pkey" PRIMARY KEY ("server_id", "step_seconds", "at"),
    CONSTRAINT "node_metrics_step_check" CHECK ("step_seconds" IN (0, 60, 3600))
);

CREATE INDEX "node_metrics_step_seconds_at_idx" ON "node_metrics"("step_seconds", "at");

ALTER TABLE "node_metrics" ADD CONSTRAINT "node_metrics_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The last reported state of each daemon of a node (nginx, php-fpm, postfix, dovecot, mariadb,
-- postgresql, pdns); `changed_at` is when it last went up or down.
CREATE TABLE "service_health" (
    "server_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "up" BOOLEAN NOT NULL,
    "detail" TEXT NOT NULL DEFAULT '',
    "changed_at" TIMESTAMPTZ(3) NOT NULL,
    "checked_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "service_health_pkey" PRIMARY KEY ("server_id", "name")
);

ALTER TABLE "service_health" ADD CONSTRAINT "service_health_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
