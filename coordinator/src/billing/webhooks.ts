import Stripe from "stripe";
import type { Logger } from "pino";
import { newCredentials } from "../auth/users";
import type { Database, Tx } from "../db/client";
import { AppError } from "../errors";
import type { HostingService } from "../hosting/service";
import { withJobs } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { fulfilOrder, type Fulfilment } from "./fulfilment";
import { completePaymentLink } from "./invoice-payments";
import { requireStripe } from "./payments";
import type { Clock } from "./periods";

/** Maximum age of a webhook signature (s); older deliveries are refused as replays (Stripe's default). */
export const SIGNATURE_TOLERANCE_S = 300;

/**
 * Inserts the event's id in the caller's transaction; false when it is already there. A
 * concurrent delivery of the same id waits on the unique index until the first transaction
 * ends: after its COMMIT it gets false (a duplicate), after a ROLLBACK it proceeds itself.
 */
async function claimEvent(tx: Tx, event: Stripe.Event): Promise<boolean> {
  const rows = await tx.$queryRaw<Array<{ id: string }>>`
    INSERT INTO billing_stripe_events (id, type) VALUES (${event.id}, ${event.type}) ON CONFLICT (id) DO NOTHING RETURNING id`;
  return rows.length === 1;
}

/** The outcome of one delivery. */
export interface WebhookResult {
  eventId: string;
  type: string;
  duplicate: boolean;
  fulfilled: Fulfilment | null;
  /** The invoice a payment link settled in full, for the receipt; null otherwise. */
  invoicePaid: string | null;
}

/**
 * Stripe webhooks (https://docs.stripe.com/webhooks): the raw body's `Stripe-Signature` is
 * verified with the library (`constructEvent`, HMAC-SHA256 with the endpoint secret, at most
 * `SIGNATURE_TOLERANCE_S` old by the billing clock); a bad or stale signature is a 400 naming
 * `stripe-signature` and changes nothing. Each event id is applied once. A completed,
 * paid Checkout Session is re-read from Stripe (the event body is not trusted for amounts),
 * checked against the order's amount and currency, and fulfilled in the same transaction that
 * claims the event; a session of an invoice's payment link (`metadata.invoiceId`) settles
 * that invoice instead (`completePaymentLink`). Other event types are recorded and acknowledged.
 */
export function createWebhookHandler(deps: { db: Database; wakeups: Wakeups; stripe: Stripe | null; webhookSecret: string | undefined; hosting: HostingService; clock: Clock; log: Logger }) {
  function verify(rawBody: Buffer, signature: string | undefined): Stripe.Event {
    if (!deps.webhookSecret) throw new AppError("unavailable", "Stripe webhooks are not configured");
    try {
      return Stripe.webhooks.constructEvent(rawBody, signature ?? "", deps.webhookSecret, SIGNATURE_TOLERANCE_S, undefined, deps.clock.now().getTime());
    } catch (error) {
      throw new AppError("validation", "stripe-signature: the signature does not verify", [{ field: "stripe-signature", message: error instanceof Error ? error.message : "invalid" }], { cause: error });
    }
  }

  async function completeCheckout(event: Stripe.Event, sessionId: string, requestId: string): Promise<WebhookResult> {
    const stripe = requireStripe(deps.stripe);
    const session = await stripe.checkout.sessions.retrieve(sessionId);
    if (session.metadata?.invoiceId) {
      let duplicate = false;
      const invoicePaid = await withJobs(deps.db, deps.wakeups, async (tx, enqueue) => {
        if (!(await claimEvent(tx, event))) {
          duplicate = true;
          return null;
        }
        return completePaymentLink(tx, enqueue, deps, session, deps.clock.now(), requestId);
      });
      return { eventId: event.id, type: event.type, duplicate, fulfilled: null, invoicePaid };
    }
    const { passwordHash } = await newCredentials();
    let duplicate = false;
    const fulfilled = await withJobs(deps.db, deps.wakeups, async (tx, enqueue) => {
      if (!(await claimEvent(tx, event))) {
        duplicate = true;
        return null;
      }
      await tx.$queryRaw`SELECT id FROM billing_checkout_orders WHERE stripe_session_id = ${session.id} FOR UPDATE`;
      const order = await tx.billingCheckoutOrder.findUnique({ where: { stripeSessionId: session.id } });
      if (!order || order.status !== "open") return null;
      if (session.payment_status !== "paid") return null;
      if (session.amount_total !== order.amountMinor || session.currency?.toUpperCase() !== order.currency) {
        deps.log.error({ orderId: order.id, sessionId, amountTotal: session.amount_total, expected: order.amountMinor }, "checkout amount does not match the order");
        await tx.billingCheckoutOrder.update({ where: { id: order.id }, data: { status: "amount_mismatch" } });
        return null;
      }
      const paymentIntent = typeof session.payment_intent === "string" ? session.payment_intent : session.payment_intent?.id;
      const customer = typeof session.customer === "string" ? session.customer : session.customer?.id ?? null;
      return fulfilOrder(tx, enqueue, deps, order, { reference: paymentIntent ?? session.id, stripeCustomerId: customer }, passwordHash, deps.clock.now(), requestId);
    });
    return { eventId: event.id, type: event.type, duplicate, fulfilled, invoicePaid: null };
  }

  return {
    /** Verifies and applies one delivery; see the factory's description. */
    async handle(rawBody: Buffer, signature: string | undefined, requestId: string): Promise<WebhookResult> {
      const event = verify(rawBody, signature);
      if (event.type === "checkout.session.completed" || event.type === "checkout.session.async_payment_succeeded") {
        return completeCheckout(event, event.data.object.id, requestId);
      }
      const fresh = await deps.db.prisma.$transaction((tx) => claimEvent(tx, event));
      return { eventId: event.id, type: event.type, duplicate: !fresh, fulfilled: null, invoicePaid: null };
    },
  };
}
