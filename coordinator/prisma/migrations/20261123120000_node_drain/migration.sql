-- Draining a node (issue 7, operator CLI `mpanel drain`): a drained node gets no new
-- CloudPods, mail domains, databases or zones; what already runs on it keeps running.
ALTER TABLE "servers" ADD COLUMN "drained_at" TIMESTAMPTZ(3);
