import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { MetricsQuery, type MetricsService } from "./service";

const IdParams = z.object({ id: z.uuid() });

/**
 * Node metrics routes:
 * - `GET /api/admin/servers/:id/metrics?from&to&step` and `GET /api/admin/servers/:id/health`
 *   (`servers:read`).
 * - `GET /metrics`: the Prometheus scrape, outside the session auth (Prometheus has none) but
 *   behind its own bearer token (`MPANEL_METRICS_TOKEN`; 404 while unset).
 * Every answered request is also timed into `mpanel_http_request_duration_seconds`.
 */
export function registerMetricsRoutes(root: FastifyInstance, s: MetricsService): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  root.addHook("onResponse", async (request, reply) => {
    s.observeRequest(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get("/api/admin/servers/:id/metrics", { schema: { params: IdParams, querystring: MetricsQuery, tags: ["servers"] } }, async (req) =>
    ({ data: await s.series(actorOf(req), req.params.id, req.query) }));
  app.get("/api/admin/servers/:id/health", { schema: { params: IdParams, tags: ["servers"] } }, async (req) =>
    ({ data: await s.health(actorOf(req), req.params.id) }));
  app.get("/metrics", { config: { public: true }, schema: { hide: true } }, async (req, reply) => {
    const { contentType, body } = await s.scrape(req.headers.authorization);
    return reply.header("content-type", contentType).send(body);
  });
}
