import { z } from "zod";
import { checkPermission, type Actor } from "../auth/rbac";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { checkScrapeToken, type PrometheusExport } from "./prometheus";
import type { MetricsStore } from "./store";

/** Most points one series request may return. */
const MAX_POINTS = 10_000;

/** `?from&to&step` of `GET /api/admin/servers/:id/metrics`: ISO 8601 instants (default the last hour up to now) and the bucket in seconds (default: about 300 points). */
export const MetricsQuery = z.object({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  step: z.coerce.number().int().min(1).max(86_400).optional(),
});

/** Node metrics and daemon health for platform staff, and the Prometheus scrape. */
export function createMetricsService(deps: { db: Database; store: MetricsStore; prometheus: PrometheusExport; scrapeToken?: string }) {
  const requireServer = async (id: string): Promise<void> => {
    const found = await deps.db.prisma.server.findUnique({ where: { id }, select: { id: true } });
    if (!found) throw new AppError("not_found", "server not found");
  };
  return {
    /**
     * The node's series between `from` and `to` in `step`-second buckets (see
     * MetricsStore.series). Throws `validation` (field `to`) when `to` is not after `from`, and
     * (field `step`) when the range would give more than 10,000 points.
     */
    async series(actor: Actor, id: string, q: z.output<typeof MetricsQuery>) {
      checkPermission(actor, "servers:read");
      const to = q.to ? new Date(q.to) : new Date();
      const from = q.from ? new Date(q.from) : new Date(to.getTime() - 3600_000);
      if (to <= from) throw new AppError("validation", "to must be after from", [{ field: "to", message: "must be after from" }]);
      const spanSeconds = (to.getTime() - from.getTime()) / 1000;
      const step = q.step ?? Math.max(1, Math.ceil(spanSeconds / 300));
      if (spanSeconds / step > MAX_POINTS) throw new AppError("validation", `step too small for the range: at most ${MAX_POINTS} points`, [{ field: "step", message: `must be at least ${Math.ceil(spanSeconds / MAX_POINTS)}` }]);
      await requireServer(id);
      return { from: from.toISOString(), to: to.toISOString(), step, points: await deps.store.series(id, from, to, step) };
    },

    /** Every daemon of the node with its last reported state. */
    async health(actor: Actor, id: string) {
      checkPermission(actor, "servers:read");
      await requireServer(id);
      return deps.store.health(id);
    },

    /** The Prometheus exposition for a scrape carrying `authorization` (see checkScrapeToken for the errors). */
    async scrape(authorization: string | undefined) {
      checkScrapeToken(deps.scrapeToken, authorization);
      return deps.prometheus.scrape();
    },

    /** Counts one answered HTTP request in the latency histogram. */
    observeRequest: deps.prometheus.observeRequest,
  };
}

export type MetricsService = ReturnType<typeof createMetricsService>;
