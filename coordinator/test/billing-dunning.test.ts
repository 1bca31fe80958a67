import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { addDays } from "../src/billing/periods";
import { createPlan, deliver, paidCheckout, startBillingRig, type BillingRig } from "./support/billing-fixtures";
import { eventually, fetchSite, prepareWebNode, startTestAgent, waitForJob, type TestWebNode } from "./support/harness";

const MINUTE = 60_000;

describe("billing end to end: a paid order provisions, an unpaid invoice suspends through real nginx, paying restores", () => {
  let rig: BillingRig;
  let node: TestWebNode;
  let agent: RunningAgent;
  const domain = "dunning.example.org";
  const email = "dunning@example.org";

  beforeAll(async () => {
    rig = await startBillingRig({ MPANEL_DUNNING_SCHEDULE: "1:reminder,3:reminder,7:suspend,30:terminate", MPANEL_INVOICE_DUE_DAYS: "7" });
    node = await prepareWebNode(rig.t);
    agent = await startTestAgent(rig.t, node);
    await createPlan(rig.t, "basic", 500);
  });
  afterAll(async () => {
    await agent?.stop(2000);
    await node?.stop();
    await rig?.stop();
  });

  const prisma = () => rig.t.coordinator.database.db.prisma;
  const mailsTo = (subject: RegExp) => rig.smtp.messages.filter((m) => m.to.includes(email) && subject.test(m.text));

  async function podJob(cloudPodId: string, type: string, after: Date): Promise<string> {
    return eventually(`${type} job`, async () => (await prisma().job.findFirst({ where: { cloudPodId: null, type, tenantId: { not: null }, createdAt: { gte: after }, payload: { path: ["cloudPodId"], equals: cloudPodId } }, orderBy: { createdAt: "desc" } }))?.id);
  }

  it("walks checkout -> webhook -> agent-provisioned site -> renewal -> reminders -> suspended page -> payment -> site back", async () => {
    const { payload } = await paidCheckout(rig, { planCode: "basic", billingCycle: "month", email, domain });
    expect((await deliver(rig, payload)).status).toBe(200);
    const sub = await prisma().billingSubscription.findFirstOrThrow({ where: { cloudPodId: { not: null } } });
    const jobs = await prisma().job.findMany({ where: { cloudPodId: sub.cloudPodId } });
    for (const job of jobs) expect((await waitForJob(rig.t, job.id)).status, job.type).toBe("succeeded");
    const live = await fetchSite(node, domain);
    expect(live.status).toBe(200);
    expect(live.body).toContain(`<h1>${domain}</h1>`);
    expect(mailsTo(/activate your account/i)).toHaveLength(1);

    // The clock moves past the period: the renewal run invoices the next period once.
    const renewal = await rig.t.coordinator.billing.runRenewals(new Date(sub.currentPeriodEnd.getTime() + MINUTE));
    expect(renewal.invoiceIds).toHaveLength(1);
    const invoice = await prisma().billingInvoice.findUniqueOrThrow({ where: { id: renewal.invoiceIds[0] } });
    expect(invoice).toMatchObject({ status: "open", reason: "renewal", number: "INV-000002", totalMinor: 500 });
    expect(mailsTo(/Invoice INV-000002/)).toHaveLength(1);

    // Reminders on day 1 and day 3 after the due date; the site keeps serving.
    const day = (n: number) => new Date(addDays(invoice.dueAt, n).getTime() + MINUTE);
    expect((await rig.t.coordinator.billing.runDunning(day(1))).steps.map((s) => s.action)).toEqual(["reminder"]);
    expect((await rig.t.coordinator.billing.runDunning(day(1))).steps).toEqual([]);
    expect((await rig.t.coordinator.billing.runDunning(day(3))).steps.map((s) => s.action)).toEqual(["reminder"]);
    expect(mailsTo(/Payment reminder: invoice INV-000002/)).toHaveLength(2);
    expect((await prisma().billingSubscription.findUniqueOrThrow({ where: { id: sub.id } })).status).toBe("past_due");
    expect((await fetchSite(node, domain)).status).toBe(200);

    // Day 7: suspension through SUSPEND_CLOUDPOD; nginx answers the suspended page.
    const suspendedAt = new Date();
    expect((await rig.t.coordinator.billing.runDunning(day(7))).steps.map((s) => s.action)).toEqual(["suspend"]);
    const suspendJob = await podJob(sub.cloudPodId ?? "", "SUSPEND_CLOUDPOD", suspendedAt);
    expect((await waitForJob(rig.t, suspendJob)).status).toBe("succeeded");
    const suspended = await fetchSite(node, domain);
    expect(suspended.status).toBe(503);
    expect(suspended.body.toLowerCase()).toContain("suspended");
    expect(mailsTo(/Services suspended/)).toHaveLength(1);

    // A bank transfer recorded by an admin settles it: the pod is unsuspended and the site is back.
    const wrongCurrency = await rig.t.api("POST", `/api/admin/billing/invoices/${invoice.id}/payments`, { amountMinor: 500, currency: "USD", reference: "bank 42" });
    expect(wrongCurrency.status).toBe(400);
    expect(wrongCurrency.body.details?.map((d) => d.field)).toEqual(["currency"]);
    const paidAt = new Date();
    const paid = await rig.t.api("POST", `/api/admin/billing/invoices/${invoice.id}/payments`, { amountMinor: 500, currency: "EUR", reference: "bank 42" });
    expect(paid.status, JSON.stringify(paid.body)).toBe(201);
    expect(paid.body.data?.restored).toBe(true);
    const unsuspendJob = await podJob(sub.cloudPodId ?? "", "SUSPEND_CLOUDPOD", paidAt);
    expect((await waitForJob(rig.t, unsuspendJob)).status).toBe("succeeded");
    const back = await fetchSite(node, domain);
    expect(back.status).toBe(200);
    expect(back.body).toContain(`<h1>${domain}</h1>`);
    expect((await prisma().billingSubscription.findUniqueOrThrow({ where: { id: sub.id } })).status).toBe("active");
    expect(mailsTo(/Receipt for INV-000002/)).toHaveLength(1);

    // Nothing is left to dun: the termination day passes quietly.
    expect((await rig.t.coordinator.billing.runDunning(day(31))).steps).toEqual([]);
    const pdf = await rig.t.coordinator.app.inject({ method: "GET", url: `/api/admin/billing/invoices/${invoice.id}/pdf`, headers: { authorization: `Bearer ${rig.t.adminToken}` } });
    expect(pdf.statusCode).toBe(200);
    expect(pdf.rawPayload.subarray(0, 5).toString()).toBe("%PDF-");
  });
});
