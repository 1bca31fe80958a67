import { randomUUID } from "node:crypto";
import { z } from "zod";
import { audit } from "../audit";
import { hasPermission, tenantWhere, type Actor } from "../auth/rbac";
import type { AuthService } from "../auth/service";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { NODE_NOT_CONNECTED, type NodeChannels } from "../gateway/node-channels";

/** The part of a `ws` WebSocket a terminal uses. */
export interface TerminalSocket {
  readonly readyState: number;
  send(data: Uint8Array, options: { binary: boolean }, callback: (error?: Error) => void): void;
  close(code?: number, reason?: string): void;
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "close", listener: () => void): void;
}

/** A text frame from the browser: the terminal's new size (xterm.js columns and rows). */
const ControlMessage = z.object({ type: z.literal("resize"), cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) });

/** Limits of the web terminal. */
export interface TerminalLimits {
  /** Open sessions per tenant on this replica; one more is refused (close code 1013). */
  maxPerTenant: number;
  /** The shell is closed after this long without input (ms). */
  idleTimeoutMs: number;
  /** How often the session's right to stay open is checked again (ms). */
  recheckMs: number;
}

const DEFAULT_LIMITS: TerminalLimits = { maxPerTenant: 5, idleTimeoutMs: 15 * 60_000, recheckMs: 1000 };
/** Bytes of browser input kept while the session is being set up (typed before the shell exists); more is dropped. */
const EARLY_INPUT_BYTES = 64 * 1024;
const OPEN = 1;
/** Close codes (RFC 6455 section 7.4: 4000-4999 are the application's). */
export const TERMINAL_CLOSE = { exited: 1000, tooMany: 1013, forbidden: 4403, notFound: 4404, unavailable: 4503 } as const;

/**
 * Web terminals (DESIGN section 7): relays one browser WebSocket to a shell that the CloudPod's
 * node runs as the CloudPod's user (agent/src/terminal). Binary frames carry keystrokes in and
 * output out; a text frame `{"type":"resize","cols","rows"}` resizes. Output is acknowledged to
 * the agent (`TerminalAck`, cumulative bytes) once the socket has written it, so a slow browser
 * pauses the shell. Every `recheckMs` the session's right to stay open is checked again: the
 * login session still valid and its user active, `terminal:open` still granted in the
 * CloudPod's tenant, the CloudPod not deleted or suspended, its node not revoked; else the
 * socket closes with 4403 and the shell is killed. The close is audited as `TERMINAL_SESSION`
 * (who, the CloudPod, start, duration in ms, reason).
 */
export function createTerminalService(deps: { db: Database; channels: NodeChannels; auth: Pick<AuthService, "resolve">; limits?: Partial<TerminalLimits> }) {
  const { prisma } = deps.db;
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const openPerTenant = new Map<string, number>();

  /** The CloudPod the actor may open a terminal on; throws `not_found` (other tenant, deleted) or `conflict` (suspended). */
  async function podFor(actor: Actor, id: string) {
    const pod = await prisma.cloudPod.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, "terminal:open") } });
    if (!pod) throw new AppError("not_found", "cloud pod not found");
    if (pod.status === "suspended") throw new AppError("conflict", "the CloudPod is suspended");
    return pod;
  }

  /** Why the session must close now, or null while it may stay open. */
  async function revokedBecause(token: string, requestId: string, podId: string): Promise<string | null> {
    const actor = await deps.auth.resolve(token, requestId);
    if (!actor) return "the login session ended";
    const pod = await prisma.cloudPod.findUnique({ where: { id: podId }, include: { server: { select: { status: true, revokedAt: true } } } });
    if (!pod || pod.deletedAt || pod.status === "suspended") return "the CloudPod is gone or suspended";
    if (!hasPermission(actor, "terminal:open", pod.tenantId)) return "permission terminal:open revoked";
    if (pod.server.revokedAt || pod.server.status === "revoked") return "the node was revoked";
    return null;
  }

  return {
    podFor,

    /**
     * Runs one terminal on `socket` for `actor` (authenticated by the session `token`) on
     * CloudPod `podId` until either side ends it. Refusals close the socket: 4404 (no such
     * CloudPod for this actor, or an API key), 1013 (tenant limit reached), 4503 (node not connected).
     */
    async attach(socket: TerminalSocket, actor: Actor, token: string, podId: string, requestId: string): Promise<void> {
      let closedEarly = false;
      socket.on("close", () => {
        closedEarly = true;
      });
      // Frames sent while the CloudPod is looked up are kept (up to EARLY_INPUT_BYTES) and handled once the shell is open.
      const early: Array<{ data: Buffer; isBinary: boolean }> = [];
      let earlyBytes = 0;
      let onMessage: ((data: Buffer, isBinary: boolean) => void) | null = null;
      socket.on("message", (data, isBinary) => {
        if (onMessage) return onMessage(data, isBinary);
        earlyBytes += data.length;
        if (earlyBytes <= EARLY_INPUT_BYTES) early.push({ data, isBinary });
      });
      let pod: Awaited<ReturnType<typeof podFor>>;
      try {
        if (actor.apiKeyId) throw new AppError("forbidden", "API keys cannot open terminals");
        pod = await podFor(actor, podId);
      } catch (error) {
        socket.close(TERMINAL_CLOSE.notFound, error instanceof AppError ? error.message : "cloud pod not found");
        return;
      }
      if (closedEarly) return;
      const tenantOpen = openPerTenant.get(pod.tenantId) ?? 0;
      if (tenantOpen >= limits.maxPerTenant) {
        socket.close(TERMINAL_CLOSE.tooMany, `at most ${limits.maxPerTenant} terminals per tenant`);
        return;
      }
      const sessionId = randomUUID();
      const startedAt = new Date();
      let delivered = 0;
      let finished = false;
      let reason = "closed by the browser";
      let recheck: NodeJS.Timeout | undefined;
      const tenantId = pod.tenantId;

      const finish = (why: string, code: number): void => {
        if (finished) return;
        finished = true;
        reason = why;
        clearInterval(recheck);
        openPerTenant.set(tenantId, (openPerTenant.get(tenantId) ?? 1) - 1);
        deps.channels.toTerminal(sessionId, { case: "terminalClose", value: { sessionId, reason: why } });
        deps.channels.dropTerminal(sessionId);
        if (socket.readyState === OPEN) socket.close(code, why.slice(0, 120));
        prisma.$transaction((tx) => audit(tx, {
          action: "TERMINAL_SESSION", targetType: "cloud_pod", targetId: pod.id, tenantId, actorUserId: actor.userId, requestId,
          data: { systemUser: pod.systemUser, serverId: pod.serverId, sessionId, startedAt: startedAt.toISOString(), durationMs: Date.now() - startedAt.getTime(), reason },
        })).catch(() => undefined);
      };

      openPerTenant.set(tenantId, tenantOpen + 1);
      try {
        deps.channels.openTerminal(pod.serverId, sessionId, {
          output(data) {
            if (socket.readyState !== OPEN) return;
            socket.send(data, { binary: true }, (error) => {
              if (error) return;
              delivered += data.length;
              deps.channels.toTerminal(sessionId, { case: "terminalAck", value: { sessionId, bytes: BigInt(delivered) } });
            });
          },
          exit(exit) {
            // Another replica found no holder for the node (several replicas): the same refusal as a local miss.
            if (exit.reason === NODE_NOT_CONNECTED) finish("the CloudPod's node is not connected", TERMINAL_CLOSE.unavailable);
            else finish(`shell ${exit.reason}`, TERMINAL_CLOSE.exited);
          },
        }, { case: "terminalOpen", value: { sessionId, systemUser: pod.systemUser, cols: 80, rows: 24, idleTimeoutMs: limits.idleTimeoutMs } });
      } catch {
        finish("the CloudPod's node is not connected", TERMINAL_CLOSE.unavailable);
        return;
      }
      onMessage = (data, isBinary) => {
        if (isBinary) {
          deps.channels.toTerminal(sessionId, { case: "terminalInput", value: { sessionId, data } });
          return;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(data.toString("utf8"));
        } catch {
          return;
        }
        const control = ControlMessage.safeParse(parsed);
        if (control.success) deps.channels.toTerminal(sessionId, { case: "terminalResize", value: { sessionId, cols: control.data.cols, rows: control.data.rows } });
      };
      for (const frame of early.splice(0)) onMessage(frame.data, frame.isBinary);
      socket.on("close", () => finish("closed by the browser", TERMINAL_CLOSE.exited));
      recheck = setInterval(() => {
        revokedBecause(token, requestId, pod.id).then((why) => {
          if (why) finish(why, TERMINAL_CLOSE.forbidden);
        }, () => undefined);
      }, limits.recheckMs);
      if (closedEarly) finish("closed by the browser", TERMINAL_CLOSE.exited);
    },
  };
}

export type TerminalService = ReturnType<typeof createTerminalService>;
