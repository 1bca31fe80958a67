import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueDocument } from "../src/billing/invoices";
import { mulDivRound } from "../src/billing/money";
import { addInterval } from "../src/billing/periods";
import { prorate, splitAt } from "../src/billing/proration";
import { computeTotals, taxRuleFor } from "../src/billing/tax";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";

const amount = fc.integer({ min: 0, max: 50_000_000 });
const rateBp = fc.integer({ min: 0, max: 10_000 });
const HOUR = 3_600_000;

/** round(n / d) with halves up, for n >= 0, d > 0: the exact rational reference in BigInt. */
const roundHalfUp = (n: bigint, d: bigint): bigint => (2n * n + d) / (2n * d);

describe("billing properties (fast-check)", () => {
  it("mulDivRound is the exactly rounded rational a*b/c", () => {
    fc.assert(fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 40 }), (a, b, c) => {
      const magnitude = (BigInt(Math.abs(a)) * BigInt(b)) / BigInt(c);
      if (magnitude >= BigInt(Number.MAX_SAFE_INTEGER)) {
        expect(() => mulDivRound(a, b, c)).toThrow(RangeError);
        return;
      }
      const r = BigInt(mulDivRound(a, b, c));
      const exact2 = 2n * BigInt(a) * BigInt(b);
      // |a*b - r*c| <= c/2, and a tie goes away from zero.
      const diff2 = exact2 - 2n * r * BigInt(c);
      expect(diff2 <= BigInt(c) && diff2 >= -BigInt(c)).toBe(true);
      expect(Number.isSafeInteger(Number(r))).toBe(true);
    }));
  });

  it("invoice total = sum of lines + tax (exclusive), tax inside the total (inclusive), all integers", () => {
    const lines = fc.array(fc.record({ quantity: fc.integer({ min: 1, max: 50 }), unit: fc.integer({ min: 0, max: 1_000_000 }) }), { minLength: 1, maxLength: 12 });
    fc.assert(fc.property(lines, rateBp, fc.boolean(), (ls, bp, inclusive) => {
      const amounts = ls.map((l) => l.quantity * l.unit);
      const sum = amounts.reduce((a, b) => a + b, 0);
      const t = computeTotals(amounts, { rateBp: bp, inclusive, reverseCharge: false });
      for (const v of Object.values(t)) expect(Number.isSafeInteger(v)).toBe(true);
      expect(t.subtotalMinor).toBe(sum);
      if (inclusive) {
        expect(t.totalMinor).toBe(sum);
        const net = sum - t.taxMinor;
        expect(Number(roundHalfUp(BigInt(sum) * 10_000n, BigInt(10_000 + bp)))).toBe(net);
      } else {
        expect(t.taxMinor).toBe(Number(roundHalfUp(BigInt(sum) * BigInt(bp), 10_000n)));
        expect(t.totalMinor).toBe(sum + t.taxMinor);
      }
    }));
  });

  it("reverse charge applies only to EU businesses in another EU country", () => {
    const rate = { rateBp: 2100, inclusive: false };
    expect(taxRuleFor({ country: "NL", vatId: "NL123456789B01" }, "DE", rate)).toEqual({ rateBp: 0, inclusive: false, reverseCharge: true });
    expect(taxRuleFor({ country: "NL", vatId: null }, "DE", rate).reverseCharge).toBe(false);
    expect(taxRuleFor({ country: "DE", vatId: "DE123456789" }, "DE", rate).reverseCharge).toBe(false);
    expect(taxRuleFor({ country: "US", vatId: "US123" }, "DE", rate).reverseCharge).toBe(false);
  });

  it("proration conserves money to the minor unit and a same-price change nets zero", () => {
    const period = fc.record({ start: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), length: fc.integer({ min: HOUR, max: 400 * 24 * HOUR }) });
    fc.assert(fc.property(period, amount, amount, fc.double({ min: 0, max: 1, noNaN: true }), ({ start, length }, oldA, newA, f) => {
      const s = new Date(start);
      const e = new Date(start + length);
      const at = new Date(start + Math.floor(length * f));
      const split = splitAt(oldA, s, e, at);
      expect(split.usedMinor + split.unusedMinor).toBe(oldA);
      expect(split.unusedMinor >= 0 && split.unusedMinor <= oldA).toBe(true);
      const remaining = BigInt(e.getTime() - at.getTime());
      const diff2 = 2n * BigInt(split.unusedMinor) * BigInt(length) - 2n * BigInt(oldA) * remaining;
      expect(diff2 <= BigInt(length) && diff2 >= -BigInt(length)).toBe(true);
      const p = prorate(oldA, newA, s, e, at);
      expect(p.netMinor).toBe(p.chargeMinor - p.creditMinor);
      expect(prorate(oldA, oldA, s, e, at).netMinor).toBe(0);
    }));
  });

  it("a chain of plan changes charges exactly the sum of the prorated segments", () => {
    fc.assert(fc.property(fc.array(amount, { minLength: 2, maxLength: 6 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 5, maxLength: 5 }), (prices, cuts) => {
      const s = new Date(Date.UTC(2027, 0, 31));
      const e = addInterval(s, "month");
      const len = e.getTime() - s.getTime();
      const times = cuts.slice(0, prices.length - 1).map((c) => s.getTime() + Math.floor(c * len)).sort((a, b) => a - b).map((ms) => new Date(ms));
      let paid = prices[0] ?? 0;
      times.forEach((at, i) => { paid += prorate(prices[i] ?? 0, prices[i + 1] ?? 0, s, e, at).netMinor; });
      const bounds = [s, ...times, e];
      const segments = prices.map((p, j) => splitAt(p, s, e, bounds[j] ?? s).unusedMinor - splitAt(p, s, e, bounds[j + 1] ?? e).unusedMinor);
      expect(paid).toBe(segments.reduce((a, b) => a + b, 0));
      for (const seg of segments) expect(seg).toBeGreaterThanOrEqual(0);
    }));
  });

  it("periods: month ends clamp and a year is 12 months", () => {
    expect(addInterval(new Date("2027-01-31T10:00:00Z"), "month").toISOString()).toBe("2027-02-28T10:00:00.000Z");
    expect(addInterval(new Date("2028-01-31T10:00:00Z"), "month").toISOString()).toBe("2028-02-29T10:00:00.000Z");
    expect(addInterval(new Date("2027-12-15T00:00:00Z"), "month").toISOString()).toBe("2028-01-15T00:00:00.000Z");
    expect(addInterval(new Date("2028-02-29T00:00:00Z"), "year").toISOString()).toBe("2029-02-28T00:00:00.000Z");
  });
});

describe("billing properties on PostgreSQL", () => {
  let t: TestCoordinator;
  let tenantId = "";
  let priceId = "";
  let productId = "";

  beforeAll(async () => {
    t = await startTestCoordinator({ MPANEL_BILLING_COUNTRY: "DE" });
    const p = t.coordinator.database.db.prisma;
    tenantId = (await p.tenant.create({ data: { name: "Props", slug: "props" } })).id;
    await p.billingCustomer.create({ data: { tenantId, email: "props@example.org", country: "DE", currency: "EUR" } });
    await p.billingTaxRate.create({ data: { country: "DE", rateBp: 1900 } });
    const product = await p.billingProduct.create({ data: { code: "p", name: "Plan P", type: "hosting", prices: { create: [{ currency: "EUR", interval: "month", amountMinor: 1234 }] } }, include: { prices: true } });
    productId = product.id;
    priceId = product.prices[0]?.id ?? "";
  });
  afterAll(async () => {
    await t?.stop();
  });

  async function sequences(series: string): Promise<number[]> {
    const rows = await t.coordinator.database.db.prisma.billingInvoice.findMany({ where: { series }, select: { sequence: true }, orderBy: { sequence: "asc" } });
    return rows.map((r) => r.sequence);
  }

  it("stored invoices keep total = sum of lines + tax", async () => {
    const p = t.coordinator.database.db.prisma;
    await fc.assert(fc.asyncProperty(fc.array(fc.record({ quantity: fc.integer({ min: 1, max: 9 }), unit: fc.integer({ min: 0, max: 100_000 }) }), { minLength: 1, maxLength: 6 }), rateBp, async (ls, bp) => {
      const now = new Date();
      const doc = await p.$transaction((tx) => issueDocument(tx, {
        tenantId, subscriptionId: null, reason: "proration", currency: "EUR", country: "DE", vatId: null, issuedAt: now, dueAt: now,
        tax: { rateBp: bp, inclusive: false, reverseCharge: false }, lines: ls.map((l, i) => ({ description: `line ${i}`, quantity: l.quantity, unitAmountMinor: l.unit })),
      }));
      const stored = await p.billingInvoice.findUniqueOrThrow({ where: { id: doc.id }, include: { lines: true } });
      const sum = stored.lines.reduce((a, l) => a + l.amountMinor, 0);
      expect(stored.subtotalMinor).toBe(sum);
      expect(stored.totalMinor).toBe(sum + stored.taxMinor);
    }), { numRuns: 15 });
  });

  it("numbers stay gapless when concurrent issuers commit and roll back", async () => {
    const p = t.coordinator.database.db.prisma;
    await fc.assert(fc.asyncProperty(fc.array(fc.boolean(), { minLength: 2, maxLength: 12 }), async (rollbacks) => {
      const now = new Date();
      await Promise.allSettled(rollbacks.map((rollback) => p.$transaction(async (tx) => {
        await issueDocument(tx, { tenantId, subscriptionId: null, reason: "proration", currency: "EUR", country: "DE", vatId: null, issuedAt: now, dueAt: now, tax: { rateBp: 0, inclusive: false, reverseCharge: false }, lines: [{ description: "x", quantity: 1, unitAmountMinor: 100 }] });
        if (rollback) throw new Error("rolled back on purpose");
      })));
      const seq = await sequences("INV");
      expect(seq).toEqual(seq.map((_, i) => i + 1));
    }), { numRuns: 10 });
  });

  it("a renewal run repeated (also concurrently) for one period makes one invoice, and numbering stays gapless", async () => {
    const p = t.coordinator.database.db.prisma;
    const billing = t.coordinator.billing;
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 27 }), async (subs, repeats, dayOffset) => {
      const start = new Date(Date.UTC(2030, 0, 1 + dayOffset));
      const end = addInterval(start, "month");
      const ids: string[] = [];
      for (let i = 0; i < subs; i++) {
        ids.push((await p.billingSubscription.create({ data: { tenantId, productId, priceId, currency: "EUR", interval: "month", quantity: 1 + i, unitAmountMinor: 1234, currentPeriodStart: start, currentPeriodEnd: end } })).id);
      }
      const at = new Date(end.getTime() + HOUR);
      const runs = await Promise.all(Array.from({ length: repeats }, () => billing.runRenewals(at)));
      for (let i = 0; i < repeats; i++) await billing.runRenewals(at);
      expect(runs.filter((r) => !r.skipped).length).toBeGreaterThanOrEqual(1);
      for (const [i, id] of ids.entries()) {
        const invoices = await p.billingInvoice.findMany({ where: { subscriptionId: id }, include: { lines: true } });
        expect(invoices).toHaveLength(1);
        expect(invoices[0]?.periodStart?.toISOString()).toBe(end.toISOString());
        expect(invoices[0]?.lines[0]?.amountMinor).toBe(1234 * (1 + i));
        expect(invoices[0]?.totalMinor).toBe(1234 * (1 + i) + mulDivRound(1234 * (1 + i), 1900, 10_000));
        const sub = await p.billingSubscription.findUniqueOrThrow({ where: { id } });
        expect(sub.currentPeriodStart.toISOString()).toBe(end.toISOString());
      }
      const seq = await sequences("INV");
      expect(seq).toEqual(seq.map((_, i) => i + 1));
    }), { numRuns: 8 });
  });
});
