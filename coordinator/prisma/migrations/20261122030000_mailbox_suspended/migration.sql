-- A mailbox's desired suspension state: the coordinator's record of what UPDATE_MAILBOX sends in
-- full, kept apart from `status` (which tracks the node's progress: updating, active, failed).
ALTER TABLE "mailboxes" ADD COLUMN "suspended" BOOLEAN NOT NULL DEFAULT false;
