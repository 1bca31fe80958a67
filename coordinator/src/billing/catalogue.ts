import { Runtime } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, type Actor } from "../auth/rbac";
import type { Database, Prisma, Tx } from "../db/client";
import { AppError } from "../errors";
import { Currency, Interval, MinorUnits } from "./money";

const count = z.number().int().min(0).max(1_000_000);

/** What a plan provisions when paid: the site's runtime and whether DNS, mail and TLS come with it. */
export const Provisioning = z.strictObject({
  runtime: Runtime.default("php"),
  dns: z.boolean().default(true),
  mail: z.boolean().default(true),
  tls: z.boolean().default(true),
});

/** Body of `POST /api/admin/billing/products`: a plan (`hosting`) or an add-on, with its prices. */
export const ProductInput = z.strictObject({
  code: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be 1-63 characters of a-z, 0-9 and hyphens"),
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000).default(""),
  type: z.enum(["hosting", "addon"]),
  features: z.array(z.string().trim().min(1).max(200)).max(50).default([]),
  quotas: z.strictObject({ diskMb: count, sites: count, mailboxes: count, databases: count }).partial().default({}),
  provisioning: Provisioning.default({ runtime: "php", dns: true, mail: true, tls: true }),
  prices: z.array(z.strictObject({ currency: Currency, interval: Interval, amountMinor: MinorUnits })).min(1).max(20)
    .superRefine((prices, ctx) => {
      const seen = new Set<string>();
      prices.forEach((p, i) => {
        const key = `${p.currency}/${p.interval}`;
        if (seen.has(key)) ctx.addIssue({ code: "custom", path: [i, "interval"], message: `a second ${key} price` });
        seen.add(key);
      });
    }),
});

/** Body of `POST /api/admin/billing/coupons`: a percentage or an amount in one currency off the first payment. */
export const CouponInput = z.strictObject({
  code: z.string().regex(/^[A-Z0-9][A-Z0-9_-]{0,39}$/, "must be 1-40 characters of A-Z, 0-9, _ and -"),
  percentOff: z.number().int().min(1).max(100).optional(),
  amountOffMinor: MinorUnits.min(1).optional(),
  currency: Currency.optional(),
  validUntil: z.iso.datetime({ offset: true }).optional(),
}).superRefine((c, ctx) => {
  if ((c.percentOff === undefined) === (c.amountOffMinor === undefined)) ctx.addIssue({ code: "custom", path: ["percentOff"], message: "give exactly one of percentOff and amountOffMinor" });
  if (c.amountOffMinor !== undefined && !c.currency) ctx.addIssue({ code: "custom", path: ["currency"], message: "required with amountOffMinor" });
});

/** An ISO 3166-1 alpha-2 country code. */
export const Country = z.string().regex(/^[A-Z]{2}$/, "must be an ISO 3166-1 alpha-2 code such as DE");

/** Body of `POST /api/admin/billing/tax-rates`: a buyer country's rate in basis points (2100 = 21 %), set or replaced. */
export const TaxRateInput = z.strictObject({
  country: Country,
  rateBp: z.number().int().min(0).max(10_000),
  inclusive: z.boolean().default(false),
});

function fieldError(field: string, message: string): AppError {
  return new AppError("validation", `${field}: ${message}`, [{ field, message }]);
}

/**
 * The active price of product `code` (of `type`) in `currency` and `interval`, inside `tx`.
 * 400 naming `field` for an unknown product and `intervalField` / `currencyField` when it
 * has no such price.
 */
export async function resolvePrice(tx: Tx | Database["prisma"], q: { code: string; type: "hosting" | "addon"; interval: string; currency: string; field: string; intervalField: string; currencyField: string }) {
  const product = await tx.billingProduct.findFirst({ where: { code: q.code, type: q.type, active: true }, include: { prices: { where: { active: true } } } });
  if (!product) throw fieldError(q.field, `unknown ${q.type === "hosting" ? "plan" : "add-on"} ${q.code}`);
  const inInterval = product.prices.filter((p) => p.interval === q.interval);
  if (inInterval.length === 0) throw fieldError(q.intervalField, `${q.code} is not sold ${q.interval === "month" ? "monthly" : "yearly"}`);
  const price = inInterval.find((p) => p.currency === q.currency);
  if (!price) throw fieldError(q.currencyField, `${q.code} has no ${q.currency} price`);
  return { product, price };
}

/** Products, prices, coupons and tax rates; the public lists feed a marketing site. */
export function createCatalogue(deps: { db: Database }) {
  const { prisma } = deps.db;
  const publicView = (type?: "hosting") => prisma.billingProduct.findMany({
    where: { active: true, ...(type ? { type } : {}) },
    orderBy: { code: "asc" },
    select: { code: true, name: true, description: true, type: true, features: true, quotas: true, prices: { where: { active: true }, select: { currency: true, interval: true, amountMinor: true }, orderBy: [{ currency: "asc" }, { interval: "asc" }] } },
  });
  return {
    /** Every active product with its prices (public). */
    listProducts: () => publicView(),
    /** The hosting plans only (public). */
    listPlans: () => publicView("hosting"),

    /** Creates a product with its prices (`billing:manage`); 409 naming `code` when taken. */
    async createProduct(actor: Actor, input: z.output<typeof ProductInput>, requestId: string) {
      checkPermission(actor, "billing:manage");
      return prisma.$transaction(async (tx) => {
        if (await tx.billingProduct.findUnique({ where: { code: input.code } })) throw new AppError("conflict", `code ${input.code} is taken`, [{ field: "code", message: "already taken" }]);
        const product = await tx.billingProduct.create({
          data: {
            code: input.code, name: input.name, description: input.description, type: input.type, features: input.features,
            quotas: input.quotas as Prisma.InputJsonValue, provisioning: input.provisioning as Prisma.InputJsonValue,
            prices: { create: input.prices },
          },
          include: { prices: true },
        });
        await audit(tx, { action: "PRODUCT_CREATED", targetType: "product", targetId: product.id, actorUserId: actor.userId, requestId, data: { code: input.code, prices: input.prices } });
        return product;
      });
    },

    /** Every product with its prices, active or not (`billing:read` on the platform). */
    async adminList(actor: Actor) {
      checkPermission(actor, "billing:read");
      return prisma.billingProduct.findMany({ orderBy: { code: "asc" }, include: { prices: true } });
    },

    /** Creates a coupon (`billing:manage`); 409 naming `code` when taken. */
    async createCoupon(actor: Actor, input: z.output<typeof CouponInput>, requestId: string) {
      checkPermission(actor, "billing:manage");
      return prisma.$transaction(async (tx) => {
        if (await tx.billingCoupon.findUnique({ where: { code: input.code } })) throw new AppError("conflict", `coupon ${input.code} exists`, [{ field: "code", message: "already taken" }]);
        const coupon = await tx.billingCoupon.create({
          data: { code: input.code, percentOff: input.percentOff ?? null, amountOffMinor: input.amountOffMinor ?? null, currency: input.currency ?? null, validUntil: input.validUntil ? new Date(input.validUntil) : null },
        });
        await audit(tx, { action: "COUPON_CREATED", targetType: "coupon", targetId: coupon.id, actorUserId: actor.userId, requestId, data: { code: input.code } });
        return coupon;
      });
    },

    /** Sets the tax rate of a buyer country (`billing:manage`). */
    async setTaxRate(actor: Actor, input: z.output<typeof TaxRateInput>, requestId: string) {
      checkPermission(actor, "billing:manage");
      return prisma.$transaction(async (tx) => {
        const rate = await tx.billingTaxRate.upsert({ where: { country: input.country }, create: input, update: input });
        await audit(tx, { action: "TAX_RATE_SET", targetType: "tax_rate", targetId: input.country, actorUserId: actor.userId, requestId, data: input });
        return rate;
      });
    },
  };
}

/** The catalogue service. */
export type Catalogue = ReturnType<typeof createCatalogue>;
