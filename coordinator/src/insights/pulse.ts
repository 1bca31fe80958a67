import { checkPermission, hasPermission, type Actor } from "../auth/rbac";
import { addOnsOf } from "../billing/subscriptions";
import type { Database } from "../db/client";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Monthly recurring revenue in one currency, in integer minor units, and how many subscriptions make it up. */
export interface Mrr {
  currency: string;
  amountMinor: number;
  subscriptions: number;
}

/**
 * MRR of active and past-due subscriptions, per currency: each subscription's plan
 * (unit x quantity) plus its add-ons; yearly amounts are summed per currency and divided by
 * 12 once (rounded half up), so rounding never compounds across subscriptions.
 */
export function monthlyRecurringRevenue(subs: ReadonlyArray<Parameters<typeof addOnsOf>[0]>): Mrr[] {
  const byCurrency = new Map<string, { monthly: number; yearly: number; subscriptions: number }>();
  for (const sub of subs) {
    const amount = sub.unitAmountMinor * sub.quantity + addOnsOf(sub).reduce((sum, a) => sum + a.unitAmountMinor * a.quantity, 0);
    const entry = byCurrency.get(sub.currency) ?? { monthly: 0, yearly: 0, subscriptions: 0 };
    if (sub.interval === "year") entry.yearly += amount;
    else entry.monthly += amount;
    entry.subscriptions += 1;
    byCurrency.set(sub.currency, entry);
  }
  return [...byCurrency].sort(([a], [b]) => a.localeCompare(b))
    .map(([currency, e]) => ({ currency, amountMinor: e.monthly + Math.round(e.yearly / 12), subscriptions: e.subscriptions }));
}

/**
 * The admin dashboard's operations pulse (module spec section 2): jobs pending (queued or
 * running), jobs failed in the last 24 h (by `finishedAt`), the average queue delay of jobs
 * started in the last 24 h (ms from runnable, `max(createdAt, runAfter)`, to start; null when
 * none started), active users and MRR. Platform staff only (`jobs:read` on the platform,
 * else `forbidden`); `users` and `mrr` are null without platform `users:read` / `billing:read`.
 */
export function createPulse(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    async read(actor: Actor, now: Date = new Date()) {
      checkPermission(actor, "jobs:read");
      const since = new Date(now.getTime() - DAY_MS);
      const [pending, failed24h, delay, users, subs] = await Promise.all([
        prisma.job.count({ where: { status: { in: ["queued", "running"] } } }),
        prisma.job.count({ where: { status: "failed", finishedAt: { gte: since } } }),
        prisma.$queryRaw<Array<{ avg_ms: number | null }>>`
          SELECT avg(extract(epoch FROM started_at - GREATEST(created_at, run_after)) * 1000)::float8 AS avg_ms
          FROM jobs WHERE started_at >= ${since}`,
        hasPermission(actor, "users:read") ? prisma.user.count({ where: { status: "active" } }) : null,
        hasPermission(actor, "billing:read") ? prisma.billingSubscription.findMany({ where: { status: { in: ["active", "past_due"] } } }) : null,
      ]);
      const avg = delay[0]?.avg_ms;
      return {
        jobs: { pending, failed24h, avgQueueDelayMs: avg === null || avg === undefined ? null : Math.round(avg) },
        users,
        mrr: subs ? monthlyRecurringRevenue(subs) : null,
      };
    },
  };
}

/** The dashboard pulse. */
export type Pulse = ReturnType<typeof createPulse>;
