import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { z } from "zod";
import type { JobTarget, Wakeups } from "../jobs/wakeups";

/** The pub/sub channel every replica of one installation publishes to and listens on. */
export const CLUSTER_CHANNEL = "mpanel:cluster";

const Target = z.object({ serverId: z.uuid().nullable(), role: z.string().max(32).nullable() });
const Message = z.discriminatedUnion("kind", [
  z.object({ from: z.string(), kind: z.literal("wake"), targets: z.array(Target).max(10_000) }),
  z.object({ from: z.string(), kind: z.literal("disconnect"), nodeId: z.uuid() }),
]);

/** What the bus drives on this replica: the dispatcher's node sessions. */
export interface LocalSessions {
  /** Cuts the node's stream if this replica holds it. */
  disconnect(nodeId: string): void;
  /** Claims for every connected session with credits (after wake-ups may have been missed). */
  wakeAll(): void;
}

/** A replica's link to the others over Redis (DESIGN section 5). */
export interface ClusterBus {
  /** This replica's random id (messages carry it, so a replica ignores its own). */
  replicaId: string;
  /** A command connection for shared state (the login rate limits' counters). */
  redis: Redis;
  /** Cuts the node's stream here and on every other replica (a revoked node). */
  disconnectNode(nodeId: string): void;
  close(): Promise<void>;
}

/**
 * Bridges the in-process wake-up bus over Redis pub/sub: every local announcement is also
 * published on `CLUSTER_CHANNEL` (one message per announcement), and a message from another
 * replica is announced to this replica's subscribers only (`Wakeups.receive`), so nothing is
 * echoed back. Node disconnects (revocation) travel the same way. ioredis reconnects and
 * re-subscribes by itself; after a reconnect every local session is pumped once, since
 * wake-ups published meanwhile are lost (pub/sub keeps no backlog). Throws when Redis cannot
 * be reached at start (the coordinator then refuses to start rather than run unbridged).
 */
export async function startClusterBus(deps: { url: string; wakeups: Wakeups; sessions: LocalSessions; log: Logger }): Promise<ClusterBus> {
  const log = deps.log.child({ component: "cluster" });
  const replicaId = randomUUID();
  const options = { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 1, connectionName: `mpanel-${replicaId}` };
  const redis = new Redis(deps.url, options);
  const subscriber = new Redis(deps.url, options);
  for (const [name, client] of [["commands", redis], ["subscriber", subscriber]] as const) {
    client.on("error", (error: Error) => log.warn({ err: error, connection: name }, "redis connection error"));
  }
  try {
    await Promise.all([redis.connect(), subscriber.connect()]);
    await subscriber.subscribe(CLUSTER_CHANNEL);
  } catch (error) {
    redis.disconnect();
    subscriber.disconnect();
    throw new Error(`MPANEL_REDIS_URL: cannot reach Redis (${(error as Error).message})`, { cause: error });
  }

  subscriber.on("message", (_channel: string, raw: string) => {
    let parsed: z.infer<typeof Message>;
    try {
      parsed = Message.parse(JSON.parse(raw));
    } catch (error) {
      log.warn({ err: error }, "ignoring a malformed cluster message");
      return;
    }
    if (parsed.from === replicaId) return;
    if (parsed.kind === "wake") deps.wakeups.receive(parsed.targets);
    else deps.sessions.disconnect(parsed.nodeId);
  });
  // Attached after the first connection: every later "ready" is a reconnect.
  subscriber.on("ready", () => {
    log.info("redis subscriber reconnected; waking every local session");
    deps.sessions.wakeAll();
  });

  const publish = (message: z.input<typeof Message>): void => {
    redis.publish(CLUSTER_CHANNEL, JSON.stringify(message)).catch((error: unknown) => log.warn({ err: error, kind: message.kind }, "cluster publish failed"));
  };
  const stopRelay = deps.wakeups.relayTo((targets: JobTarget[]) => publish({ from: replicaId, kind: "wake", targets }));
  log.info({ replicaId }, "cluster bus connected");

  return {
    replicaId,
    redis,
    disconnectNode(nodeId) {
      deps.sessions.disconnect(nodeId);
      publish({ from: replicaId, kind: "disconnect", nodeId });
    },
    async close() {
      stopRelay();
      subscriber.disconnect();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
