import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prorate } from "../src/billing/proration";
import { billingCounts, createPlan, deliver, paidCheckout, publicCall, startBillingRig, type BillingRig } from "./support/billing-fixtures";
import { fakeNode, fields } from "./support/service-fixtures";

describe("billing: catalogue, checkout and Stripe webhooks", () => {
  let rig: BillingRig;

  beforeAll(async () => {
    rig = await startBillingRig();
    await fakeNode(rig.t, "web-billing", ["web"]);
    await createPlan(rig.t, "starter", 999);
    const addon = await rig.t.api("POST", "/api/admin/billing/products", { code: "backup", name: "Daily backups", type: "addon", prices: [{ currency: "EUR", interval: "month", amountMinor: 250 }] });
    expect(addon.status).toBe(201);
    expect((await rig.t.api("POST", "/api/admin/billing/coupons", { code: "OLD", percentOff: 10, validUntil: "2020-01-01T00:00:00Z" })).status).toBe(201);
    expect((await rig.t.api("POST", "/api/admin/billing/coupons", { code: "FIVEUSD", amountOffMinor: 500, currency: "USD" })).status).toBe(201);
    expect((await rig.t.api("POST", "/api/admin/billing/coupons", { code: "WELCOME20", percentOff: 20 })).status).toBe(201);
    expect((await rig.t.api("POST", "/api/admin/billing/tax-rates", { country: "DE", rateBp: 1900 })).status).toBe(200);
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it("lists products and plans publicly, with integer minor-unit prices", async () => {
    const plans = await publicCall(rig.t, "GET", "/api/public/plans");
    expect(plans.status).toBe(200);
    expect(plans.body.data).toEqual([expect.objectContaining({ code: "starter", type: "hosting", quotas: { diskMb: 10_240, sites: 1 } })]);
    const products = await publicCall(rig.t, "GET", "/api/public/products");
    const codes = (products.body.data as unknown as Array<{ code: string; prices: Array<{ amountMinor: number }> }>).map((p) => p.code);
    expect(codes).toEqual(["backup", "starter"]);
    expect(JSON.stringify(products.body.data)).toContain('"amountMinor":999');
  });

  it("refuses bad checkout input with 400 naming the field, and writes nothing", async () => {
    const good = { planCode: "starter", billingCycle: "month", email: "buyer@example.org", domain: "bad-input.example.org" };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...good, planCode: "platinum" }, "planCode"],
      [{ ...good, billingCycle: "week" }, "billingCycle"],
      [{ ...good, email: "not-an-email" }, "email"],
      [{ ...good, addOns: [{ code: "backup", quantity: -1 }] }, "addOns.0.quantity"],
      [{ ...good, addOns: [{ code: "no-such-addon" }] }, "addOns.0.code"],
      [{ ...good, currency: "GBP" }, "currency"],
      [{ ...good, couponCode: "FIVEUSD" }, "currency"],
      [{ ...good, couponCode: "OLD" }, "couponCode"],
      [{ ...good, couponCode: "NOPE" }, "couponCode"],
      [{ ...good, domain: "not a domain" }, "domain"],
      [{ ...good, currency: "eur" }, "currency"],
    ];
    const before = await billingCounts(rig.t);
    const sessionsBefore = rig.stripe.requests.length;
    for (const [body, field] of cases) {
      const res = await publicCall(rig.t, "POST", "/api/public/checkout/session", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(fields(res.body), JSON.stringify(res.body)).toContain(field);
    }
    expect(await billingCounts(rig.t)).toEqual(before);
    expect(rig.stripe.requests.length).toBe(sessionsBefore);
    const admin = await rig.t.api("POST", "/api/admin/billing/products", { code: "x", name: "X", type: "hosting", prices: [{ currency: "EUR", interval: "month", amountMinor: -5 }] });
    expect(admin.status).toBe(400);
    expect(fields(admin.body)).toContain("prices.0.amountMinor");
  });

  it("opens a Stripe Checkout Session for the priced order (plan + add-ons - coupon + 19 % VAT)", async () => {
    const res = await publicCall(rig.t, "POST", "/api/public/checkout/session", {
      planCode: "starter", billingCycle: "month", email: "quote@example.org", domain: "quote.example.org", addOns: [{ code: "backup", quantity: 2 }], couponCode: "WELCOME20",
    });
    expect(res.status).toBe(201);
    expect(String(res.body.data?.paymentUrl)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/c\/pay\/cs_test_/);
    const sent = rig.stripe.requests.filter((r) => r.method === "POST" && r.path === "/v1/checkout/sessions").at(-1);
    // (999 + 2 x 250) = 1499; 20 % off = 300 -> 1199; VAT 19 % of 1199 = 227.81 -> 228; total 1427.
    expect(sent?.form).toMatchObject({ mode: "payment", "line_items[0][price_data][unit_amount]": "1427", "line_items[0][price_data][currency]": "eur", customer_email: "quote@example.org" });
    expect(sent?.idempotencyKey).toMatch(/^checkout:/);
  });

  it("refuses a forged, stale or missing signature with 400 and changes nothing", async () => {
    const { payload } = await paidCheckout(rig, { planCode: "starter", billingCycle: "month", email: "forged@example.org", domain: "forged.example.org" });
    const before = await billingCounts(rig.t);
    const forged = await deliver(rig, payload, { secret: "whsec_not-the-secret" });
    const stale = await deliver(rig, payload, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    const missing = await deliver(rig, payload, { signature: null });
    const tampered = await deliver(rig, payload.replace("forged@example.org", "attacker@example.org"), { signature: (await import("stripe")).default.webhooks.generateTestHeaderString({ payload, secret: rig.webhookSecret }) });
    for (const res of [forged, stale, missing, tampered]) {
      expect(res.status).toBe(400);
      expect(fields(res.body)).toEqual(["stripe-signature"]);
    }
    expect(await billingCounts(rig.t)).toEqual(before);
  });

  it("fulfils a paid checkout once when the event is delivered twice in sequence", async () => {
    const { payload } = await paidCheckout(rig, { planCode: "starter", billingCycle: "month", email: "Seq@Example.org", domain: "seq.example.org" });
    const before = await billingCounts(rig.t);
    const first = await deliver(rig, payload);
    expect(first.status).toBe(200);
    expect(first.body.data?.duplicate).toBe(false);
    const second = await deliver(rig, payload, { url: "/api/webhooks/stripe" });
    expect(second.status).toBe(200);
    expect(second.body.data?.duplicate).toBe(true);
    const after = await billingCounts(rig.t);
    expect(after).toMatchObject({ users: before.users + 1, tenants: before.tenants + 1, subscriptions: before.subscriptions + 1, cloudPods: before.cloudPods + 1, invoices: before.invoices + 1, events: before.events + 1 });
    const p = rig.t.coordinator.database.db.prisma;
    const user = await p.user.findUniqueOrThrow({ where: { email: "seq@example.org" }, include: { memberships: { include: { role: true } } } });
    expect(user.memberships.map((m) => m.role.name)).toEqual(["TENANT_OWNER"]);
    const sub = await p.billingSubscription.findFirstOrThrow({ where: { tenantId: user.memberships[0]?.tenantId } });
    expect(sub).toMatchObject({ status: "active", currency: "EUR", interval: "month", unitAmountMinor: 999 });
    const jobs = await p.job.findMany({ where: { cloudPodId: sub.cloudPodId ?? "" }, orderBy: { createdAt: "asc" } });
    expect(jobs.map((j) => j.type).sort()).toEqual(["CREATE_CLOUDPOD", "CREATE_WEBSITE"]);
    const invoice = await p.billingInvoice.findFirstOrThrow({ where: { subscriptionId: sub.id }, include: { payments: true } });
    expect(invoice).toMatchObject({ status: "paid", reason: "checkout", subtotalMinor: 999, taxMinor: 190, totalMinor: 1189 });
    expect(invoice.payments.map((x) => [x.method, x.amountMinor])).toEqual([["stripe", 1189]]);
    const actions = (await p.auditEvent.findMany({ where: { tenantId: sub.tenantId } })).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["TENANT_CREATED", "USER_CREATED", "SUBSCRIPTION_CREATED", "CLOUDPOD_CREATED", "INVOICE_ISSUED", "INVOICE_PAID", "CHECKOUT_COMPLETED"]));
    expect(rig.stripe.requests.some((r) => r.method === "GET" && r.path.startsWith("/v1/checkout/sessions/"))).toBe(true);
  });

  it("fulfils once when Stripe delivers the same event five times at the same moment", async () => {
    const { payload } = await paidCheckout(rig, { planCode: "starter", billingCycle: "year", email: "burst@example.org", domain: "burst.example.org" });
    const before = await billingCounts(rig.t);
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => deliver(rig, payload, { url: i % 2 ? "/api/webhooks/stripe" : "/api/public/checkout/webhook" })));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.filter((r) => r.body.data?.duplicate === false)).toHaveLength(1);
    const after = await billingCounts(rig.t);
    expect(after).toMatchObject({ users: before.users + 1, tenants: before.tenants + 1, subscriptions: before.subscriptions + 1, cloudPods: before.cloudPods + 1, invoices: before.invoices + 1, events: before.events + 1 });
    expect(after.jobs - before.jobs).toBe(2);
  });

  it("sends the welcome email whose activation link sets the password once", async () => {
    const mail = rig.smtp.messages.find((m) => m.to.includes("seq@example.org") && /activate your account/i.test(m.text));
    expect(mail).toBeDefined();
    const token = /\/reset-password#token=(mpr_[A-Za-z0-9_-]{43})/.exec(mail?.text ?? "")?.[1];
    expect(token).toBeDefined();
    expect(mail?.text).toContain("application/pdf");
    const password = "a-new-long-password-1";
    const set = await publicCall(rig.t, "POST", "/api/auth/password-reset/complete", { token, newPassword: password });
    expect(set.status, JSON.stringify(set.body)).toBeLessThan(300);
    const login = await publicCall(rig.t, "POST", "/api/auth/login", { email: "seq@example.org", password });
    expect(login.status).toBe(200);
    const again = await publicCall(rig.t, "POST", "/api/auth/password-reset/complete", { token, newPassword: "another-long-password-2" });
    expect(again.status).toBe(401);
    const tenantToken = String(login.body.data?.token);
    const mine = await rig.t.api("GET", "/api/admin/billing/invoices", undefined, tenantToken);
    expect(mine.status).toBe(200);
    expect(mine.body.meta?.total).toBe(1);
  });

  it("upgrades with a prorated invoice, downgrades with a credit note and account credit, cancels and reactivates", async () => {
    await createPlan(rig.t, "pro", 1999);
    const p = rig.t.coordinator.database.db.prisma;
    const user = await p.user.findUniqueOrThrow({ where: { email: "seq@example.org" }, include: { memberships: true } });
    const tenantId = user.memberships[0]?.tenantId ?? "";
    const sub = await p.billingSubscription.findFirstOrThrow({ where: { tenantId } });
    const bad = await rig.t.api("POST", `/api/admin/billing/subscriptions/${sub.id}/change`, { planCode: "gold" });
    expect(bad.status).toBe(400);
    expect(fields(bad.body)).toEqual(["planCode"]);
    expect((await rig.t.api("POST", `/api/admin/billing/subscriptions/${sub.id}/change`, { planCode: "pro", quantity: 0 })).status).toBe(400);

    const up = await rig.t.api("POST", `/api/admin/billing/subscriptions/${sub.id}/change`, { planCode: "pro" });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    const upDoc = await p.billingInvoice.findUniqueOrThrow({ where: { id: (up.body.data?.document as { id: string }).id }, include: { lines: { orderBy: { position: "asc" } } } });
    const expected = prorate(999, 1999, sub.currentPeriodStart, sub.currentPeriodEnd, upDoc.issuedAt);
    expect(upDoc).toMatchObject({ kind: "invoice", reason: "proration", status: "open", subtotalMinor: expected.netMinor });
    expect(upDoc.lines.map((l) => l.amountMinor)).toEqual([-expected.creditMinor, expected.chargeMinor]);
    expect(upDoc.totalMinor).toBe(upDoc.subtotalMinor + upDoc.taxMinor);

    const down = await rig.t.api("POST", `/api/admin/billing/subscriptions/${sub.id}/change`, { planCode: "starter" });
    expect(down.status).toBe(200);
    const note = await p.billingInvoice.findUniqueOrThrow({ where: { id: (down.body.data?.document as { id: string }).id } });
    expect(note).toMatchObject({ kind: "credit_note", series: "CN", status: "issued" });
    expect(note.number).toMatch(/^CN-\d{6}$/);
    expect((await p.billingCustomer.findUniqueOrThrow({ where: { tenantId } })).creditMinor).toBe(note.totalMinor);
    expect((await p.billingSubscription.findUniqueOrThrow({ where: { id: sub.id } })).unitAmountMinor).toBe(999);

    const cancel = await rig.t.api("POST", `/api/admin/billing/subscriptions/${sub.id}/cancel`);
    expect(cancel.body.data).toMatchObject({ cancelAtPeriodEnd: true, status: "active" });
    const again = await rig.t.api("POST", `/api/admin/billing/subscriptions/${sub.id}/reactivate`);
    expect(again.body.data).toMatchObject({ cancelAtPeriodEnd: false, canceledAt: null });
  });

  it("ends a subscription cancelled at period end at the renewal run, and terminates one unpaid past the schedule", async () => {
    const p = rig.t.coordinator.database.db.prisma;
    const burst = await p.billingSubscription.findFirstOrThrow({ where: { interval: "year", cloudPodId: { not: null } } });
    expect((await rig.t.api("POST", `/api/admin/billing/subscriptions/${burst.id}/cancel`)).status).toBe(200);
    const { payload } = await paidCheckout(rig, { planCode: "starter", billingCycle: "month", email: "late@example.org", domain: "late.example.org" });
    expect((await deliver(rig, payload)).status).toBe(200);
    const order = await p.billingCheckoutOrder.findFirstOrThrow({ where: { email: "late@example.org", status: "paid" } });
    const late = await p.billingSubscription.findUniqueOrThrow({ where: { id: order.subscriptionId ?? "" } });

    const endOfYear = new Date(burst.currentPeriodEnd.getTime() + 60_000);
    const run = await rig.t.coordinator.billing.runRenewals(endOfYear);
    expect(run.ended).toContain(burst.id);
    expect((await p.billingSubscription.findUniqueOrThrow({ where: { id: burst.id } })).status).toBe("canceled");
    expect(await p.job.count({ where: { type: "DELETE_CLOUDPOD", idempotencyKey: `cloudpod:delete:${burst.cloudPodId}` } })).toBe(1);
    expect(await p.billingInvoice.count({ where: { subscriptionId: burst.id, reason: "renewal" } })).toBe(0);

    const dunned = await rig.t.coordinator.billing.runDunning(new Date(endOfYear.getTime() + 40 * 86_400_000));
    expect(dunned.steps.filter((s) => s.action === "terminate").length).toBeGreaterThan(0);
    expect((await p.billingSubscription.findUniqueOrThrow({ where: { id: late.id } })).status).toBe("terminated");
    expect(await p.job.count({ where: { type: "DELETE_CLOUDPOD", idempotencyKey: `cloudpod:delete:${late.cloudPodId}` } })).toBe(1);
    expect((await rig.t.coordinator.billing.runDunning(new Date(endOfYear.getTime() + 40 * 86_400_000))).steps).toEqual([]);
  });

  it("acknowledges other event types once without changing anything else", async () => {
    const payload = rig.stripe.event("customer.created", { id: "cus_x", object: "customer" });
    const before = await billingCounts(rig.t);
    expect((await deliver(rig, payload, { url: "/api/webhooks/stripe" })).body.data?.duplicate).toBe(false);
    expect((await deliver(rig, payload, { url: "/api/webhooks/stripe" })).body.data?.duplicate).toBe(true);
    expect(await billingCounts(rig.t)).toEqual({ ...before, events: before.events + 1 });
  });
});
