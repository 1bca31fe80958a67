import { randomUUID } from "node:crypto";
import { audit } from "../audit";
import type { Tx } from "../db/client";
import { AppError } from "../errors";
import { nextNumber } from "./numbering";
import { computeTotals, type TaxRule } from "./tax";

/** A line to invoice: `quantity` x `unitAmountMinor` (may be negative, e.g. a proration credit) for an optional period. */
export interface DraftLine {
  description: string;
  quantity: number;
  unitAmountMinor: number;
  periodStart?: Date | null;
  periodEnd?: Date | null;
}

/** Why a document was issued. */
export type InvoiceReason = "checkout" | "renewal" | "proration" | "refund";

/** What `issueDocument` needs: who, the lines, tax, and the dates (from the billing clock). */
export interface IssueInput {
  tenantId: string;
  subscriptionId: string | null;
  reason: InvoiceReason;
  currency: string;
  lines: DraftLine[];
  tax: TaxRule;
  country: string;
  vatId: string | null;
  issuedAt: Date;
  dueAt: Date;
  periodStart?: Date | null;
  periodEnd?: Date | null;
  actorUserId?: string | null;
  requestId?: string | null;
}

/**
 * Issues an invoice (series INV) or, when the lines sum below zero, a credit note (series CN,
 * lines negated so its amounts read positive) inside the caller's transaction: numbered
 * gaplessly (`nextNumber`), totals from `computeTotals`, audited. A credit note is `issued`
 * (it settles nothing by itself; the caller credits the account); an invoice is `open` until
 * paid (a zero invoice is `paid` at once). Returns the row with its lines.
 */
export async function issueDocument(tx: Tx, input: IssueInput) {
  const amount = (l: DraftLine): number => {
    const value = l.quantity * l.unitAmountMinor;
    if (!Number.isSafeInteger(value)) throw new AppError("validation", "line amount overflows", [{ field: "lines", message: "amount too large" }]);
    return value;
  };
  const raw = computeTotals(input.lines.map(amount), input.tax);
  const credit = raw.subtotalMinor < 0;
  const lines = credit ? input.lines.map((l) => ({ ...l, unitAmountMinor: -l.unitAmountMinor })) : input.lines;
  const totals = credit ? computeTotals(lines.map(amount), input.tax) : raw;
  const series = credit ? "CN" : "INV";
  const { sequence, number } = await nextNumber(tx, series);
  const id = randomUUID();
  const invoice = await tx.billingInvoice.create({
    data: {
      id, tenantId: input.tenantId, subscriptionId: input.subscriptionId, kind: credit ? "credit_note" : "invoice", reason: input.reason,
      series, sequence, number, status: credit ? "issued" : totals.totalMinor === 0 ? "paid" : "open", currency: input.currency,
      ...totals, taxRateBp: input.tax.rateBp, taxInclusive: input.tax.inclusive, reverseCharge: input.tax.reverseCharge,
      country: input.country, vatId: input.vatId, periodStart: input.periodStart ?? null, periodEnd: input.periodEnd ?? null,
      issuedAt: input.issuedAt, dueAt: input.dueAt, paidAt: !credit && totals.totalMinor === 0 ? input.issuedAt : null,
      lines: {
        create: lines.map((l, position) => ({
          position, description: l.description, quantity: l.quantity, unitAmountMinor: l.unitAmountMinor, amountMinor: amount(l),
          periodStart: l.periodStart ?? null, periodEnd: l.periodEnd ?? null,
        })),
      },
    },
    include: { lines: { orderBy: { position: "asc" } } },
  });
  await audit(tx, {
    action: credit ? "CREDIT_NOTE_ISSUED" : "INVOICE_ISSUED", targetType: "invoice", targetId: id, tenantId: input.tenantId,
    actorUserId: input.actorUserId ?? null, requestId: input.requestId ?? null,
    data: { number, reason: input.reason, currency: input.currency, totalMinor: totals.totalMinor, taxMinor: totals.taxMinor },
  });
  return invoice;
}

/** An issued document with its lines, as `issueDocument` returns it. */
export type IssuedDocument = Awaited<ReturnType<typeof issueDocument>>;

/** A payment to record against an invoice, in minor units of the invoice's currency. */
export interface PaymentInput {
  method: "stripe" | "bank_transfer" | "credit";
  amountMinor: number;
  currency: string;
  reference: string | null;
  recordedBy: string | null;
  at: Date;
  requestId?: string | null;
}

/**
 * Records a payment against an open invoice inside the caller's transaction (the invoice row
 * is locked first, so two payments never both settle it). 400 naming `currency` when it is
 * not the invoice's, `amountMinor` when it exceeds what is still owed; 409 when the invoice
 * is not open. Returns whether the invoice is now fully paid.
 */
export async function applyPayment(tx: Tx, invoiceId: string, payment: PaymentInput): Promise<{ paid: boolean; tenantId: string; subscriptionId: string | null }> {
  await tx.$queryRaw`SELECT id FROM billing_invoices WHERE id = ${invoiceId}::uuid FOR UPDATE`;
  const invoice = await tx.billingInvoice.findUnique({ where: { id: invoiceId } });
  if (!invoice || invoice.kind !== "invoice") throw new AppError("not_found", "invoice not found");
  if (invoice.status !== "open") throw new AppError("conflict", `invoice ${invoice.number} is ${invoice.status}`);
  if (payment.currency !== invoice.currency) throw new AppError("validation", `currency: the invoice is in ${invoice.currency}`, [{ field: "currency", message: `must be ${invoice.currency}` }]);
  const owed = invoice.totalMinor - invoice.paidMinor;
  if (payment.amountMinor > owed) throw new AppError("validation", `amountMinor: only ${owed} is owed`, [{ field: "amountMinor", message: `at most ${owed}` }]);
  const paidMinor = invoice.paidMinor + payment.amountMinor;
  const paid = paidMinor === invoice.totalMinor;
  await tx.billingPayment.create({
    data: { invoiceId, tenantId: invoice.tenantId, method: payment.method, amountMinor: payment.amountMinor, currency: payment.currency, reference: payment.reference, recordedBy: payment.recordedBy, createdAt: payment.at },
  });
  await tx.billingInvoice.update({ where: { id: invoiceId }, data: { paidMinor, ...(paid ? { status: "paid", paidAt: payment.at } : {}) } });
  await audit(tx, {
    action: paid ? "INVOICE_PAID" : "PAYMENT_RECORDED", targetType: "invoice", targetId: invoiceId, tenantId: invoice.tenantId,
    actorUserId: payment.recordedBy, requestId: payment.requestId ?? null,
    data: { number: invoice.number, method: payment.method, amountMinor: payment.amountMinor, reference: payment.reference },
  });
  return { paid, tenantId: invoice.tenantId, subscriptionId: invoice.subscriptionId };
}

/**
 * Pays an open invoice from the tenant's account credit as far as it goes (method `credit`),
 * inside the caller's transaction. Returns the amount applied.
 */
export async function applyAccountCredit(tx: Tx, invoice: { id: string; tenantId: string; currency: string; totalMinor: number; status: string }, at: Date): Promise<number> {
  if (invoice.status !== "open") return 0;
  const customer = await tx.billingCustomer.findUnique({ where: { tenantId: invoice.tenantId } });
  if (!customer || customer.creditMinor === 0 || customer.currency !== invoice.currency) return 0;
  const applied = Math.min(customer.creditMinor, invoice.totalMinor);
  await tx.billingCustomer.update({ where: { tenantId: invoice.tenantId }, data: { creditMinor: { decrement: applied } } });
  await applyPayment(tx, invoice.id, { method: "credit", amountMinor: applied, currency: invoice.currency, reference: "account credit", recordedBy: null, at });
  return applied;
}
