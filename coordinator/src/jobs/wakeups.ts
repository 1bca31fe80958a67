import { EventEmitter } from "node:events";

/** Where a committed job can run: a named node, or any node with a role. */
export interface JobTarget {
  serverId: string | null;
  role: string | null;
}

/**
 * Wake-up bus: the queue announces committed jobs here and the gRPC gateway's dispatcher
 * answers pending Pulls at once (no timer polling). With several replicas a relay (the Redis
 * bridge in `cluster/redis-bus.ts`) carries every local announcement to the other replicas,
 * which hand it to their own subscribers with `receive` (never relayed again, so no echo).
 */
export class Wakeups {
  private readonly emitter = new EventEmitter({ captureRejections: false });
  private relay: ((targets: JobTarget[]) => void) | null = null;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Announce that jobs for these targets were committed (call after COMMIT, never before): local subscribers, then the relay. */
  announce(targets: Iterable<JobTarget>): void {
    const list = [...targets];
    if (list.length === 0) return;
    this.receive(list);
    this.relay?.(list);
  }

  /** Hands targets announced by another replica to the local subscribers only. */
  receive(targets: Iterable<JobTarget>): void {
    for (const target of targets) this.emitter.emit("job", target);
  }

  /** Sends every later local announcement to `relay` as well; returns the function that stops it. */
  relayTo(relay: (targets: JobTarget[]) => void): () => void {
    this.relay = relay;
    return () => {
      if (this.relay === relay) this.relay = null;
    };
  }

  /** Subscribe; returns the unsubscribe function. */
  subscribe(listener: (target: JobTarget) => void): () => void {
    this.emitter.on("job", listener);
    return () => this.emitter.off("job", listener);
  }
}
