import { randomBytes } from "node:crypto";
import Stripe from "stripe";
import { expect } from "vitest";
import { startTestCoordinator, type ApiBody, type TestCoordinator } from "./harness";
import { startSmtpSink, type SmtpSink } from "./smtp-sink";
import { startStripeServer, type StripeServer } from "./stripe-server";

/** A coordinator wired to a local Stripe-compatible server and an SMTP sink, with its webhook secret. */
export interface BillingRig {
  t: TestCoordinator;
  stripe: StripeServer;
  smtp: SmtpSink;
  webhookSecret: string;
  stop(): Promise<void>;
}

/** Starts the rig; `env` adds coordinator settings (e.g. the dunning schedule). */
export async function startBillingRig(env: Record<string, string> = {}): Promise<BillingRig> {
  const stripe = await startStripeServer();
  const smtp = await startSmtpSink();
  const webhookSecret = `whsec_${randomBytes(16).toString("hex")}`;
  const t = await startTestCoordinator({
    MPANEL_STRIPE_SECRET_KEY: stripe.secretKey, MPANEL_STRIPE_API_URL: stripe.url, MPANEL_STRIPE_WEBHOOK_SECRET: webhookSecret,
    MPANEL_SMTP_URL: smtp.url, MPANEL_MAIL_FROM: "billing@mpanel.test", MPANEL_PUBLIC_URL: "http://panel.mpanel.test",
    MPANEL_BILLING_COUNTRY: "DE", ...env,
  });
  return {
    t, stripe, smtp, webhookSecret,
    async stop() {
      await t.stop();
      await smtp.stop();
      await stripe.stop();
    },
  };
}

/** Creates a hosting plan `code` (EUR monthly/yearly, USD monthly) provisioning a static site without DNS, mail or TLS. */
export async function createPlan(t: TestCoordinator, code: string, monthlyEur: number): Promise<void> {
  const res = await t.api("POST", "/api/admin/billing/products", {
    code, name: `Plan ${code}`, type: "hosting", features: ["SSD storage"], quotas: { diskMb: 10_240, sites: 1 },
    provisioning: { runtime: "static", dns: false, mail: false, tls: false },
    prices: [{ currency: "EUR", interval: "month", amountMinor: monthlyEur }, { currency: "EUR", interval: "year", amountMinor: monthlyEur * 10 }, { currency: "USD", interval: "month", amountMinor: monthlyEur + 100 }],
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

/** POSTs a public request without a session. */
export async function publicCall(t: TestCoordinator, method: string, url: string, body?: unknown): Promise<{ status: number; body: ApiBody }> {
  const res = await t.coordinator.app.inject({ method: method as "POST", url, ...(body === undefined ? {} : { payload: body as Record<string, unknown> }) });
  return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as ApiBody) : {} };
}

/** Delivers `payload` to a webhook URL signed with `secret` by the Stripe library (`timestamp` in seconds, default now). */
export async function deliver(rig: BillingRig, payload: string, options: { secret?: string; timestamp?: number; url?: string; signature?: string | null } = {}) {
  const header = options.signature === undefined
    ? Stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? rig.webhookSecret, ...(options.timestamp ? { timestamp: options.timestamp } : {}) })
    : options.signature;
  const res = await rig.t.coordinator.app.inject({
    method: "POST", url: options.url ?? "/api/public/checkout/webhook", payload,
    headers: { "content-type": "application/json", ...(header === null ? {} : { "stripe-signature": header }) },
  });
  return { status: res.statusCode, body: JSON.parse(res.body) as ApiBody };
}

/** Starts a checkout through the public API, pays its session on the Stripe server, and returns the signed `checkout.session.completed` payload. */
export async function paidCheckout(rig: BillingRig, input: Record<string, unknown>): Promise<{ sessionId: string; payload: string }> {
  const res = await publicCall(rig.t, "POST", "/api/public/checkout/session", input);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const sessionId = String(res.body.data?.checkoutSessionId);
  const session = rig.stripe.pay(sessionId);
  return { sessionId, payload: rig.stripe.event("checkout.session.completed", session) };
}

/** Row counts of what a checkout creates. */
export interface Counts {
  users: number;
  tenants: number;
  subscriptions: number;
  cloudPods: number;
  invoices: number;
  orders: number;
  events: number;
  jobs: number;
}

/** Row counts of what a checkout creates, to compare before and after. */
export async function billingCounts(t: TestCoordinator): Promise<Counts> {
  const p = t.coordinator.database.db.prisma;
  const [users, tenants, subscriptions, cloudPods, invoices, orders, events, jobs] = await Promise.all([
    p.user.count(), p.tenant.count(), p.billingSubscription.count(), p.cloudPod.count(), p.billingInvoice.count(),
    p.billingCheckoutOrder.count(), p.billingStripeEvent.count(), p.job.count(),
  ]);
  return { users, tenants, subscriptions, cloudPods, invoices, orders, events, jobs };
}
