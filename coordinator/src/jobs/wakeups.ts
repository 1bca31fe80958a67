import { EventEmitter } from "node:events";

/** Where a committed job can run: a named node, or any node with a role. */
export interface JobTarget {
  serverId: string | null;
  role: string | null;
}

/**
 * In-process wake-up bus: the queue announces committed jobs here and the gRPC gateway's
 * dispatcher answers pending Pulls at once (no timer polling). Across replicas, the same
 * announcement travels over Redis pub/sub (not wired yet: one coordinator process).
 */
export class Wakeups {
  private readonly emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Announce that jobs for these targets were committed (call after COMMIT, never before). */
  announce(targets: Iterable<JobTarget>): void {
    for (const target of targets) this.emitter.emit("job", target);
  }

  /** Subscribe; returns the unsubscribe function. */
  subscribe(listener: (target: JobTarget) => void): () => void {
    this.emitter.on("job", listener);
    return () => this.emitter.off("job", listener);
  }
}
