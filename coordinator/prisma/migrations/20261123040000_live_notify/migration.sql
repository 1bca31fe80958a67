-- Live updates for the panel: the coordinator LISTENs on channel `mpanel_live` (one client per
-- replica) and fans each notification out to the panel sockets allowed to see it. Payloads are
-- small JSON objects (NOTIFY caps them at 8000 bytes); the log message is cut to 1000 characters.
-- Notifications are sent at COMMIT, so a socket never hears of a change that rolled back.

CREATE FUNCTION "mpanel_live_job"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('mpanel_live', json_build_object(
    'kind', 'job', 'id', NEW.id, 'tenantId', NEW.tenant_id, 'type', NEW.type, 'status', NEW.status,
    'attempts', NEW.attempts, 'targetServerId', NEW.target_server_id, 'errorCode', NEW.error_code)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER "jobs_live_insert" AFTER INSERT ON "jobs"
  FOR EACH ROW EXECUTE FUNCTION "mpanel_live_job"();
CREATE TRIGGER "jobs_live_status" AFTER UPDATE OF "status" ON "jobs"
  FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status") EXECUTE FUNCTION "mpanel_live_job"();

CREATE FUNCTION "mpanel_live_job_event"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('mpanel_live', json_build_object(
    'kind', 'job_event', 'id', NEW.id::text, 'jobId', NEW.job_id,
    'tenantId', (SELECT tenant_id FROM "jobs" WHERE id = NEW.job_id),
    'at', NEW.at, 'level', NEW.level, 'message', left(NEW.message, 1000), 'progress', NEW.progress)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER "job_events_live" AFTER INSERT ON "job_events"
  FOR EACH ROW EXECUTE FUNCTION "mpanel_live_job_event"();

CREATE FUNCTION "mpanel_live_server"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('mpanel_live', json_build_object(
    'kind', 'server', 'id', NEW.id, 'hostname', NEW.hostname, 'status', NEW.status, 'lastSeenAt', NEW.last_seen_at)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER "servers_live_status" AFTER UPDATE OF "status" ON "servers"
  FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status") EXECUTE FUNCTION "mpanel_live_server"();
