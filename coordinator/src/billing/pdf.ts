import PDFDocument from "pdfkit";
import { formatMoney } from "./email";

/** What the PDF shows of an invoice or credit note. */
export interface PdfInvoice {
  number: string;
  kind: string;
  currency: string;
  issuedAt: Date;
  dueAt: Date;
  country: string;
  vatId: string | null;
  subtotalMinor: number;
  taxMinor: number;
  totalMinor: number;
  taxRateBp: number;
  taxInclusive: boolean;
  reverseCharge: boolean;
  lines: Array<{ description: string; quantity: number; unitAmountMinor: number; amountMinor: number; periodStart: Date | null; periodEnd: Date | null }>;
}

const day = (d: Date): string => d.toISOString().slice(0, 10);

/**
 * Renders an invoice or credit note as a PDF with pdfkit: seller, number, dates, one row per
 * line (with its period), subtotal, tax (rate, or the reverse-charge notice), total.
 * `compress: false` keeps the text greppable (tests read the number back).
 */
export function renderInvoicePdf(invoice: PdfInvoice, seller: string): Promise<Buffer> {
  const doc = new PDFDocument({ size: "A4", margin: 50, compress: false, info: { Title: invoice.number } });
  const chunks: Buffer[] = [];
  doc.on("data", (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);
  });
  doc.fontSize(18).text(invoice.kind === "credit_note" ? "Credit note" : "Invoice");
  doc.fontSize(10).text(seller).moveDown();
  doc.text(`Number: ${invoice.number}`);
  doc.text(`Issued: ${day(invoice.issuedAt)}   Due: ${day(invoice.dueAt)}`);
  doc.text(`Customer country: ${invoice.country}${invoice.vatId ? `   VAT id: ${invoice.vatId}` : ""}`).moveDown();
  for (const line of invoice.lines) {
    const period = line.periodStart && line.periodEnd ? ` (${day(line.periodStart)} - ${day(line.periodEnd)})` : "";
    doc.text(`${line.description}${period}   ${line.quantity} x ${formatMoney(line.unitAmountMinor, invoice.currency)} = ${formatMoney(line.amountMinor, invoice.currency)}`);
  }
  doc.moveDown().text(`Subtotal: ${formatMoney(invoice.subtotalMinor, invoice.currency)}`);
  const rate = `${Math.trunc(invoice.taxRateBp / 100)}.${String(invoice.taxRateBp % 100).padStart(2, "0")} %`;
  doc.text(invoice.reverseCharge ? "VAT: reverse charge (Article 196, Directive 2006/112/EC)" : `Tax ${rate}${invoice.taxInclusive ? " (included)" : ""}: ${formatMoney(invoice.taxMinor, invoice.currency)}`);
  doc.fontSize(12).text(`Total: ${formatMoney(invoice.totalMinor, invoice.currency)}`);
  doc.end();
  return done;
}
