import type { Logger } from "pino";
import type { ClaimedJob } from "../jobs/store";
import type { JobTarget, Wakeups } from "../jobs/wakeups";

/** One connected agent as the dispatcher sees it. */
export interface AgentSession {
  nodeId: string;
  roles: string[];
  /** The job types its agent runs (it is assigned no other); empty when it runs every type. */
  jobTypes: readonly string[];
  /** Job slots the agent has granted and not yet been given. */
  credits: number;
  /** Delivers claimed jobs to the agent's stream. */
  deliver(jobs: ClaimedJob[]): void;
  /** Ends the agent's stream (node revoked). */
  close(): void;
}

interface SessionState {
  session: AgentSession;
  claiming: boolean;
  again: boolean;
}

const MAX_CLAIM_BATCH = 64;

/**
 * Answers agents' Pulls: whenever a session has credits and a matching job is committed, it
 * claims jobs for that session and delivers them. Wake-ups come from the `Wakeups` bus, so a
 * committed job reaches a waiting agent without any polling. Claims for one session never
 * overlap; a wake-up during a claim triggers one more round after it.
 */
export function createDispatcher(deps: { claim: (serverId: string, roles: string[], limit: number, jobTypes: readonly string[]) => Promise<ClaimedJob[]>; wakeups: Wakeups; log: Logger }) {
  const byNode = new Map<string, SessionState>();
  const byRole = new Map<string, Set<SessionState>>();

  async function pump(state: SessionState): Promise<void> {
    if (state.claiming) {
      state.again = true;
      return;
    }
    state.claiming = true;
    try {
      do {
        state.again = false;
        const { session } = state;
        const wanted = Math.min(session.credits, MAX_CLAIM_BATCH);
        if (wanted <= 0 || byNode.get(session.nodeId) !== state) break;
        const jobs = await deps.claim(session.nodeId, session.roles, wanted, session.jobTypes);
        if (jobs.length > 0) {
          session.credits -= jobs.length;
          session.deliver(jobs);
        }
        if (jobs.length === wanted) state.again = true;
      } while (state.again);
    } catch (error) {
      deps.log.error({ err: error, nodeId: state.session.nodeId }, "claim failed");
    } finally {
      state.claiming = false;
    }
  }

  function onJob(target: JobTarget): void {
    if (target.serverId) {
      const state = byNode.get(target.serverId);
      if (state) void pump(state);
      return;
    }
    if (!target.role) return;
    // Wake one session with free slots; the others are woken by later jobs or their next Pull.
    for (const state of byRole.get(target.role) ?? []) {
      if (state.session.credits > 0 && !state.claiming) {
        void pump(state);
        return;
      }
    }
  }

  const unsubscribe = deps.wakeups.subscribe(onJob);

  return {
    /** Registers a session; a previous session of the same node is replaced. */
    add(session: AgentSession): void {
      const state: SessionState = { session, claiming: false, again: false };
      this.remove(session.nodeId);
      byNode.set(session.nodeId, state);
      for (const role of session.roles) {
        let set = byRole.get(role);
        if (!set) byRole.set(role, (set = new Set()));
        set.add(state);
      }
    },

    /** Unregisters the node's session (if it is `session`, or any when omitted). */
    remove(nodeId: string, session?: AgentSession): void {
      const state = byNode.get(nodeId);
      if (!state || (session && state.session !== session)) return;
      byNode.delete(nodeId);
      for (const role of state.session.roles) byRole.get(role)?.delete(state);
    },

    /** The agent granted `credits` more slots: claim for it now. */
    grant(session: AgentSession, credits: number): void {
      session.credits += credits;
      const state = byNode.get(session.nodeId);
      if (state?.session === session) void pump(state);
    },

    /** Cuts the node's stream, if connected here (used when a node is revoked). */
    disconnect(nodeId: string): void {
      const state = byNode.get(nodeId);
      if (!state) return;
      this.remove(nodeId);
      state.session.close();
    },

    /** Claims for every session with credits (after a gap in which wake-ups may have been lost). */
    wakeAll(): void {
      for (const state of byNode.values()) if (state.session.credits > 0) void pump(state);
    },

    /** Number of connected sessions. */
    size(): number {
      return byNode.size;
    },

    /** Is this node connected to this process? */
    isConnected(nodeId: string): boolean {
      return byNode.has(nodeId);
    },

    close(): void {
      unsubscribe();
      byNode.clear();
      byRole.clear();
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
