-- Billing (issue 4): catalogue, checkout orders, subscriptions, invoices and credit notes with
-- gapless numbering per series, payments, tax rates, Stripe events processed once. Money is
-- integer minor units (INTEGER: up to 21,474,836.47 in a 2-decimal currency per amount) with
-- an ISO 4217 currency; no floating-point column holds money.

CREATE TABLE "billing_products" (
    "id" UUID NOT NULL,
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "type" TEXT NOT NULL,
    "features" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "quotas" JSONB NOT NULL DEFAULT '{}',
    "provisioning" JSONB NOT NULL DEFAULT '{}',
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "billing_products_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "billing_products_type_check" CHECK ("type" IN ('hosting', 'addon'))
);
CREATE UNIQUE INDEX "billing_products_code_key" ON "billing_products"("code");

CREATE TABLE "billing_prices" (
    "id" UUID NOT NULL,
    "product_id" UUID NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "interval" TEXT NOT NULL,
    "amount_minor" INTEGER NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    CONSTRAINT "billing_prices_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "billing_prices_interval_check" CHECK ("interval" IN ('month', 'year')),
    CONSTRAINT "billing_prices_amount_check" CHECK ("amount_minor" >= 0)
);
CREATE UNIQUE INDEX "billing_prices_product_id_currency_interval_key" ON "billing_prices"("product_id", "currency", "interval");
ALTER TABLE "billing_prices" ADD CONSTRAINT "billing_prices_product_id_fkey" FOREIGN KEY ("product_id") REFERENCES "billing_products"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "billing_coupons" (
    "id" UUID NOT NULL,
    "code" TEXT NOT NULL,
    "percent_off" INTEGER,
    "amount_off_minor" INTEGER,
    "currency" CHAR(3),
    "valid_until" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "billing_coupons_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "billing_coupons_kind_check" CHECK (("percent_off" IS NULL) <> ("amount_off_minor" IS NULL) AND ("amount_off_minor" IS NULL OR "currency" IS NOT NULL))
);
CREATE UNIQUE INDEX "billing_coupons_code_key" ON "billing_coupons"("code");

CREATE TABLE "billing_tax_rates" (
    "country" CHAR(2) NOT NULL,
    "rate_bp" INTEGER NOT NULL,
    "inclusive" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "billing_tax_rates_pkey" PRIMARY KEY ("country"),
    CONSTRAINT "billing_tax_rates_rate_check" CHECK ("rate_bp" BETWEEN 0 AND 10000)
);

CREATE TABLE "billing_customers" (
    "tenant_id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "country" CHAR(2) NOT NULL,
    "vat_id" TEXT,
    "currency" CHAR(3) NOT NULL,
    "stripe_customer_id" TEXT,
    "credit_minor" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "billing_customers_pkey" PRIMARY KEY ("tenant_id"),
    CONSTRAINT "billing_customers_credit_check" CHECK ("credit_minor" >= 0)
);
ALTER TABLE "billing_customers" ADD CONSTRAINT "billing_customers_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "billing_checkout_orders" (
    "id" UUID NOT NULL,
    "stripe_session_id" TEXT,
    "email" TEXT NOT NULL,
    "plan_price_id" UUID NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "interval" TEXT NOT NULL,
    "domain" TEXT,
    "country" CHAR(2) NOT NULL,
    "vat_id" TEXT,
    "add_ons" JSONB NOT NULL DEFAULT '[]',
    "coupon_id" UUID,
    "quote" JSONB NOT NULL,
    "amount_minor" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'open',
    "tenant_id" UUID,
    "subscription_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),
    CONSTRAINT "billing_checkout_orders_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "billing_checkout_orders_stripe_session_id_key" ON "billing_checkout_orders"("stripe_session_id");
ALTER TABLE "billing_checkout_orders" ADD CONSTRAINT "billing_checkout_orders_plan_price_id_fkey" FOREIGN KEY ("plan_price_id") REFERENCES "billing_prices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

CREATE TABLE "billing_subscriptions" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "product_id" UUID NOT NULL,
    "price_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'active',
    "currency" CHAR(3) NOT NULL,
    "interval" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL DEFAULT 1,
    "unit_amount_minor" INTEGER NOT NULL,
    "add_ons" JSONB NOT NULL DEFAULT '[]',
    "current_period_start" TIMESTAMPTZ(3) NOT NULL,
    "current_period_end" TIMESTAMPTZ(3) NOT NULL,
    "cancel_at_period_end" BOOLEAN NOT NULL DEFAULT false,
    "canceled_at" TIMESTAMPTZ(3),
    "cloud_pod_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "billing_subscriptions_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "billing_subscriptions_quantity_check" CHECK ("quantity" >= 1)
);
CREATE INDEX "billing_subscriptions_tenant_id_idx" ON "billing_subscriptions"("tenant_id");
CREATE INDEX "billing_subscriptions_status_current_period_end_idx" ON "billing_subscriptions"("status", "current_period_end");
ALTER TABLE "billing_subscriptions" ADD CONSTRAINT "billing_subscriptions_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "billing_subscriptions" ADD CONSTRAINT "billing_subscriptions_product_id_fkey" FOREIGN KEY ("product_id") REFERENCES "billing_products"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "billing_subscriptions" ADD CONSTRAINT "billing_subscriptions_price_id_fkey" FOREIGN KEY ("price_id") REFERENCES "billing_prices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "billing_subscriptions" ADD CONSTRAINT "billing_subscriptions_cloud_pod_id_fkey" FOREIGN KEY ("cloud_pod_id") REFERENCES "cloud_pods"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- One counter row per series; the invoice insert bumps it in the same transaction, so a
-- rolled-back invoice gives its number back and committed numbers have no gaps.
CREATE TABLE "billing_number_series" (
    "series" TEXT NOT NULL,
    "last_value" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "billing_number_series_pkey" PRIMARY KEY ("series")
);

CREATE TABLE "billing_invoices" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "subscription_id" UUID,
    "kind" TEXT NOT NULL DEFAULT 'invoice',
    "reason" TEXT NOT NULL,
    "series" TEXT NOT NULL,
    "sequence" INTEGER NOT NULL,
    "number" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'open',
    "currency" CHAR(3) NOT NULL,
    "subtotal_minor" INTEGER NOT NULL,
    "tax_minor" INTEGER NOT NULL,
    "total_minor" INTEGER NOT NULL,
    "paid_minor" INTEGER NOT NULL DEFAULT 0,
    "tax_rate_bp" INTEGER NOT NULL DEFAULT 0,
    "tax_inclusive" BOOLEAN NOT NULL DEFAULT false,
    "reverse_charge" BOOLEAN NOT NULL DEFAULT false,
    "country" CHAR(2) NOT NULL,
    "vat_id" TEXT,
    "period_start" TIMESTAMPTZ(3),
    "period_end" TIMESTAMPTZ(3),
    "issued_at" TIMESTAMPTZ(3) NOT NULL,
    "due_at" TIMESTAMPTZ(3) NOT NULL,
    "paid_at" TIMESTAMPTZ(3),
    "dunning_step" INTEGER NOT NULL DEFAULT 0,
    "credits_invoice_id" UUID,
    CONSTRAINT "billing_invoices_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "billing_invoices_kind_check" CHECK ("kind" IN ('invoice', 'credit_note')),
    CONSTRAINT "billing_invoices_totals_check" CHECK ("total_minor" >= 0 AND "tax_minor" >= 0 AND "paid_minor" >= 0)
);
CREATE UNIQUE INDEX "billing_invoices_series_sequence_key" ON "billing_invoices"("series", "sequence");
CREATE UNIQUE INDEX "billing_invoices_number_key" ON "billing_invoices"("number");
-- A renewal run repeated for one period finds this row instead of making a second invoice.
CREATE UNIQUE INDEX "billing_invoices_renewal_period_key" ON "billing_invoices"("subscription_id", "period_start") WHERE "reason" = 'renewal';
CREATE INDEX "billing_invoices_tenant_id_idx" ON "billing_invoices"("tenant_id");
CREATE INDEX "billing_invoices_status_due_at_idx" ON "billing_invoices"("status", "due_at");
ALTER TABLE "billing_invoices" ADD CONSTRAINT "billing_invoices_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "billing_invoices" ADD CONSTRAINT "billing_invoices_subscription_id_fkey" FOREIGN KEY ("subscription_id") REFERENCES "billing_subscriptions"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "billing_invoices" ADD CONSTRAINT "billing_invoices_credits_invoice_id_fkey" FOREIGN KEY ("credits_invoice_id") REFERENCES "billing_invoices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

CREATE TABLE "billing_invoice_lines" (
    "id" UUID NOT NULL,
    "invoice_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "description" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "unit_amount_minor" INTEGER NOT NULL,
    "amount_minor" INTEGER NOT NULL,
    "period_start" TIMESTAMPTZ(3),
    "period_end" TIMESTAMPTZ(3),
    CONSTRAINT "billing_invoice_lines_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "billing_invoice_lines_invoice_id_position_key" ON "billing_invoice_lines"("invoice_id", "position");
ALTER TABLE "billing_invoice_lines" ADD CONSTRAINT "billing_invoice_lines_invoice_id_fkey" FOREIGN KEY ("invoice_id") REFERENCES "billing_invoices"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "billing_payments" (
    "id" UUID NOT NULL,
    "invoice_id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "method" TEXT NOT NULL,
    "amount_minor" INTEGER NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "reference" TEXT,
    "recorded_by" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "billing_payments_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "billing_payments_amount_check" CHECK ("amount_minor" > 0)
);
CREATE INDEX "billing_payments_invoice_id_idx" ON "billing_payments"("invoice_id");
ALTER TABLE "billing_payments" ADD CONSTRAINT "billing_payments_invoice_id_fkey" FOREIGN KEY ("invoice_id") REFERENCES "billing_invoices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Each Stripe event id is inserted once, in the transaction that applies it.
CREATE TABLE "billing_stripe_events" (
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "processed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "billing_stripe_events_pkey" PRIMARY KEY ("id")
);
