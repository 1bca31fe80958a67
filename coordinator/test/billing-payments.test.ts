import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addDays } from "../src/billing/periods";
import { createPlan, deliver, paidCheckout, publicCall, startBillingRig, type BillingRig } from "./support/billing-fixtures";
import { fakeNode } from "./support/service-fixtures";

const MINUTE = 60_000;

describe("billing payments: hosted payment links for open invoices, refunds with credit notes", () => {
  let rig: BillingRig;
  let tenantToken = "";
  let subId = "";
  let cloudPodId = "";
  let firstInvoiceId = "";
  let renewalId = "";
  let payUrl = "";
  const email = "payer@example.org";

  const prisma = () => rig.t.coordinator.database.db.prisma;
  const sessionIdOf = (url: string): string => url.split("/").pop() ?? "";

  beforeAll(async () => {
    rig = await startBillingRig({ MPANEL_DUNNING_SCHEDULE: "1:reminder,7:suspend,30:terminate", MPANEL_INVOICE_DUE_DAYS: "7" });
    await fakeNode(rig.t, "web-payments", ["web"]);
    await createPlan(rig.t, "basic", 500);
    const { payload } = await paidCheckout(rig, { planCode: "basic", billingCycle: "month", email, domain: "payer.example.org" });
    const delivered = await deliver(rig, payload);
    expect(delivered.status, JSON.stringify(delivered.body)).toBe(200);
    const sub = await prisma().billingSubscription.findFirstOrThrow({ where: { cloudPodId: { not: null } } });
    subId = sub.id;
    cloudPodId = sub.cloudPodId ?? "";
    firstInvoiceId = (await prisma().billingInvoice.findFirstOrThrow({ where: { subscriptionId: sub.id, reason: "checkout" } })).id;
    const welcome = rig.smtp.messages.find((m) => m.to.includes(email) && /activate your account/i.test(m.text));
    const token = /\/reset-password#token=(mpr_[A-Za-z0-9_-]{43})/.exec(welcome?.text ?? "")?.[1];
    const password = "a-long-payer-password-1";
    expect((await publicCall(rig.t, "POST", "/api/auth/password-reset/complete", { token, newPassword: password })).status).toBeLessThan(300);
    const login = await publicCall(rig.t, "POST", "/api/auth/login", { email, password });
    expect(login.status).toBe(200);
    tenantToken = String(login.body.data?.token);
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it("emails the renewal invoice with a payment link for what is owed", async () => {
    const sub = await prisma().billingSubscription.findUniqueOrThrow({ where: { id: subId } });
    const report = await rig.t.coordinator.billing.runRenewals(new Date(sub.currentPeriodEnd.getTime() + MINUTE));
    expect(report.invoiceIds).toHaveLength(1);
    renewalId = report.invoiceIds[0] ?? "";
    const mail = rig.smtp.messages.find((m) => m.to.includes(email) && /Invoice INV-000002/.test(m.text));
    const url = /Pay it by card: (\S+)/.exec(mail?.text ?? "")?.[1] ?? "";
    const session = rig.stripe.sessions.get(sessionIdOf(url));
    expect(session).toMatchObject({ mode: "payment", amount_total: 500, currency: "eur", metadata: { invoiceId: renewalId } });
  });

  it("suspends the unpaid invoice's pod, then the tenant's pay link + a webhook delivered twice pays it once and unsuspends", async () => {
    const invoice = await prisma().billingInvoice.findUniqueOrThrow({ where: { id: renewalId } });
    expect((await rig.t.coordinator.billing.runDunning(new Date(addDays(invoice.dueAt, 7).getTime() + MINUTE))).steps.map((s) => s.action)).toContain("suspend");
    expect((await prisma().billingSubscription.findUniqueOrThrow({ where: { id: subId } })).status).toBe("suspended");

    const paid = await rig.t.api("POST", `/api/admin/billing/invoices/${firstInvoiceId}/pay`, undefined, tenantToken);
    expect(paid.status).toBe(409);
    const res = await rig.t.api("POST", `/api/admin/billing/invoices/${renewalId}/pay`, undefined, tenantToken);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    payUrl = String(res.body.data?.paymentUrl);
    const sessionId = sessionIdOf(payUrl);
    const created = rig.stripe.requests.find((r) => r.method === "POST" && r.path === "/v1/checkout/sessions" && r.form["metadata[invoiceId]"] === renewalId && rig.stripe.sessions.get(sessionId)?.url === payUrl);
    expect(created?.form).toMatchObject({ mode: "payment", "line_items[0][price_data][unit_amount]": "500", "line_items[0][price_data][currency]": "eur" });

    const session = rig.stripe.pay(sessionId);
    const payload = rig.stripe.event("checkout.session.completed", session);
    const [a, b] = await Promise.all([deliver(rig, payload, { url: "/api/webhooks/stripe" }), deliver(rig, payload, { url: "/api/webhooks/stripe" })]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.body.data?.duplicate, b.body.data?.duplicate].sort()).toEqual([false, true]);
    // Another event id for the same session (Stripe's async_payment_succeeded) must not pay twice either.
    expect((await deliver(rig, rig.stripe.event("checkout.session.async_payment_succeeded", session))).status).toBe(200);

    const after = await prisma().billingInvoice.findUniqueOrThrow({ where: { id: renewalId }, include: { payments: true } });
    expect(after).toMatchObject({ status: "paid", paidMinor: 500 });
    expect(after.payments.map((p) => [p.method, p.amountMinor, p.reference])).toEqual([["stripe", 500, session.payment_intent]]);
    expect((await prisma().billingSubscription.findUniqueOrThrow({ where: { id: subId } })).status).toBe("active");
    // Restored through the dunning path: one SUSPEND_CLOUDPOD job with suspended=false (no agent runs it in this file).
    const unsuspend = await prisma().job.findMany({ where: { type: "SUSPEND_CLOUDPOD", payload: { path: ["cloudPodId"], equals: cloudPodId } }, orderBy: { createdAt: "asc" } });
    expect(unsuspend.map((j) => (j.payload as { suspended: boolean }).suspended)).toEqual([true, false]);
    expect((await prisma().cloudPod.findUniqueOrThrow({ where: { id: cloudPodId } })).status).toBe("running");
    expect(rig.smtp.messages.filter((m) => m.to.includes(email) && /Receipt for INV-000002/.test(m.text))).toHaveLength(1);
    expect(await prisma().auditEvent.count({ where: { action: "INVOICE_PAID", targetId: renewalId } })).toBe(1);
  });

  it("refunds a card payment through Stripe with a credit note, numbers credit notes gaplessly, refuses over-refunds", async () => {
    const forbidden = await rig.t.api("POST", `/api/admin/billing/invoices/${renewalId}/refund`, { amountMinor: 100, reason: "goodwill" }, tenantToken);
    expect(forbidden.status).toBe(403);
    const notesBefore = await prisma().billingInvoice.count({ where: { series: "CN" } });
    const over = await rig.t.api("POST", `/api/admin/billing/invoices/${renewalId}/refund`, { amountMinor: 501, reason: "too much" });
    expect(over.status).toBe(400);
    expect(over.body.details?.map((d) => d.field)).toEqual(["amountMinor"]);
    expect(await prisma().billingInvoice.count({ where: { series: "CN" } })).toBe(notesBefore);
    expect(rig.stripe.refunds).toHaveLength(0);

    const first = await rig.t.api("POST", `/api/admin/billing/invoices/${renewalId}/refund`, { amountMinor: 200, reason: "outage credit" });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const second = await rig.t.api("POST", `/api/admin/billing/invoices/${renewalId}/refund`, { amountMinor: 300, reason: "cancelled" });
    expect(second.status, JSON.stringify(second.body)).toBe(201);
    const payment = await prisma().billingPayment.findFirstOrThrow({ where: { invoiceId: renewalId } });
    expect(rig.stripe.refunds.map((r) => [r.payment_intent, r.amount])).toEqual([[payment.reference, 200], [payment.reference, 300]]);
    const again = await rig.t.api("POST", `/api/admin/billing/invoices/${renewalId}/refund`, { amountMinor: 1, reason: "one more" });
    expect(again.status).toBe(400);
    expect(again.body.details?.map((d) => d.field)).toEqual(["amountMinor"]);

    const notes = await prisma().billingInvoice.findMany({ where: { series: "CN" }, orderBy: { sequence: "asc" }, include: { lines: true } });
    expect(notes.map((n) => n.sequence)).toEqual(notes.map((_, i) => i + 1));
    const refundNotes = notes.filter((n) => n.creditsInvoiceId === renewalId);
    expect(refundNotes.map((n) => [n.kind, n.reason, n.status, n.totalMinor])).toEqual([
      ["credit_note", "refund", "issued", 200], ["credit_note", "refund", "issued", 300],
    ]);
    expect(refundNotes[0]?.lines[0]?.description).toContain("outage credit");
    expect(await prisma().billingInvoice.findUniqueOrThrow({ where: { id: renewalId } })).toMatchObject({ paidMinor: 500, refundedMinor: 500 });
    expect(await prisma().auditEvent.count({ where: { action: "INVOICE_REFUNDED", targetId: renewalId } })).toBe(2);
  });

  it("records a manual refund for a bank transfer without calling Stripe", async () => {
    const sub = await prisma().billingSubscription.findUniqueOrThrow({ where: { id: subId } });
    const report = await rig.t.coordinator.billing.runRenewals(new Date(sub.currentPeriodEnd.getTime() + MINUTE));
    const invoiceId = report.invoiceIds[0] ?? "";
    expect((await rig.t.api("POST", `/api/admin/billing/invoices/${invoiceId}/payments`, { amountMinor: 500, currency: "EUR", reference: "bank 7" })).status).toBe(201);
    const stripeCalls = rig.stripe.requests.filter((r) => r.path === "/v1/refunds").length;
    const res = await rig.t.api("POST", `/api/admin/billing/invoices/${invoiceId}/refund`, { amountMinor: 500, reason: "double transfer" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(rig.stripe.requests.filter((r) => r.path === "/v1/refunds")).toHaveLength(stripeCalls);
    expect(await prisma().billingRefund.findMany({ where: { invoiceId }, select: { method: true, amountMinor: true, stripeRefundId: true } })).toEqual([{ method: "bank_transfer", amountMinor: 500, stripeRefundId: null }]);
  });
});
