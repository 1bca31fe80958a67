import type { Database } from "../db/client";
import { formatMoney, type Mailer } from "./email";
import type { Fulfilment } from "./fulfilment";
import type { DunningEvent } from "./dunning";
import { renderInvoicePdf } from "./pdf";

/**
 * The billing emails, composed from the database after the change they report committed:
 * welcome (with the activation link of a new account), invoice (PDF attached), receipt,
 * reminder and suspension notices. Each goes to the tenant's billing email.
 */
export function createNotices(deps: { db: Database; mailer: Mailer; publicUrl: string; seller: string }) {
  const { prisma } = deps.db;

  async function loadInvoice(id: string) {
    const invoice = await prisma.billingInvoice.findUniqueOrThrow({ where: { id }, include: { lines: { orderBy: { position: "asc" } } } });
    const customer = await prisma.billingCustomer.findUnique({ where: { tenantId: invoice.tenantId } });
    const pdf = await renderInvoicePdf(invoice, deps.seller);
    return { invoice, to: customer?.email ?? null, attachments: [{ filename: `${invoice.number}.pdf`, content: pdf, contentType: "application/pdf" }] };
  }

  return {
    /** Welcome / activate account (spec section 1), with the first invoice attached. */
    async welcome(f: Fulfilment): Promise<void> {
      const { invoice, attachments } = await loadInvoice(f.invoiceId);
      const login = new URL("/login", deps.publicUrl).toString();
      const activate = f.activationToken ? new URL(`/reset-password#token=${f.activationToken}`, deps.publicUrl).toString() : null;
      const text = [
        `Welcome to ${deps.seller}!`, "",
        `Your ${f.planName} plan is paid and your hosting is being set up now.`,
        activate ? `Activate your account by choosing a password (the link works once, for 7 days):\n${activate}` : `Sign in with your existing account: ${login}`,
        "", `Your receipt: invoice ${invoice.number}, ${formatMoney(invoice.totalMinor, invoice.currency)}, paid.`,
      ].join("\n");
      await deps.mailer.send({ to: f.email, subject: `Welcome to ${deps.seller}: activate your account`, text, attachments });
    },

    /** A new invoice (renewal or proration), PDF attached, with the hosted payment link when there is one. */
    async invoice(id: string, paymentUrl: string | null = null): Promise<void> {
      const { invoice, to, attachments } = await loadInvoice(id);
      if (!to) return;
      const kind = invoice.kind === "credit_note" ? "Credit note" : "Invoice";
      const due = invoice.status === "open" ? ` is due on ${invoice.dueAt.toISOString().slice(0, 10)}` : ` is ${invoice.status}`;
      await deps.mailer.send({ to, subject: `${kind} ${invoice.number}`, text: `${kind} ${invoice.number} of ${formatMoney(invoice.totalMinor, invoice.currency)}${due}.${paymentUrl ? `\nPay it by card: ${paymentUrl}` : ""}`, attachments });
    },

    /** Receipt of a fully paid invoice. */
    async receipt(id: string): Promise<void> {
      const { invoice, to, attachments } = await loadInvoice(id);
      if (!to) return;
      await deps.mailer.send({ to, subject: `Receipt for ${invoice.number}`, text: `We received ${formatMoney(invoice.totalMinor, invoice.currency)} for invoice ${invoice.number}. Thank you.`, attachments });
    },

    /** The email of a dunning step: a payment reminder, or the notice that services are suspended or terminated. */
    async dunning(event: DunningEvent): Promise<void> {
      const invoice = await prisma.billingInvoice.findUniqueOrThrow({ where: { id: event.invoiceId } });
      const customer = await prisma.billingCustomer.findUnique({ where: { tenantId: invoice.tenantId } });
      if (!customer) return;
      const owed = formatMoney(invoice.totalMinor - invoice.paidMinor, invoice.currency);
      const subject = { reminder: `Payment reminder: invoice ${invoice.number}`, suspend: `Services suspended: invoice ${invoice.number} is unpaid`, terminate: `Services terminated: invoice ${invoice.number} is unpaid` }[event.action];
      const text = {
        reminder: `Invoice ${invoice.number} (${owed}) was due on ${invoice.dueAt.toISOString().slice(0, 10)} and is still open. Please pay it to keep your services running.`,
        suspend: `Invoice ${invoice.number} (${owed}) is still unpaid, so your websites are suspended. Mail keeps arriving. Paying the invoice restores them.`,
        terminate: `Invoice ${invoice.number} (${owed}) stayed unpaid, so your services have been terminated.`,
      }[event.action];
      await deps.mailer.send({ to: customer.email, subject, text });
    },
  };
}

/** The billing emails. */
export type Notices = ReturnType<typeof createNotices>;
