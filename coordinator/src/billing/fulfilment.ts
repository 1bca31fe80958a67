import { randomUUID } from "node:crypto";
import { audit } from "../audit";
import { permissions, type Actor } from "../auth/rbac";
import { hashSecret, newSecret } from "../auth/tokens";
import { insertUser } from "../auth/users";
import type { Prisma, Tx } from "../db/client";
import type { HostingService } from "../hosting/service";
import type { Enqueue } from "../jobs/enqueue";
import { Provisioning } from "./catalogue";
import type { Quote } from "./checkout";
import { applyPayment, issueDocument } from "./invoices";
import type { Interval } from "./money";
import { addInterval } from "./periods";

/**
 * The actor of billing's own changes (paid orders, dunning): every platform permission, and
 * the nil UUID as its user id, so audit events show "system" rather than a person.
 */
export const SYSTEM_ACTOR: Actor = {
  userId: "00000000-0000-0000-0000-000000000000",
  sessionId: "00000000-0000-0000-0000-000000000000",
  platformRole: null,
  platformPermissions: new Set(permissions),
  tenantGrants: new Map(),
};

/** How long the activation (set-password) link of a new account works (ms): 7 days. */
export const ACTIVATION_TTL_MS = 7 * 86_400_000;

/** The order as stored at checkout. */
export interface PaidOrder {
  id: string;
  email: string;
  planPriceId: string;
  currency: string;
  interval: string;
  domain: string | null;
  country: string;
  vatId: string | null;
  quote: Prisma.JsonValue;
}

/** What a fulfilled order made, for the emails sent after COMMIT. */
export interface Fulfilment {
  email: string;
  userId: string;
  tenantId: string;
  subscriptionId: string;
  cloudPodId: string | null;
  invoiceId: string;
  /** A single-use set-password token when the account is new (it goes into the activation link). */
  activationToken: string | null;
  planName: string;
}

function slugFor(source: string): string {
  const base = source.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "customer";
  return `${base}-${randomUUID().slice(0, 6)}`;
}

/**
 * Fulfils a paid order inside the caller's transaction (spec section 1): reuses the user of
 * that email or creates one (with an unusable password until activation), reuses the tenant
 * they own or creates one, records the billing profile, the subscription for the first period
 * [now, now + interval), orders the CloudPod workflow through hosting (`provisionCloudPodIn`:
 * CREATE_CLOUDPOD and the rest, with the plan's runtime/DNS/mail/TLS options), issues the first
 * invoice and marks it paid by Stripe, and writes the audit events. `unusableHash` is an argon2id
 * hash computed before the transaction.
 */
export async function fulfilOrder(tx: Tx, enqueue: Enqueue, deps: { hosting: HostingService }, order: PaidOrder, payment: { reference: string; stripeCustomerId: string | null }, unusableHash: string, now: Date, requestId: string): Promise<Fulfilment> {
  const quote = order.quote as unknown as Quote;
  const price = await tx.billingPrice.findUniqueOrThrow({ where: { id: order.planPriceId }, include: { product: true } });
  const ownerRole = await tx.role.findFirstOrThrow({ where: { name: "TENANT_OWNER", scope: "tenant" } });
  const existing = await tx.user.findUnique({ where: { email: order.email }, include: { memberships: { where: { roleId: ownerRole.id }, orderBy: { createdAt: "asc" } } } });
  let tenantId = existing?.memberships[0]?.tenantId ?? null;
  if (!tenantId) {
    const tenant = await tx.tenant.create({ data: { name: order.domain ?? order.email, slug: slugFor(order.domain ?? order.email.split("@")[0] ?? "customer") } });
    tenantId = tenant.id;
    await audit(tx, { action: "TENANT_CREATED", targetType: "tenant", targetId: tenantId, tenantId, actorUserId: SYSTEM_ACTOR.userId, requestId, data: { name: tenant.name, slug: tenant.slug, checkoutOrderId: order.id } });
  }
  let userId: string;
  let activationToken: string | null = null;
  if (existing) {
    userId = existing.id;
    if (!existing.memberships.some((m) => m.tenantId === tenantId)) await tx.tenantUser.create({ data: { tenantId, userId, roleId: ownerRole.id } });
  } else {
    userId = await insertUser(tx, { email: order.email, name: order.email.split("@")[0] ?? order.email, tenant: { id: tenantId, role: "TENANT_OWNER" }, actorUserId: SYSTEM_ACTOR.userId }, unusableHash);
    activationToken = newSecret("mpr_");
    await tx.passwordReset.create({ data: { userId, tokenHash: hashSecret(activationToken), expiresAt: new Date(now.getTime() + ACTIVATION_TTL_MS) } });
  }
  await tx.billingCustomer.upsert({
    where: { tenantId },
    create: { tenantId, email: order.email, country: order.country, vatId: order.vatId, currency: order.currency, stripeCustomerId: payment.stripeCustomerId },
    update: { email: order.email, country: order.country, vatId: order.vatId, ...(payment.stripeCustomerId ? { stripeCustomerId: payment.stripeCustomerId } : {}) },
  });
  const periodEnd = addInterval(now, order.interval as Interval);
  const subscription = await tx.billingSubscription.create({
    data: {
      tenantId, productId: price.productId, priceId: price.id, currency: order.currency, interval: order.interval, unitAmountMinor: price.amountMinor,
      addOns: quote.addOns as unknown as Prisma.InputJsonValue, currentPeriodStart: now, currentPeriodEnd: periodEnd,
    },
  });
  let cloudPodId: string | null = null;
  if (order.domain) {
    const options = Provisioning.parse(price.product.provisioning);
    const provisioned = await deps.hosting.provisionCloudPodIn(tx, enqueue, SYSTEM_ACTOR, { tenantId, domain: order.domain, name: order.domain, ...options }, requestId);
    cloudPodId = provisioned.cloudPod.id;
    await tx.billingSubscription.update({ where: { id: subscription.id }, data: { cloudPodId } });
  }
  await audit(tx, { action: "SUBSCRIPTION_CREATED", targetType: "subscription", targetId: subscription.id, tenantId, actorUserId: SYSTEM_ACTOR.userId, requestId, data: { plan: price.product.code, interval: order.interval, currency: order.currency, cloudPodId } });
  const invoice = await issueDocument(tx, {
    tenantId, subscriptionId: subscription.id, reason: "checkout", currency: order.currency, tax: quote.tax, country: order.country, vatId: order.vatId,
    lines: quote.lines.map((l) => ({ ...l, periodStart: now, periodEnd })), issuedAt: now, dueAt: now, periodStart: now, periodEnd,
    actorUserId: SYSTEM_ACTOR.userId, requestId,
  });
  if (invoice.status === "open") await applyPayment(tx, invoice.id, { method: "stripe", amountMinor: invoice.totalMinor, currency: order.currency, reference: payment.reference, recordedBy: null, at: now, requestId });
  await tx.billingCheckoutOrder.update({ where: { id: order.id }, data: { status: "paid", tenantId, subscriptionId: subscription.id, completedAt: now } });
  await audit(tx, { action: "CHECKOUT_COMPLETED", targetType: "checkout_order", targetId: order.id, tenantId, actorUserId: SYSTEM_ACTOR.userId, requestId, data: { subscriptionId: subscription.id, invoice: invoice.number, userId } });
  return { email: order.email, userId, tenantId, subscriptionId: subscription.id, cloudPodId, invoiceId: invoice.id, activationToken, planName: price.product.name };
}
