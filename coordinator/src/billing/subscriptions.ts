import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, tenantWhere, type Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import type { Enqueue } from "../jobs/enqueue";
import type { HostingService } from "../hosting/service";
import { resolvePrice } from "./catalogue";
import type { BoughtAddOn } from "./checkout";
import { SYSTEM_ACTOR } from "./fulfilment";
import { applyAccountCredit, issueDocument, type DraftLine, type IssuedDocument } from "./invoices";
import { addDays } from "./periods";
import { prorate } from "./proration";
import { loadTaxRule } from "./tax";

/** Body of `POST /api/admin/billing/subscriptions/:id/change`: the new plan and/or quantity, prorated from now. */
export const PlanChangeInput = z.strictObject({
  planCode: z.string().min(1).max(63),
  quantity: z.number().int().min(1).max(1000).optional(),
});

/** Query of `GET /api/admin/billing/subscriptions`: a page, optionally one tenant's, optionally of one status. */
export const SubscriptionListQuery = PageQuery.extend({
  tenantId: z.uuid().optional(),
  status: z.enum(["active", "past_due", "suspended", "canceled", "terminated"]).optional(),
});

/** A subscription row as the billing code reads it. */
export type SubscriptionRow = NonNullable<Awaited<ReturnType<Tx["billingSubscription"]["findUnique"]>>>;

/** The add-ons stored on a subscription. */
export function addOnsOf(sub: SubscriptionRow): BoughtAddOn[] {
  return sub.addOns as unknown as BoughtAddOn[];
}

/** Invoice lines of one period of `sub`: the plan (x quantity) and each add-on, all for [start, end). */
export function periodLines(sub: SubscriptionRow, planName: string, start: Date, end: Date): DraftLine[] {
  return [
    { description: planName, quantity: sub.quantity, unitAmountMinor: sub.unitAmountMinor, periodStart: start, periodEnd: end },
    ...addOnsOf(sub).map((a) => ({ description: a.name, quantity: a.quantity, unitAmountMinor: a.unitAmountMinor, periodStart: start, periodEnd: end })),
  ];
}

/**
 * Returns a past-due or suspended subscription to `active` once none of its invoices is open
 * and overdue any more, unsuspending its CloudPod (SUSPEND_CLOUDPOD with suspended=false) in
 * the caller's transaction. A terminated or canceled subscription stays as it is.
 */
export async function restoreIfSettled(tx: Tx, enqueue: Enqueue, hosting: HostingService, subscriptionId: string, now: Date, requestId: string): Promise<boolean> {
  const sub = await tx.billingSubscription.findUnique({ where: { id: subscriptionId } });
  if (!sub || (sub.status !== "past_due" && sub.status !== "suspended")) return false;
  const overdue = await tx.billingInvoice.count({ where: { subscriptionId, kind: "invoice", status: "open", dueAt: { lt: now } } });
  if (overdue > 0) return false;
  if (sub.status === "suspended" && sub.cloudPodId) await hosting.setSuspendedIn(tx, enqueue, SYSTEM_ACTOR, sub.cloudPodId, false, requestId);
  await tx.billingSubscription.update({ where: { id: subscriptionId }, data: { status: "active" } });
  await audit(tx, { action: "SUBSCRIPTION_RESTORED", targetType: "subscription", targetId: subscriptionId, tenantId: sub.tenantId, actorUserId: SYSTEM_ACTOR.userId, requestId, data: { from: sub.status } });
  return true;
}

/** Subscriptions of tenants: list, read, plan changes with proration, cancel at period end, reactivate. */
export function createSubscriptions(deps: { db: Database; sellerCountry: string; dueDays: number }) {
  const { prisma } = deps.db;

  async function find(actor: Actor, id: string, tx: Tx | Database["prisma"] = prisma) {
    const sub = await tx.billingSubscription.findFirst({ where: { id, ...tenantWhere(actor, "billing:read") } });
    if (!sub) throw new AppError("not_found", "subscription not found");
    return sub;
  }

  return {
    async list(actor: Actor, q: z.output<typeof SubscriptionListQuery>) {
      const where = { ...tenantWhere(actor, "billing:read"), ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}), ...(q.status ? { status: q.status } : {}) };
      const [rows, total] = await Promise.all([prisma.billingSubscription.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.billingSubscription.count({ where })]);
      return paged(rows, total, q);
    },

    get: (actor: Actor, id: string) => find(actor, id),

    /**
     * Changes the plan (and quantity) of an active subscription at `now`, prorated (see
     * `prorate`): credit for the unused time of the old plan, charge for the rest of the period
     * at the new one, on one document. A positive difference is an invoice (paid from account
     * credit first, else due in `dueDays`), a negative one a credit note added to the
     * account's credit. Returns the subscription and the document (null when they cancel out).
     */
    async changePlan(tx: Tx, actor: Actor, id: string, input: z.output<typeof PlanChangeInput>, now: Date, requestId: string): Promise<{ subscription: SubscriptionRow; document: IssuedDocument | null }> {
      const sub = await find(actor, id, tx);
      checkPermission(actor, "billing:subscribe", sub.tenantId);
      await tx.$queryRaw`SELECT id FROM billing_subscriptions WHERE id = ${id}::uuid FOR UPDATE`;
      if (sub.status !== "active") throw new AppError("conflict", `the subscription is ${sub.status}`);
      const next = await resolvePrice(tx, { code: input.planCode, type: "hosting", interval: sub.interval, currency: sub.currency, field: "planCode", intervalField: "planCode", currencyField: "planCode" });
      const old = await tx.billingProduct.findUniqueOrThrow({ where: { id: sub.productId } });
      const quantity = input.quantity ?? sub.quantity;
      const p = prorate(sub.unitAmountMinor * sub.quantity, next.price.amountMinor * quantity, sub.currentPeriodStart, sub.currentPeriodEnd, now);
      let document: IssuedDocument | null = null;
      if (p.netMinor !== 0) {
        const customer = await tx.billingCustomer.findUniqueOrThrow({ where: { tenantId: sub.tenantId } });
        const period = { periodStart: now, periodEnd: sub.currentPeriodEnd };
        document = await issueDocument(tx, {
          tenantId: sub.tenantId, subscriptionId: id, reason: "proration", currency: sub.currency, country: customer.country, vatId: customer.vatId,
          tax: await loadTaxRule(tx, customer, deps.sellerCountry), issuedAt: now, dueAt: addDays(now, deps.dueDays), ...period, actorUserId: actor.userId, requestId,
          lines: [
            { description: `Unused time on ${old.name} x ${sub.quantity}`, quantity: 1, unitAmountMinor: -p.creditMinor, ...period },
            { description: `Remaining time on ${next.product.name} x ${quantity}`, quantity: 1, unitAmountMinor: p.chargeMinor, ...period },
          ],
        });
        if (document.kind === "credit_note") await tx.billingCustomer.update({ where: { tenantId: sub.tenantId }, data: { creditMinor: { increment: document.totalMinor } } });
        else await applyAccountCredit(tx, document, now);
      }
      const subscription = await tx.billingSubscription.update({ where: { id }, data: { productId: next.product.id, priceId: next.price.id, unitAmountMinor: next.price.amountMinor, quantity } });
      await audit(tx, {
        action: "SUBSCRIPTION_UPDATED", targetType: "subscription", targetId: id, tenantId: sub.tenantId, actorUserId: actor.userId, requestId,
        data: { from: old.code, to: next.product.code, quantity, creditMinor: p.creditMinor, chargeMinor: p.chargeMinor, document: document?.number ?? null },
      });
      return { subscription, document };
    },

    /** Cancels at the end of the current period (the renewal run ends it then); idempotent. */
    async cancel(actor: Actor, id: string, now: Date, requestId: string) {
      return prisma.$transaction(async (tx) => {
        const sub = await find(actor, id, tx);
        checkPermission(actor, "billing:subscribe", sub.tenantId);
        if (sub.status === "canceled" || sub.status === "terminated") throw new AppError("conflict", `the subscription is ${sub.status}`);
        const updated = await tx.billingSubscription.update({ where: { id }, data: { cancelAtPeriodEnd: true, canceledAt: now } });
        await audit(tx, { action: "SUBSCRIPTION_CANCELLED", targetType: "subscription", targetId: id, tenantId: sub.tenantId, actorUserId: actor.userId, requestId, data: { endsAt: sub.currentPeriodEnd.toISOString() } });
        return updated;
      });
    },

    /** Undoes a cancellation before the period ends; 409 when the subscription has already ended. */
    async reactivate(actor: Actor, id: string, requestId: string) {
      return prisma.$transaction(async (tx) => {
        const sub = await find(actor, id, tx);
        checkPermission(actor, "billing:subscribe", sub.tenantId);
        if (sub.status === "canceled" || sub.status === "terminated") throw new AppError("conflict", `the subscription is ${sub.status}`);
        const updated = await tx.billingSubscription.update({ where: { id }, data: { cancelAtPeriodEnd: false, canceledAt: null } });
        await audit(tx, { action: "SUBSCRIPTION_REACTIVATED", targetType: "subscription", targetId: id, tenantId: sub.tenantId, actorUserId: actor.userId, requestId });
        return updated;
      });
    },
  };
}

/** The subscriptions service. */
export type Subscriptions = ReturnType<typeof createSubscriptions>;
