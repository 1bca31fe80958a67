import Stripe from "stripe";
import { AppError } from "../errors";

/** How the coordinator reaches Stripe: the secret key, and optionally another API base URL (a Stripe-compatible server in tests). */
export interface StripeSettings {
  secretKey: string | undefined;
  webhookSecret: string | undefined;
  apiUrl: string | undefined;
}

/**
 * A Stripe client (the official library) for `settings`, or null without a secret key. With
 * `apiUrl`, the library's host/port/protocol point there instead of api.stripe.com.
 */
export function createStripe(settings: StripeSettings): Stripe | null {
  if (!settings.secretKey) return null;
  const url = settings.apiUrl ? new URL(settings.apiUrl) : null;
  return new Stripe(settings.secretKey, {
    maxNetworkRetries: 2,
    timeout: 20_000,
    ...(url ? { host: url.hostname, port: url.port || (url.protocol === "https:" ? 443 : 80), protocol: url.protocol === "https:" ? "https" as const : "http" as const } : {}),
  });
}

/** The Stripe client, or AppError `unavailable` (503) when billing through Stripe is not configured. */
export function requireStripe(stripe: Stripe | null): Stripe {
  if (!stripe) throw new AppError("unavailable", "card payments are not configured");
  return stripe;
}
