import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf } from "../http/auth-hook";
import { CouponInput, ProductInput, TaxRateInput } from "./catalogue";
import { CheckoutInput } from "./checkout";
import { RefundInput } from "./invoice-payments";
import { InvoiceListQuery, ManualPaymentInput, type BillingService } from "./service";
import { PlanChangeInput, SubscriptionListQuery } from "./subscriptions";

const IdParams = z.object({ id: z.uuid() });

/**
 * Billing routes: the public catalogue and checkout for a marketing site, Stripe webhooks
 * (raw body, signature-verified), and `/api/admin/billing/...` for staff (catalogue, runs,
 * manual payments) and tenants (their subscriptions and invoices, under `billing:*`).
 */
export function registerBillingRoutes(root: FastifyInstance, s: BillingService): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const pub = { config: { public: true } };
  const tags = ["billing"];

  app.get("/api/public/products", { ...pub, schema: { tags } }, async () => ({ data: await s.catalogue.listProducts() }));
  app.get("/api/public/plans", { ...pub, schema: { tags } }, async () => ({ data: await s.catalogue.listPlans() }));
  app.post("/api/public/checkout/session", { ...pub, schema: { body: CheckoutInput, tags } }, async (req, reply) =>
    reply.status(201).send({ data: await s.checkout(req.body, req.id) }));

  // Stripe signs the exact bytes it sent: these two routes get the body as a Buffer (and only these).
  void root.register(async (raw) => {
    raw.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
    const hook = { ...pub, schema: { hide: true } };
    const handle = async (req: { body: unknown; headers: Record<string, string | string[] | undefined>; id: string }) => {
      const signature = req.headers["stripe-signature"];
      return { data: await s.webhook(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), typeof signature === "string" ? signature : undefined, req.id) };
    };
    raw.post("/api/public/checkout/webhook", hook, handle);
    raw.post("/api/webhooks/stripe", hook, handle);
  });

  app.get("/api/admin/billing/products", { schema: { tags } }, async (req) => ({ data: await s.catalogue.adminList(actorOf(req)) }));
  app.post("/api/admin/billing/products", { schema: { body: ProductInput, tags } }, async (req, reply) =>
    reply.status(201).send({ data: await s.catalogue.createProduct(actorOf(req), req.body, req.id) }));
  app.post("/api/admin/billing/coupons", { schema: { body: CouponInput, tags } }, async (req, reply) =>
    reply.status(201).send({ data: await s.catalogue.createCoupon(actorOf(req), req.body, req.id) }));
  app.post("/api/admin/billing/tax-rates", { schema: { body: TaxRateInput, tags } }, async (req) =>
    ({ data: await s.catalogue.setTaxRate(actorOf(req), req.body, req.id) }));

  app.get("/api/admin/billing/subscriptions", { schema: { querystring: SubscriptionListQuery, tags } }, async (req) => s.listSubscriptions(actorOf(req), req.query));
  app.get("/api/admin/billing/subscriptions/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.getSubscription(actorOf(req), req.params.id) }));
  app.post("/api/admin/billing/subscriptions/:id/change", { schema: { params: IdParams, body: PlanChangeInput, tags } }, async (req) =>
    ({ data: await s.changePlan(actorOf(req), req.params.id, req.body, req.id) }));
  app.post("/api/admin/billing/subscriptions/:id/cancel", { schema: { params: IdParams, tags } }, async (req) =>
    ({ data: await s.cancelSubscription(actorOf(req), req.params.id, req.id) }));
  app.post("/api/admin/billing/subscriptions/:id/reactivate", { schema: { params: IdParams, tags } }, async (req) =>
    ({ data: await s.reactivateSubscription(actorOf(req), req.params.id, req.id) }));

  app.get("/api/admin/billing/invoices", { schema: { querystring: InvoiceListQuery, tags } }, async (req) => s.listInvoices(actorOf(req), req.query));
  app.get("/api/admin/billing/invoices/:id", { schema: { params: IdParams, tags } }, async (req) => ({ data: await s.getInvoice(actorOf(req), req.params.id) }));
  app.get("/api/admin/billing/invoices/:id/pdf", { schema: { params: IdParams, tags } }, async (req, reply) => {
    const { number, pdf } = await s.invoicePdf(actorOf(req), req.params.id);
    return reply.type("application/pdf").header("content-disposition", `attachment; filename="${number}.pdf"`).send(pdf);
  });
  app.post("/api/admin/billing/invoices/:id/payments", { schema: { params: IdParams, body: ManualPaymentInput, tags } }, async (req, reply) =>
    reply.status(201).send({ data: await s.recordPayment(actorOf(req), req.params.id, req.body, req.id) }));

  app.post("/api/admin/billing/invoices/:id/pay", { schema: { params: IdParams, tags } }, async (req, reply) =>
    reply.status(201).send({ data: await s.payInvoice(actorOf(req), req.params.id, req.id) }));
  app.post("/api/admin/billing/invoices/:id/refund", { schema: { params: IdParams, body: RefundInput, tags } }, async (req, reply) =>
    reply.status(201).send({ data: await s.refundInvoice(actorOf(req), req.params.id, req.body, req.id) }));

  app.post("/api/admin/billing/runs/renewals", { schema: { tags } }, async (req) => ({ data: await s.runNow(actorOf(req), "renewals") }));
  app.post("/api/admin/billing/runs/dunning", { schema: { tags } }, async (req) => ({ data: await s.runNow(actorOf(req), "dunning") }));
}
