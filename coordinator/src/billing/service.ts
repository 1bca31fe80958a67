import type { Logger } from "pino";
import { z } from "zod";
import { checkPermission, tenantWhere, type Actor } from "../auth/rbac";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import type { HostingService } from "../hosting/service";
import { pageArgs, paged, PageQuery } from "../http/pagination";
import { withJobs } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { createCatalogue } from "./catalogue";
import { startCheckout, type CheckoutInput } from "./checkout";
import { parseDunningSchedule, runDunning } from "./dunning";
import { createMailer } from "./email";
import { createPaymentLink, refundInvoice, type RefundInput } from "./invoice-payments";
import { applyPayment } from "./invoices";
import { Currency, MinorUnits } from "./money";
import { createNotices } from "./notices";
import { createStripe, type StripeSettings } from "./payments";
import { renderInvoicePdf } from "./pdf";
import type { Clock } from "./periods";
import { runRenewals } from "./renewals";
import { createSubscriptions, PlanChangeInput, restoreIfSettled } from "./subscriptions";
import { createWebhookHandler } from "./webhooks";

/** Body of `POST /api/admin/billing/invoices/:id/payments`: a bank transfer received, recorded by an admin. */
export const ManualPaymentInput = z.strictObject({
  amountMinor: MinorUnits.min(1),
  currency: Currency,
  reference: z.string().trim().min(1).max(200),
});

/** Query of `GET /api/admin/billing/invoices`: a page, optionally one tenant's, optionally of one status. */
export const InvoiceListQuery = PageQuery.extend({
  tenantId: z.uuid().optional(),
  status: z.enum(["open", "paid", "issued", "void"]).optional(),
});

/** Billing settings from the coordinator's configuration. */
export interface BillingSettings {
  stripe: StripeSettings;
  smtpUrl: string | undefined;
  mailFrom: string;
  publicUrl: string;
  seller: string;
  sellerCountry: string;
  dueDays: number;
  dunningSchedule: string;
}

/**
 * Billing (issue 4): catalogue, Stripe checkout and webhooks, subscriptions with proration,
 * invoices, manual payments, the renewal and dunning runs, and their emails. Every time
 * comes from `clock` (tests move it); the runs also take an explicit `now`.
 */
export function createBillingService(deps: { db: Database; wakeups: Wakeups; hosting: HostingService; log: Logger; clock: Clock; settings: BillingSettings }) {
  const { db, clock, settings } = deps;
  const { prisma } = db;
  const stripe = createStripe(settings.stripe);
  const mailer = createMailer({ smtpUrl: settings.smtpUrl, from: settings.mailFrom, log: deps.log });
  const notices = createNotices({ db, mailer, publicUrl: settings.publicUrl, seller: settings.seller });
  const subscriptions = createSubscriptions({ db, sellerCountry: settings.sellerCountry, dueDays: settings.dueDays });
  const webhooks = createWebhookHandler({ db, wakeups: deps.wakeups, stripe, webhookSecret: settings.stripe.webhookSecret, hosting: deps.hosting, clock, log: deps.log });
  const schedule = parseDunningSchedule(settings.dunningSchedule);

  async function findInvoice(actor: Actor, id: string) {
    const invoice = await prisma.billingInvoice.findFirst({ where: { id, ...tenantWhere(actor, "billing:read") }, include: { lines: { orderBy: { position: "asc" } }, payments: true } });
    if (!invoice) throw new AppError("not_found", "invoice not found");
    return invoice;
  }

  /** A payment link for a renewal invoice's email, or null when Stripe is not configured, nothing is owed or Stripe fails (the email goes out without it). */
  async function renewalPayLink(invoiceId: string): Promise<string | null> {
    const invoice = await prisma.billingInvoice.findUniqueOrThrow({ where: { id: invoiceId } });
    if (!stripe || invoice.status !== "open") return null;
    try {
      return (await createPaymentLink({ db, stripe, publicUrl: settings.publicUrl }, invoiceId, clock.now(), null, null)).paymentUrl;
    } catch (error) {
      deps.log.error({ err: error, invoiceId }, "could not create the payment link of a renewal invoice");
      return null;
    }
  }

  /** The renewal run at `now` (default: the clock); invoices it issues are emailed. */
  async function renewals(now: Date = clock.now()) {
    const report = await runRenewals({ db, wakeups: deps.wakeups, hosting: deps.hosting, sellerCountry: settings.sellerCountry, dueDays: settings.dueDays }, now);
    for (const invoiceId of report.invoiceIds) await notices.invoice(invoiceId, await renewalPayLink(invoiceId));
    return report;
  }

  /** The dunning run at `now` (default: the clock); each step's email is sent. */
  async function dunning(now: Date = clock.now()) {
    const events = await runDunning({ db, wakeups: deps.wakeups, hosting: deps.hosting, schedule }, now);
    for (const event of events ?? []) await notices.dunning(event);
    return { skipped: events === null, steps: events ?? [] };
  }

  return {
    catalogue: createCatalogue({ db }),

    /** `POST /api/public/checkout/session`: see `startCheckout`. */
    checkout: (input: CheckoutInput, requestId: string) => startCheckout({ db, stripe, publicUrl: settings.publicUrl, sellerCountry: settings.sellerCountry }, input, clock.now(), requestId),

    /** A Stripe webhook delivery (raw body + signature header); the welcome email goes out after a fulfilment commits. */
    async webhook(rawBody: Buffer, signature: string | undefined, requestId: string) {
      const result = await webhooks.handle(rawBody, signature, requestId);
      if (result.fulfilled) await notices.welcome(result.fulfilled);
      if (result.invoicePaid) await notices.receipt(result.invoicePaid);
      return { eventId: result.eventId, type: result.type, duplicate: result.duplicate, subscriptionId: result.fulfilled?.subscriptionId ?? null };
    },

    listSubscriptions: subscriptions.list,
    getSubscription: subscriptions.get,
    cancelSubscription: (actor: Actor, id: string, requestId: string) => subscriptions.cancel(actor, id, clock.now(), requestId),
    reactivateSubscription: subscriptions.reactivate,

    /** Prorated plan change (see `Subscriptions.changePlan`); the document is emailed after COMMIT. */
    async changePlan(actor: Actor, id: string, input: z.output<typeof PlanChangeInput>, requestId: string) {
      const result = await prisma.$transaction((tx) => subscriptions.changePlan(tx, actor, id, input, clock.now(), requestId));
      if (result.document) await notices.invoice(result.document.id);
      return result;
    },

    async listInvoices(actor: Actor, q: z.output<typeof InvoiceListQuery>) {
      const where = { ...tenantWhere(actor, "billing:read"), ...(q.tenantId ? { AND: [{ tenantId: q.tenantId }] } : {}), ...(q.status ? { status: q.status } : {}) };
      const [rows, total] = await Promise.all([prisma.billingInvoice.findMany({ where, orderBy: [{ series: "asc" }, { sequence: "desc" }], ...pageArgs(q) }), prisma.billingInvoice.count({ where })]);
      return paged(rows, total, q);
    },

    getInvoice: findInvoice,

    /** The invoice as a PDF (pdfkit). */
    async invoicePdf(actor: Actor, id: string): Promise<{ number: string; pdf: Buffer }> {
      const invoice = await findInvoice(actor, id);
      return { number: invoice.number, pdf: await renderInvoicePdf(invoice, settings.seller) };
    },

    /**
     * Records a bank transfer against an invoice (`billing:manage`, platform staff). When it
     * settles the last overdue invoice of a subscription, the subscription is restored and its
     * CloudPod unsuspended in the same transaction; a receipt is emailed after COMMIT.
     */
    async recordPayment(actor: Actor, id: string, input: z.output<typeof ManualPaymentInput>, requestId: string) {
      await findInvoice(actor, id);
      checkPermission(actor, "billing:manage");
      const now = clock.now();
      const result = await withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const paid = await applyPayment(tx, id, { method: "bank_transfer", amountMinor: input.amountMinor, currency: input.currency, reference: input.reference, recordedBy: actor.userId, at: now, requestId });
        const restored = paid.paid && paid.subscriptionId ? await restoreIfSettled(tx, enqueue, deps.hosting, paid.subscriptionId, now, requestId) : false;
        return { paid: paid.paid, restored };
      });
      if (result.paid) await notices.receipt(id);
      return { invoice: await findInvoice(actor, id), restored: result.restored };
    },

    /** `POST /api/admin/billing/invoices/:id/pay`: a hosted payment link for an open invoice of a tenant the actor may pay for (`billing:subscribe`); see `createPaymentLink`. */
    async payInvoice(actor: Actor, id: string, requestId: string): Promise<{ paymentUrl: string }> {
      const invoice = await findInvoice(actor, id);
      checkPermission(actor, "billing:subscribe", invoice.tenantId);
      const { paymentUrl } = await createPaymentLink({ db, stripe, publicUrl: settings.publicUrl }, id, clock.now(), actor.userId, requestId);
      return { paymentUrl };
    },

    /** `POST /api/admin/billing/invoices/:id/refund` (`billing:manage`): see `refundInvoice`; returns the credit note and the refunds. */
    async refundInvoice(actor: Actor, id: string, input: z.output<typeof RefundInput>, requestId: string) {
      await findInvoice(actor, id);
      checkPermission(actor, "billing:manage");
      return prisma.$transaction((tx) => refundInvoice(tx, { stripe }, actor, id, input, clock.now(), requestId), { timeout: 60_000 });
    },

    runRenewals: renewals,
    runDunning: dunning,

    /** Operator-triggered runs at the clock's now (`billing:manage`). */
    async runNow(actor: Actor, run: "renewals" | "dunning") {
      checkPermission(actor, "billing:manage");
      return run === "renewals" ? renewals() : dunning();
    },

    close: () => mailer.close(),
  };
}

/** The billing service. */
export type BillingService = ReturnType<typeof createBillingService>;
