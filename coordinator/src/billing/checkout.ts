import { randomUUID } from "node:crypto";
import { Domain } from "@mpanel/proto";
import type Stripe from "stripe";
import { z } from "zod";
import { audit } from "../audit";
import type { Database, Prisma, Tx } from "../db/client";
import { AppError } from "../errors";
import { Country, resolvePrice } from "./catalogue";
import { Currency, Interval, mulDivRound } from "./money";
import { requireStripe } from "./payments";
import { addInterval } from "./periods";
import { computeTotals, loadTaxRule, type TaxRule, type Totals } from "./tax";
import type { DraftLine } from "./invoices";

/** Body of `POST /api/public/checkout/session` (spec section 1), from a marketing site. */
export const CheckoutInput = z.strictObject({
  planCode: z.string().min(1).max(63),
  billingCycle: Interval,
  email: z.email().max(254),
  domain: Domain.optional(),
  currency: Currency.default("EUR"),
  country: Country.optional(),
  vatId: z.string().regex(/^[A-Z]{2}[A-Z0-9]{2,13}$/, "must be a VAT id such as DE123456789").optional(),
  addOns: z.array(z.strictObject({ code: z.string().min(1).max(63), quantity: z.number().int().min(1).max(1000).default(1) })).max(20).default([]),
  couponCode: z.string().min(1).max(40).optional(),
});
export type CheckoutInput = z.output<typeof CheckoutInput>;

/** An add-on as bought: product, price and quantity at the price of the day. */
export interface BoughtAddOn {
  code: string;
  name: string;
  productId: string;
  priceId: string;
  quantity: number;
  unitAmountMinor: number;
}

/** A priced order: the lines of the first invoice, its tax rule and totals. */
export interface Quote {
  lines: Array<Omit<DraftLine, "periodStart" | "periodEnd">>;
  addOns: BoughtAddOn[];
  tax: TaxRule;
  totals: Totals;
  country: string;
}

function fieldError(field: string, message: string): AppError {
  return new AppError("validation", `${field}: ${message}`, [{ field, message }]);
}

/**
 * Prices an order without writing anything: the plan and add-ons in the order's currency and
 * interval, the coupon (a percentage of the sum, or an amount in the same currency, at most
 * the sum; the first payment only), and tax of the buyer's country. 400 naming the field for
 * an unknown plan, cycle or add-on, a price missing in the currency, a coupon unknown, past its
 * end or in another currency, a domain already hosted.
 */
export async function quoteOrder(tx: Tx | Database["prisma"], input: CheckoutInput, now: Date, sellerCountry: string) {
  const plan = await resolvePrice(tx, { code: input.planCode, type: "hosting", interval: input.billingCycle, currency: input.currency, field: "planCode", intervalField: "billingCycle", currencyField: "currency" });
  if (!input.domain) throw fieldError("domain", "required for a hosting plan");
  const taken = await tx.website.findFirst({ where: { domain: input.domain, deletedAt: null }, select: { id: true } });
  if (taken) throw fieldError("domain", "already hosted here");
  const addOns: BoughtAddOn[] = [];
  for (const [i, a] of input.addOns.entries()) {
    const found = await resolvePrice(tx, { code: a.code, type: "addon", interval: input.billingCycle, currency: input.currency, field: `addOns.${i}.code`, intervalField: `addOns.${i}.code`, currencyField: "currency" });
    addOns.push({ code: a.code, name: found.product.name, productId: found.product.id, priceId: found.price.id, quantity: a.quantity, unitAmountMinor: found.price.amountMinor });
  }
  const lines: Quote["lines"] = [
    { description: plan.product.name, quantity: 1, unitAmountMinor: plan.price.amountMinor },
    ...addOns.map((a) => ({ description: a.name, quantity: a.quantity, unitAmountMinor: a.unitAmountMinor })),
  ];
  const gross = lines.reduce((sum, l) => sum + l.quantity * l.unitAmountMinor, 0);
  let couponId: string | null = null;
  if (input.couponCode) {
    const coupon = await tx.billingCoupon.findUnique({ where: { code: input.couponCode } });
    if (!coupon) throw fieldError("couponCode", "unknown coupon");
    if (coupon.validUntil && coupon.validUntil <= now) throw fieldError("couponCode", "the coupon has ended");
    if (coupon.currency && coupon.currency !== input.currency) throw fieldError("currency", `coupon ${coupon.code} is in ${coupon.currency}`);
    const off = coupon.percentOff !== null ? mulDivRound(gross, coupon.percentOff, 100) : Math.min(coupon.amountOffMinor ?? 0, gross);
    if (off > 0) lines.push({ description: `Coupon ${coupon.code}`, quantity: 1, unitAmountMinor: -off });
    couponId = coupon.id;
  }
  const country = input.country ?? sellerCountry;
  const tax = await loadTaxRule(tx as Tx, { country, vatId: input.vatId ?? null }, sellerCountry);
  const totals = computeTotals(lines.map((l) => l.quantity * l.unitAmountMinor), tax);
  const quote: Quote = { lines, addOns, tax, totals, country };
  return { plan, couponId, quote, periodEnd: addInterval(now, input.billingCycle) };
}

/**
 * Starts a checkout: prices the order (`quoteOrder`; bad input writes nothing), opens a Stripe
 * Checkout Session for its total (one line, the order's name; `metadata.orderId` and
 * `client_reference_id` link it back; the order id is the Stripe idempotency key), then
 * records the open order with the quote the customer will pay. Returns the session id and
 * the hosted payment page URL.
 */
export async function startCheckout(deps: { db: Database; stripe: Stripe | null; publicUrl: string; sellerCountry: string }, input: CheckoutInput, now: Date, requestId: string) {
  const { plan, couponId, quote } = await quoteOrder(deps.db.prisma, input, now, deps.sellerCountry);
  const stripe = requireStripe(deps.stripe);
  const orderId = randomUUID();
  const session = await stripe.checkout.sessions.create({
    mode: "payment",
    customer_email: input.email,
    client_reference_id: orderId,
    metadata: { orderId },
    line_items: [{
      quantity: 1,
      price_data: { currency: input.currency.toLowerCase(), unit_amount: quote.totals.totalMinor, product_data: { name: `${plan.product.name} (${input.billingCycle}ly)${input.domain ? ` for ${input.domain}` : ""}` } },
    }],
    success_url: new URL("/checkout/success?session_id={CHECKOUT_SESSION_ID}", deps.publicUrl).toString(),
    cancel_url: new URL("/checkout/cancel", deps.publicUrl).toString(),
  }, { idempotencyKey: `checkout:${orderId}` });
  if (!session.url) throw new AppError("internal", "Stripe returned a session without a payment URL");
  await deps.db.prisma.$transaction(async (tx) => {
    await tx.billingCheckoutOrder.create({
      data: {
        id: orderId, stripeSessionId: session.id, email: input.email.toLowerCase(), planPriceId: plan.price.id, currency: input.currency,
        interval: input.billingCycle, domain: input.domain ?? null, country: quote.country, vatId: input.vatId ?? null,
        addOns: quote.addOns as unknown as Prisma.InputJsonValue, couponId, quote: quote as unknown as Prisma.InputJsonValue, amountMinor: quote.totals.totalMinor,
      },
    });
    await audit(tx, { action: "CHECKOUT_STARTED", targetType: "checkout_order", targetId: orderId, requestId, data: { planCode: input.planCode, billingCycle: input.billingCycle, totalMinor: quote.totals.totalMinor, currency: input.currency, stripeSessionId: session.id } });
  });
  return { checkoutSessionId: session.id, paymentUrl: session.url };
}
