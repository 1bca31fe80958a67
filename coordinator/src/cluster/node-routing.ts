import { AgentMessageSchema, CoordinatorMessageSchema, create, fromBinary, toBinary } from "@mpanel/proto";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { z } from "zod";
import type { FromAgent, NodeChannels, RemoteNodes, ToAgent } from "../gateway/node-channels";

/** The pub/sub channel on which the replica `replicaId` receives relayed node traffic. */
const replicaChannel = (replicaId: string): string => `mpanel:replica:${replicaId}`;
/** The key naming the replica that holds a node's stream (a replica id, with a TTL). */
const nodeOwnerKey = (nodeId: string): string => `mpanel:node-owner:${nodeId}`;
/** The key that exists while the replica `replicaId` runs (with a TTL). */
const replicaAliveKey = (replicaId: string): string => `mpanel:replica-alive:${replicaId}`;

/** How often a replica renews its liveness key and its claims, and checks its peers' liveness (ms). */
const HEARTBEAT_MS = 2_000;
/** How long a liveness key or a claim outlives its last renewal (ms): a crashed replica's claims are gone this long after it died. */
const TTL_MS = 8_000;
/** A peer whose liveness key is missing this many heartbeats in a row is lost (one miss may be a Redis restart the peer has not re-announced yet). */
const MISSES_BEFORE_LOST = 2;

/** Renews a claim that is still ours or has expired; never takes over another replica's. */
const RENEW_SCRIPT = `local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
/** Drops a claim only if it is still ours (a newer replica may hold the node already). */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** What travels on a replica's channel: JSON, with the protobuf message (CoordinatorMessage or AgentMessage) base64-encoded. */
const Envelope = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("forward"), from: z.string().min(1).max(64), nodeId: z.uuid(), msg: z.base64() }),
  z.object({ kind: z.literal("answer"), from: z.string().min(1).max(64), nodeId: z.uuid(), msg: z.base64() }),
  z.object({ kind: z.literal("gone"), from: z.string().min(1).max(64), nodeId: z.uuid() }),
]);

/** The routing of node traffic between replicas; `close` releases this replica's claims. */
export interface NodeRouting {
  close(): Promise<void>;
}

/**
 * Makes every node reachable from every replica (DESIGN section 5). A registry in Redis names
 * the replica holding each node's stream (`nodeOwnerKey`: set on attach, newest wins; removed
 * on detach only if still ours; renewed every heartbeat with a TTL, so a crashed replica's
 * claims expire). Each replica also keeps `replicaAliveKey` alive and listens on
 * `replicaChannel(itself)`. `channels` forwards operations on nodes it does not hold to the
 * owner's channel; the owner relays them to the agent and publishes the agent's answers back
 * to the requester's channel. A peer is lost (its relayed sessions end on both sides) when a
 * message to it reaches no subscriber or fails, or when its liveness key is missing for
 * `MISSES_BEFORE_LOST` heartbeats. Uses `redis` (the cluster bus's command connection) for
 * commands and one subscriber connection of its own. Throws when Redis cannot be reached.
 */
export async function startNodeRouting(deps: { url: string; replicaId: string; redis: Redis; channels: NodeChannels; log: Logger }): Promise<NodeRouting> {
  const { redis, channels, replicaId } = deps;
  const log = deps.log.child({ component: "node-routing" });
  const owned = new Set<string>();
  const misses = new Map<string, number>();
  const subscriber = new Redis(deps.url, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 1, connectionName: `mpanel-routing-${replicaId}` });
  subscriber.on("error", (error: Error) => log.warn({ err: error }, "redis subscriber error"));
  try {
    await subscriber.connect();
    await subscriber.subscribe(replicaChannel(replicaId));
    await redis.set(replicaAliveKey(replicaId), "1", "PX", TTL_MS);
  } catch (error) {
    subscriber.disconnect();
    throw new Error(`MPANEL_REDIS_URL: cannot reach Redis for node routing (${(error as Error).message})`, { cause: error });
  }

  const lost = (peer: string, why: string): void => {
    log.warn({ peer, why }, "replica lost; ending the sessions relayed with it");
    misses.delete(peer);
    channels.peerLost(peer);
  };
  /** Publishes to `peer`; a message nobody received (or that failed) means the peer is lost. */
  const publish = (peer: string, envelope: z.input<typeof Envelope>): void => {
    redis.publish(replicaChannel(peer), JSON.stringify(envelope)).then(
      (receivers) => {
        if (receivers === 0) lost(peer, "not subscribed");
      },
      (error: unknown) => {
        log.warn({ err: error, peer }, "relay publish failed");
        lost(peer, "publish failed");
      },
    );
  };
  const encodeToAgent = (msg: ToAgent): string => Buffer.from(toBinary(CoordinatorMessageSchema, create(CoordinatorMessageSchema, { msg }))).toString("base64");
  const encodeFromAgent = (msg: FromAgent): string => Buffer.from(toBinary(AgentMessageSchema, create(AgentMessageSchema, { msg }))).toString("base64");

  subscriber.on("message", (_channel: string, raw: string) => {
    try {
      const envelope = Envelope.parse(JSON.parse(raw));
      if (envelope.from === replicaId) return;
      misses.delete(envelope.from);
      if (envelope.kind === "forward") channels.relay(envelope.from, envelope.nodeId, fromBinary(CoordinatorMessageSchema, Buffer.from(envelope.msg, "base64")).msg);
      else if (envelope.kind === "answer") channels.onRelayed(envelope.from, envelope.nodeId, fromBinary(AgentMessageSchema, Buffer.from(envelope.msg, "base64")).msg);
      else channels.onGone(envelope.from, envelope.nodeId);
    } catch (error) {
      log.warn({ err: error }, "ignoring a malformed relay message");
    }
  });

  const claim = (nodeId: string): void => {
    owned.add(nodeId);
    redis.set(nodeOwnerKey(nodeId), replicaId, "PX", TTL_MS).catch((error: unknown) => log.warn({ err: error, nodeId }, "claiming a node failed"));
  };
  const heartbeat = async (): Promise<void> => {
    const batch = redis.pipeline().set(replicaAliveKey(replicaId), "1", "PX", TTL_MS);
    for (const nodeId of owned) batch.eval(RENEW_SCRIPT, 1, nodeOwnerKey(nodeId), replicaId, TTL_MS);
    await batch.exec();
    for (const peer of channels.peers()) {
      if ((await redis.exists(replicaAliveKey(peer))) === 1) {
        misses.delete(peer);
        continue;
      }
      const missed = (misses.get(peer) ?? 0) + 1;
      if (missed >= MISSES_BEFORE_LOST) lost(peer, "liveness key expired");
      else misses.set(peer, missed);
    }
  };
  let beating = false;
  const timer = setInterval(() => {
    if (beating) return;
    beating = true;
    heartbeat().catch((error: unknown) => log.warn({ err: error }, "routing heartbeat failed")).finally(() => {
      beating = false;
    });
  }, HEARTBEAT_MS);
  timer.unref();

  const transport: RemoteNodes = {
    claim,
    release(nodeId) {
      owned.delete(nodeId);
      redis.eval(RELEASE_SCRIPT, 1, nodeOwnerKey(nodeId), replicaId).catch((error: unknown) => log.warn({ err: error, nodeId }, "releasing a node failed"));
    },
    async ownerOf(nodeId) {
      const owner = await redis.get(nodeOwnerKey(nodeId));
      return owner && owner !== replicaId ? owner : null;
    },
    forward(owner, nodeId, msg) {
      publish(owner, { kind: "forward", from: replicaId, nodeId, msg: encodeToAgent(msg) });
    },
    answer(requester, nodeId, msg) {
      publish(requester, { kind: "answer", from: replicaId, nodeId, msg: encodeFromAgent(msg) });
    },
    gone(requester, nodeId) {
      publish(requester, { kind: "gone", from: replicaId, nodeId });
    },
  };
  channels.useRemote(transport);
  log.info({ replicaId }, "node routing ready");

  return {
    async close() {
      clearInterval(timer);
      subscriber.disconnect();
      const batch = redis.pipeline().del(replicaAliveKey(replicaId));
      for (const nodeId of owned) batch.eval(RELEASE_SCRIPT, 1, nodeOwnerKey(nodeId), replicaId);
      owned.clear();
      await batch.exec().catch((error: unknown) => log.warn({ err: error }, "releasing this replica's claims failed"));
    },
  };
}
