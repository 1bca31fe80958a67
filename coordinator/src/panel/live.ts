import type { Notification, Pool, PoolClient } from "pg";
import type { Logger } from "pino";
import { hasPermission, type Actor } from "../auth/rbac";
import { LiveEvent } from "./contract";

/** The PostgreSQL channel the triggers of migration `20261123040000_live_notify` notify on. */
export const LIVE_CHANNEL = "mpanel_live";

/** Whether `actor` may see `event`: jobs and their log lines by `jobs:read` in the job's tenant (platform staff only for node jobs), servers and their metrics and health by `servers:read`. */
export function visibleTo(actor: Actor, event: LiveEvent): boolean {
  if (event.kind === "server" || event.kind === "metrics" || event.kind === "health") return hasPermission(actor, "servers:read");
  return hasPermission(actor, "jobs:read", event.tenantId ?? undefined);
}

/** A listener of the hub: receives only the events its actor may see. */
export interface LiveSubscriber {
  actor: Actor;
  send(event: LiveEvent): void;
}

/** The coordinator's one LISTEN connection and its fan-out to panel sockets. */
export interface LiveHub {
  /** Adds a subscriber; the returned function removes it. */
  subscribe(subscriber: LiveSubscriber): () => void;
  /** Number of subscribers (sockets) connected to this replica. */
  size(): number;
  /** Resolves once the LISTEN is in place (after a start or a reconnect). */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

const RECONNECT_BASE_MS = 250;
const RECONNECT_MAX_MS = 15_000;

/**
 * Starts the hub: checks one client out of `pool` for good, runs `LISTEN mpanel_live` on it,
 * parses each notification with `LiveEvent` and hands it to the subscribers allowed to see it.
 * When the connection drops it reconnects after a random wait inside an exponential window
 * (250 ms doubling to 15 s: full jitter, so replicas do not reconnect in lockstep); events
 * committed while disconnected are missed, which the panel covers by reloading lists on reconnect.
 */
export function createLiveHub(deps: { pool: Pool; log: Logger }): LiveHub {
  const subscribers = new Set<LiveSubscriber>();
  const log = deps.log.child({ component: "live" });
  let client: { connection: PoolClient; onError: (error: Error) => void } | null = null;
  let stopped = false;
  let attempts = 0;
  let retry: NodeJS.Timeout | null = null;
  let listening: Promise<void> = connect();

  function deliver(payload: string | undefined): void {
    if (subscribers.size === 0) return; // nobody to tell: skip the parse (job churn notifies for every row)
    const parsed = LiveEvent.safeParse(JSON.parse(payload ?? "null"));
    if (!parsed.success) {
      log.warn({ issues: parsed.error.issues.length }, "unreadable live notification");
      return;
    }
    for (const subscriber of subscribers) if (visibleTo(subscriber.actor, parsed.data)) subscriber.send(parsed.data);
  }

  function scheduleReconnect(): void {
    if (stopped || retry) return;
    const window = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempts, 6));
    attempts += 1;
    retry = setTimeout(() => {
      retry = null;
      listening = connect();
    }, Math.random() * window);
  }

  const onNotification = (message: Notification): void => {
    if (message.channel === LIVE_CHANNEL) deliver(message.payload);
  };
  const ignore = (): void => undefined;

  /** Gives a LISTEN client back for good: our listeners off, the connection closed (never reused with LISTEN state). */
  function discard(current: PoolClient, onError: (error: Error) => void, error?: Error): void {
    current.off("notification", onNotification);
    current.off("error", onError);
    current.on("error", ignore);
    current.release(error ?? true);
  }

  async function connect(): Promise<void> {
    try {
      const next = await deps.pool.connect();
      const onError = (error: Error): void => {
        log.warn({ err: error }, "live connection lost");
        if (client?.connection === next) client = null;
        discard(next, onError, error);
        scheduleReconnect();
      };
      next.on("error", onError);
      if (stopped) return discard(next, onError);
      next.on("notification", onNotification);
      await next.query(`LISTEN ${LIVE_CHANNEL}`);
      client = { connection: next, onError };
      attempts = 0;
    } catch (error) {
      log.warn({ err: error }, "live listen failed");
      scheduleReconnect();
    }
  }

  return {
    subscribe(subscriber) {
      subscribers.add(subscriber);
      return () => subscribers.delete(subscriber);
    },
    size: () => subscribers.size,
    ready: () => listening,
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      await listening;
      subscribers.clear();
      const current = client;
      client = null;
      if (current) discard(current.connection, current.onError);
    },
  };
}
