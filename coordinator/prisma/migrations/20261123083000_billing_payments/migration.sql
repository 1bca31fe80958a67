-- Refunded amounts, per invoice and per payment (never above what was paid).
ALTER TABLE "billing_invoices" ADD COLUMN "refunded_minor" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "billing_invoices" ADD CONSTRAINT "billing_invoices_refunded_check" CHECK ("refunded_minor" >= 0 AND "refunded_minor" <= "paid_minor");
ALTER TABLE "billing_payments" ADD COLUMN "refunded_minor" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "billing_payments" ADD CONSTRAINT "billing_payments_refunded_check" CHECK ("refunded_minor" >= 0 AND "refunded_minor" <= "amount_minor");

-- Hosted payment links (Stripe Checkout Sessions) for open invoices.
CREATE TABLE "billing_payment_links" (
    "id" UUID NOT NULL,
    "invoice_id" UUID NOT NULL,
    "stripe_session_id" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "amount_minor" INTEGER NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'open',
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "completed_at" TIMESTAMPTZ(3),
    CONSTRAINT "billing_payment_links_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "billing_payment_links_amount_check" CHECK ("amount_minor" > 0)
);
CREATE UNIQUE INDEX "billing_payment_links_stripe_session_id_key" ON "billing_payment_links"("stripe_session_id");
CREATE INDEX "billing_payment_links_invoice_id_idx" ON "billing_payment_links"("invoice_id");
ALTER TABLE "billing_payment_links" ADD CONSTRAINT "billing_payment_links_invoice_id_fkey" FOREIGN KEY ("invoice_id") REFERENCES "billing_invoices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Refunds, each against one payment and documented by a credit note.
CREATE TABLE "billing_refunds" (
    "id" UUID NOT NULL,
    "invoice_id" UUID NOT NULL,
    "payment_id" UUID NOT NULL,
    "credit_note_id" UUID NOT NULL,
    "method" TEXT NOT NULL,
    "amount_minor" INTEGER NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "reason" TEXT NOT NULL,
    "stripe_refund_id" TEXT,
    "created_by" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "billing_refunds_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "billing_refunds_amount_check" CHECK ("amount_minor" > 0)
);
CREATE UNIQUE INDEX "billing_refunds_stripe_refund_id_key" ON "billing_refunds"("stripe_refund_id");
CREATE INDEX "billing_refunds_invoice_id_idx" ON "billing_refunds"("invoice_id");
ALTER TABLE "billing_refunds" ADD CONSTRAINT "billing_refunds_invoice_id_fkey" FOREIGN KEY ("invoice_id") REFERENCES "billing_invoices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "billing_refunds" ADD CONSTRAINT "billing_refunds_payment_id_fkey" FOREIGN KEY ("payment_id") REFERENCES "billing_payments"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "billing_refunds" ADD CONSTRAINT "billing_refunds_credit_note_id_fkey" FOREIGN KEY ("credit_note_id") REFERENCES "billing_invoices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
