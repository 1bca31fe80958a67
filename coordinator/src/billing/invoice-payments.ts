import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type Stripe from "stripe";
import { z } from "zod";
import { audit } from "../audit";
import type { Actor } from "../auth/rbac";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import type { HostingService } from "../hosting/service";
import type { Enqueue } from "../jobs/enqueue";
import { applyPayment, issueDocument } from "./invoices";
import { MinorUnits } from "./money";
import { requireStripe } from "./payments";
import { restoreIfSettled } from "./subscriptions";

/** Body of `POST /api/admin/billing/invoices/:id/refund`: how much to give back (minor units of the invoice's currency) and why. */
export const RefundInput = z.strictObject({
  amountMinor: MinorUnits.min(1),
  reason: z.string().trim().min(1).max(200),
});

/**
 * Opens a hosted payment link for an open invoice: a Stripe Checkout Session in `payment` mode
 * (https://docs.stripe.com/api/checkout/sessions/create) for what is still owed
 * (`totalMinor - paidMinor`, minor units) in the invoice's currency, `metadata.invoiceId` and
 * `client_reference_id` naming the invoice, the tenant's Stripe customer when known. The link
 * is recorded (and audited) so the webhook can settle exactly this amount. 409 when the
 * invoice is not open or nothing is owed; 503 without Stripe.
 */
export async function createPaymentLink(deps: { db: Database; stripe: Stripe | null; publicUrl: string }, invoiceId: string, now: Date, actorUserId: string | null, requestId: string | null): Promise<{ paymentUrl: string; linkId: string }> {
  const { prisma } = deps.db;
  const invoice = await prisma.billingInvoice.findUniqueOrThrow({ where: { id: invoiceId } });
  const owed = invoice.totalMinor - invoice.paidMinor;
  if (invoice.kind !== "invoice" || invoice.status !== "open" || owed <= 0) throw new AppError("conflict", `invoice ${invoice.number} is ${invoice.status}, nothing to pay`);
  const stripe = requireStripe(deps.stripe);
  const customer = await prisma.billingCustomer.findUnique({ where: { tenantId: invoice.tenantId } });
  const session = await stripe.checkout.sessions.create({
    mode: "payment",
    ...(customer?.stripeCustomerId ? { customer: customer.stripeCustomerId } : customer ? { customer_email: customer.email } : {}),
    client_reference_id: invoice.id,
    metadata: { invoiceId: invoice.id },
    line_items: [{ quantity: 1, price_data: { currency: invoice.currency.toLowerCase(), unit_amount: owed, product_data: { name: `Invoice ${invoice.number}` } } }],
    success_url: new URL("/client/billing?paid={CHECKOUT_SESSION_ID}", deps.publicUrl).toString(),
    cancel_url: new URL("/client/billing", deps.publicUrl).toString(),
  });
  if (!session.url) throw new AppError("internal", "Stripe returned a session without a payment URL");
  const paymentUrl = session.url;
  const link = await prisma.$transaction(async (tx) => {
    const row = await tx.billingPaymentLink.create({ data: { invoiceId: invoice.id, stripeSessionId: session.id, url: paymentUrl, amountMinor: owed, currency: invoice.currency, createdAt: now } });
    await audit(tx, { action: "PAYMENT_LINK_CREATED", targetType: "invoice", targetId: invoice.id, tenantId: invoice.tenantId, actorUserId, requestId, data: { number: invoice.number, amountMinor: owed, currency: invoice.currency, stripeSessionId: session.id } });
    return row;
  });
  return { paymentUrl, linkId: link.id };
}

/**
 * Settles an invoice from its paid payment-link session, inside the caller's transaction
 * (which has claimed the event id). The link row is locked, so a second delivery of another
 * event for the same session finds it `paid` and does nothing. A session that is unpaid, for
 * another amount or currency, or an invoice no longer open (paid meanwhile by other means)
 * marks the link `unapplied` (logged, audited; staff refund it) instead of failing the
 * webhook. When the payment settles the last overdue invoice, the subscription is restored
 * and a suspended CloudPod unsuspended (`restoreIfSettled`). Returns the invoice id when it
 * became fully paid, else null.
 */
export async function completePaymentLink(tx: Tx, enqueue: Enqueue, deps: { hosting: HostingService; log: Logger }, session: Stripe.Checkout.Session, now: Date, requestId: string): Promise<string | null> {
  await tx.$queryRaw`SELECT id FROM billing_payment_links WHERE stripe_session_id = ${session.id} FOR UPDATE`;
  const link = await tx.billingPaymentLink.findUnique({ where: { stripeSessionId: session.id }, include: { invoice: true } });
  if (!link || link.status !== "open" || session.payment_status !== "paid") return null;
  const { invoice } = link;
  const owed = invoice.totalMinor - invoice.paidMinor;
  const paymentIntent = typeof session.payment_intent === "string" ? session.payment_intent : session.payment_intent?.id ?? session.id;
  if (session.amount_total !== link.amountMinor || session.currency?.toUpperCase() !== link.currency || invoice.status !== "open" || link.amountMinor > owed) {
    deps.log.error({ invoiceId: invoice.id, sessionId: session.id, amountTotal: session.amount_total, expected: link.amountMinor, status: invoice.status }, "payment link cannot be applied to its invoice");
    await tx.billingPaymentLink.update({ where: { id: link.id }, data: { status: "unapplied", completedAt: now } });
    await audit(tx, { action: "PAYMENT_UNAPPLIED", targetType: "invoice", targetId: invoice.id, tenantId: invoice.tenantId, requestId, data: { stripeSessionId: session.id, paymentIntent, amountMinor: session.amount_total } });
    return null;
  }
  const paid = await applyPayment(tx, invoice.id, { method: "stripe", amountMinor: link.amountMinor, currency: link.currency, reference: paymentIntent, recordedBy: null, at: now, requestId });
  await tx.billingPaymentLink.update({ where: { id: link.id }, data: { status: "paid", completedAt: now } });
  if (paid.paid && paid.subscriptionId) await restoreIfSettled(tx, enqueue, deps.hosting, paid.subscriptionId, now, requestId);
  return paid.paid ? invoice.id : null;
}

/**
 * Refunds part or all of a paid invoice (staff, `billing:manage`). The invoice row is locked;
 * 400 naming `amountMinor` when it exceeds `paidMinor - refundedMinor` (nothing written, no
 * call to Stripe). The amount is taken from the invoice's payments newest first: card
 * payments through Stripe (`POST /v1/refunds` with the payment intent, the refund id as
 * idempotency key — https://docs.stripe.com/api/refunds/create), bank transfers recorded as
 * manual refunds (the money goes back by hand), account credit returned to the account.
 * One credit note (series CN, gapless) documents the whole refund with a line per payment
 * touched, tax split out at the invoice's rate (the refunded amounts are gross), linked to
 * the invoice; everything is audited in the same transaction. Stripe is called inside the
 * transaction, so a Stripe failure writes nothing.
 */
export async function refundInvoice(tx: Tx, deps: { stripe: Stripe | null }, actor: Actor, invoiceId: string, input: z.output<typeof RefundInput>, now: Date, requestId: string) {
  await tx.$queryRaw`SELECT id FROM billing_invoices WHERE id = ${invoiceId}::uuid FOR UPDATE`;
  const invoice = await tx.billingInvoice.findUniqueOrThrow({ where: { id: invoiceId }, include: { payments: { orderBy: { createdAt: "desc" } } } });
  if (invoice.kind !== "invoice") throw new AppError("conflict", `${invoice.number} is a credit note`);
  const refundable = invoice.paidMinor - invoice.refundedMinor;
  if (input.amountMinor > refundable) throw new AppError("validation", `amountMinor: at most ${refundable} can be refunded`, [{ field: "amountMinor", message: `at most ${refundable}` }]);
  const portions: Array<{ payment: (typeof invoice.payments)[number]; amountMinor: number }> = [];
  let left = input.amountMinor;
  for (const payment of invoice.payments) {
    const take = Math.min(left, payment.amountMinor - payment.refundedMinor);
    if (take > 0) portions.push({ payment, amountMinor: take });
    left -= take;
  }
  if (left !== 0) throw new AppError("conflict", `the payments of ${invoice.number} do not cover the refund`);
  const note = await issueDocument(tx, {
    tenantId: invoice.tenantId, subscriptionId: invoice.subscriptionId, reason: "refund", currency: invoice.currency,
    lines: portions.map((p) => ({ description: `Refund of ${invoice.number} (${p.payment.method}${p.payment.reference ? ` ${p.payment.reference}` : ""}): ${input.reason}`, quantity: 1, unitAmountMinor: -p.amountMinor })),
    tax: { rateBp: invoice.taxRateBp, inclusive: true, reverseCharge: invoice.reverseCharge },
    country: invoice.country, vatId: invoice.vatId, issuedAt: now, dueAt: now, actorUserId: actor.userId, requestId,
  });
  await tx.billingInvoice.update({ where: { id: note.id }, data: { creditsInvoiceId: invoice.id } });
  const refunds = [];
  for (const { payment, amountMinor } of portions) {
    const refundId = randomUUID();
    let stripeRefundId: string | null = null;
    if (payment.method === "stripe") {
      if (!payment.reference?.startsWith("pi_")) throw new AppError("conflict", `card payment ${payment.id} has no payment intent to refund`);
      const refund = await requireStripe(deps.stripe).refunds.create(
        { payment_intent: payment.reference, amount: amountMinor, metadata: { invoiceId: invoice.id, refundId, creditNote: note.number } },
        { idempotencyKey: `refund:${refundId}` },
      );
      stripeRefundId = refund.id;
    } else if (payment.method === "credit") {
      await tx.billingCustomer.update({ where: { tenantId: invoice.tenantId }, data: { creditMinor: { increment: amountMinor } } });
    }
    await tx.billingPayment.update({ where: { id: payment.id }, data: { refundedMinor: { increment: amountMinor } } });
    refunds.push(await tx.billingRefund.create({
      data: { id: refundId, invoiceId: invoice.id, paymentId: payment.id, creditNoteId: note.id, method: payment.method, amountMinor, currency: invoice.currency, reason: input.reason, stripeRefundId, createdBy: actor.userId, createdAt: now },
    }));
  }
  await tx.billingInvoice.update({ where: { id: invoice.id }, data: { refundedMinor: { increment: input.amountMinor } } });
  await audit(tx, {
    action: "INVOICE_REFUNDED", targetType: "invoice", targetId: invoice.id, tenantId: invoice.tenantId, actorUserId: actor.userId, requestId,
    data: { number: invoice.number, amountMinor: input.amountMinor, reason: input.reason, creditNote: note.number, methods: portions.map((p) => p.payment.method) },
  });
  return { creditNote: note, refunds };
}
