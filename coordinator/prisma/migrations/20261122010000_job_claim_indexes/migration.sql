-- Claim paths of the job queue: the oldest queued jobs of one node, and of one role, read in
-- created_at order straight from an index (no sort), so a claim costs the same with 10 or
-- 100,000 jobs queued. Partial indexes are not expressible in schema.prisma.
CREATE INDEX "jobs_claim_node_idx" ON "jobs"("target_server_id", "created_at") WHERE "status" = 'queued';
CREATE INDEX "jobs_claim_role_idx" ON "jobs"("target_role", "created_at") WHERE "status" = 'queued' AND "target_server_id" IS NULL;
