import { audit } from "../audit";
import type { Database } from "../db/client";
import type { HostingService } from "../hosting/service";
import { withJobs } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { SYSTEM_ACTOR } from "./fulfilment";
import { applyAccountCredit, issueDocument } from "./invoices";
import type { Interval } from "./money";
import { addDays, addInterval } from "./periods";
import { RUN_LOCKS, withRunLock } from "./runs";
import { periodLines } from "./subscriptions";
import { loadTaxRule } from "./tax";

/** What one renewal run did: the invoices it issued and the subscriptions it ended; `skipped` when another run held the lock. */
export interface RenewalReport {
  skipped: boolean;
  invoiceIds: string[];
  ended: string[];
}

/**
 * The renewal run at `now`, under an advisory lock (one replica at a time). Each subscription
 * whose period ended by `now` is handled in its own transaction with its row locked: one
 * cancelled at period end is ended (`canceled`, its CloudPod deleted); any other gets the
 * invoice of its next period [end, end + interval) (due `dueDays` later, paid from account
 * credit first) and moves on to that period. The period moves in the same transaction as
 * the invoice, and a unique index on (subscription, period start) backs it, so a run repeated
 * for one period makes no second invoice. A subscription behind by several periods is
 * invoiced once per period.
 */
export async function runRenewals(deps: { db: Database; wakeups: Wakeups; hosting: HostingService; sellerCountry: string; dueDays: number }, now: Date): Promise<RenewalReport> {
  const report = await withRunLock(deps.db.pool, RUN_LOCKS.renewals, async () => {
    const done: RenewalReport = { skipped: false, invoiceIds: [], ended: [] };
    for (;;) {
      const due = await deps.db.prisma.billingSubscription.findMany({
        where: { status: { in: ["active", "past_due", "suspended"] }, currentPeriodEnd: { lte: now } },
        orderBy: { currentPeriodEnd: "asc" }, take: 100, select: { id: true },
      });
      if (due.length === 0) return done;
      for (const { id } of due) {
        const requestId = `renewal:${id}`;
        await withJobs(deps.db, deps.wakeups, async (tx, enqueue) => {
          await tx.$queryRaw`SELECT id FROM billing_subscriptions WHERE id = ${id}::uuid FOR UPDATE`;
          const sub = await tx.billingSubscription.findUniqueOrThrow({ where: { id } });
          if (sub.currentPeriodEnd > now || !["active", "past_due", "suspended"].includes(sub.status)) return;
          if (sub.cancelAtPeriodEnd) {
            await tx.billingSubscription.update({ where: { id }, data: { status: "canceled" } });
            if (sub.cloudPodId) await deps.hosting.deleteCloudPodIn(tx, enqueue, SYSTEM_ACTOR, sub.cloudPodId, requestId);
            await audit(tx, { action: "SUBSCRIPTION_TERMINATED", targetType: "subscription", targetId: id, tenantId: sub.tenantId, actorUserId: SYSTEM_ACTOR.userId, requestId, data: { reason: "canceled at period end" } });
            done.ended.push(id);
            return;
          }
          const start = sub.currentPeriodEnd;
          const end = addInterval(start, sub.interval as Interval);
          const product = await tx.billingProduct.findUniqueOrThrow({ where: { id: sub.productId } });
          const customer = await tx.billingCustomer.findUniqueOrThrow({ where: { tenantId: sub.tenantId } });
          const invoice = await issueDocument(tx, {
            tenantId: sub.tenantId, subscriptionId: id, reason: "renewal", currency: sub.currency, country: customer.country, vatId: customer.vatId,
            tax: await loadTaxRule(tx, customer, deps.sellerCountry), lines: periodLines(sub, product.name, start, end),
            issuedAt: now, dueAt: addDays(start, deps.dueDays), periodStart: start, periodEnd: end, actorUserId: SYSTEM_ACTOR.userId, requestId,
          });
          await applyAccountCredit(tx, invoice, now);
          await tx.billingSubscription.update({ where: { id }, data: { currentPeriodStart: start, currentPeriodEnd: end } });
          done.invoiceIds.push(invoice.id);
        });
      }
    }
  });
  return report ?? { skipped: true, invoiceIds: [], ended: [] };
}
