import { existsSync, readdirSync } from "node:fs";
import fastifyStatic from "@fastify/static";
import websocket from "@fastify/websocket";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { checkPermission } from "../auth/rbac";
import { actorOf } from "../http/auth-hook";
import type { EnrollmentInfo, LiveEvent } from "./contract";
import type { LiveHub } from "./live";

/** Where `npm run build -w panel` writes the panel (`panel/dist`, beside the coordinator workspace). */
export const PANEL_DIST = new URL("../../../panel/dist", import.meta.url).pathname;

/** What the panel's pages may load: only this origin (scripts, styles, the live socket); no framing. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'", "img-src 'self' data:", "style-src 'self'", "script-src 'self'", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join("; ");

/** A socket buffering more than this (bytes) is too slow to follow; it is closed and the panel reconnects. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const PING_INTERVAL_MS = 30_000;

/** The part of a `ws` WebSocket the live route uses. */
interface LiveSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  ping(): void;
  close(code?: number, reason?: string): void;
  on(event: "close", listener: () => void): void;
}

const OPEN = 1;

/**
 * The panel's routes:
 * - `GET /api/admin/enrollment`: `{ data: EnrollmentInfo }` for the "add a server" command
 *   (needs `servers:manage`).
 * - `GET /api/live`: one WebSocket per browser tab, authenticated like any API route (the
 *   session cookie, checked by the auth hook before the upgrade; SameSite=strict keeps other
 *   sites' pages from opening it, and a foreign `Origin` is refused). It sends
 *   `{ type: "hello", userId }` and then `{ type: "event", event }` for every `LiveEvent` the
 *   user may see (tenant scoping in `visibleTo`). Client messages are ignored.
 * - `GET /*`: the built panel. Hashed files under `/assets/` are immutable for a year; other
 *   files and every client route (the SPA fallback serves `index.html`) are `no-cache`.
 *   Unknown `/api/...` paths stay JSON 404s.
 */
export async function registerPanel(app: FastifyInstance, deps: { live: LiveHub; enrollment: EnrollmentInfo; dist?: string }): Promise<void> {
  const dist = deps.dist ?? PANEL_DIST;
  if (!existsSync(dist)) app.log.warn({ dist }, "panel is not built (npm run build -w panel); / answers 404");
  await app.register(websocket, { options: { maxPayload: 4096 } });
  await app.register(fastifyStatic, { root: dist, serve: false });

  app.get("/api/admin/enrollment", { schema: { tags: ["servers"] } }, async (request) => {
    checkPermission(actorOf(request), "servers:manage");
    return { data: deps.enrollment };
  });

  // An upgrade refused before the handler (401 from the auth hook) is answered on a socket that
  // @fastify/websocket took out of the HTTP server's bookkeeping: close it once the answer is out,
  // or it stays open (and keeps `close()` waiting).
  const closeRefused = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (reply.statusCode >= 400) request.raw.socket.destroySoon();
  };
  app.get("/api/live", { websocket: true, schema: { hide: true }, onResponse: closeRefused }, (raw: unknown, request: FastifyRequest) => {
    const socket = raw as LiveSocket;
    const origin = request.headers.origin;
    if (origin !== undefined && new URL(origin).host !== request.headers.host) {
      socket.close(1008, "origin not allowed");
      return;
    }
    const actor = actorOf(request);
    const send = (message: { type: "hello"; userId: string } | { type: "event"; event: LiveEvent }): void => {
      if (socket.readyState !== OPEN) return;
      if (socket.bufferedAmount > MAX_BUFFERED_BYTES) return socket.close(1013, "too slow");
      socket.send(JSON.stringify(message));
    };
    const unsubscribe = deps.live.subscribe({ actor, send: (event) => send({ type: "event", event }) });
    const ping = setInterval(() => socket.readyState === OPEN && socket.ping(), PING_INTERVAL_MS);
    socket.on("close", () => {
      clearInterval(ping);
      unsubscribe();
    });
    send({ type: "hello", userId: actor.userId });
  });

  const rootFiles = new Set(existsSync(dist) ? readdirSync(dist, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name) : []);
  app.get("/*", { config: { public: true }, schema: { hide: true } }, async (request: FastifyRequest<{ Params: { "*": string } }>, reply: FastifyReply) => {
    const path = request.params["*"];
    if (path === "api" || path.startsWith("api/")) return reply.callNotFound();
    reply.header("x-content-type-options", "nosniff");
    if (path.startsWith("assets/")) return reply.sendFile(path, { maxAge: 31_536_000_000, immutable: true });
    reply.header("cache-control", "no-cache");
    if (rootFiles.has(path) && path !== "index.html") return reply.sendFile(path, { cacheControl: false });
    reply.header("content-security-policy", CONTENT_SECURITY_POLICY).header("referrer-policy", "same-origin");
    return reply.sendFile("index.html", { cacheControl: false });
  });
}
