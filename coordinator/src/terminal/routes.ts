import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { AppError } from "../errors";
import { actorOf, sessionToken } from "../http/auth-hook";
import type { TerminalService, TerminalSocket } from "./service";

const IdParams = z.object({ id: z.uuid() });

/**
 * `GET /api/admin/cloudpods/:id/terminal`: the web terminal's WebSocket (see
 * `createTerminalService`). Authenticated like every API route (session cookie checked before
 * the upgrade; SameSite=strict and the refusal of a foreign `Origin` keep other sites out).
 * A plain GET answers 404 for a CloudPod the caller may not open, else 400 (upgrade needed).
 * Needs the WebSocket plugin registered first (`registerPanel`).
 */
export function registerTerminalRoutes(app: FastifyInstance, terminal: TerminalService): void {
  const closeRefused = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (reply.statusCode >= 400) request.raw.socket.destroySoon();
  };
  app.route({
    method: "GET",
    url: "/api/admin/cloudpods/:id/terminal",
    schema: { tags: ["files"], hide: true },
    onResponse: closeRefused,
    handler: async (request: FastifyRequest) => {
      const { id } = IdParams.parse(request.params);
      await terminal.podFor(actorOf(request), id);
      throw new AppError("validation", "open the terminal as a WebSocket", [{ field: "upgrade", message: "must be websocket" }]);
    },
    wsHandler: (raw: unknown, request: FastifyRequest) => {
      const socket = raw as TerminalSocket;
      const origin = request.headers.origin;
      const params = IdParams.safeParse(request.params);
      const token = sessionToken(request);
      if ((origin !== undefined && new URL(origin).host !== request.headers.host) || !params.success || !token) {
        socket.close(1008, "origin not allowed");
        return;
      }
      void terminal.attach(socket, actorOf(request), token.token, params.data.id, request.id);
    },
  });
}
