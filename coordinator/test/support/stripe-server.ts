import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the server received: method, path, the form-encoded body as flat `key -> value` (Stripe's `a[b][0]` keys kept). */
export interface StripeRequest {
  method: string;
  path: string;
  form: Record<string, string>;
  idempotencyKey: string | undefined;
}

/** A Checkout Session as this server keeps it (the fields of Stripe's object that mPanel reads). */
export interface FakeSession {
  id: string;
  object: "checkout.session";
  mode: string;
  url: string;
  status: "open" | "complete";
  payment_status: "unpaid" | "paid";
  amount_total: number;
  currency: string;
  customer: string | null;
  customer_email: string | null;
  client_reference_id: string | null;
  payment_intent: string | null;
  metadata: Record<string, string>;
}

/** A refund as this server keeps it (https://docs.stripe.com/api/refunds/object). */
export interface FakeRefund {
  id: string;
  object: "refund";
  amount: number;
  currency: string;
  payment_intent: string;
  status: "succeeded";
  metadata: Record<string, string>;
}

/** A local server answering the Stripe endpoints mPanel calls, for tests (Stripe itself is unreachable here). */
export interface StripeServer {
  url: string;
  secretKey: string;
  requests: StripeRequest[];
  sessions: Map<string, FakeSession>;
  refunds: FakeRefund[];
  /** Marks a session paid as Stripe would after the customer pays (payment intent and customer set). */
  pay(sessionId: string): FakeSession;
  /** A Stripe event object around `object` (https://docs.stripe.com/api/events/object). */
  event(type: string, object: unknown, id?: string): string;
  stop(): Promise<void>;
}

const id = (prefix: string): string => `${prefix}_${randomBytes(12).toString("hex")}`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "request-id": id("req") });
  res.end(JSON.stringify(body));
}

/**
 * Starts the server on 127.0.0.1 (free port). It answers, as Stripe documents them:
 * `POST /v1/checkout/sessions` (form-encoded `line_items[0][price_data][...]`, `metadata[...]`,
 * `customer_email`, `client_reference_id`; an `Idempotency-Key` replays the first answer) and
 * `GET /v1/checkout/sessions/:id`, and `POST /v1/refunds` (`payment_intent` of a paid session,
 * `amount` at most what is left of it, else 400 as Stripe answers); a missing or wrong `Authorization: Bearer` key gets 401,
 * an unknown path 404, each with Stripe's `{ error: { type, message } }` body.
 */
export async function startStripeServer(): Promise<StripeServer> {
  const secretKey = `sk_test_${randomBytes(12).toString("hex")}`;
  const requests: StripeRequest[] = [];
  const sessions = new Map<string, FakeSession>();
  const replies = new Map<string, unknown>();
  const refunds: FakeRefund[] = [];
  const metadataOf = (form: Record<string, string>) => Object.fromEntries(Object.entries(form).filter(([k]) => k.startsWith("metadata[")).map(([k, v]) => [k.slice(9, -1), v]));
  let base = "";
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const form = Object.fromEntries(new URLSearchParams(body));
      const idempotencyKey = typeof req.headers["idempotency-key"] === "string" ? req.headers["idempotency-key"] : undefined;
      requests.push({ method: req.method ?? "GET", path, form, idempotencyKey });
      if (req.headers.authorization !== `Bearer ${secretKey}`) return send(res, 401, { error: { type: "invalid_request_error", message: "Invalid API Key provided" } });
      if (idempotencyKey && replies.has(idempotencyKey)) return send(res, 200, replies.get(idempotencyKey));
      if (req.method === "POST" && path === "/v1/checkout/sessions") {
        const quantity = Number(form["line_items[0][quantity]"] ?? "1");
        const session: FakeSession = {
          id: id("cs_test"), object: "checkout.session", mode: form.mode ?? "payment", url: "", status: "open", payment_status: "unpaid",
          amount_total: Number(form["line_items[0][price_data][unit_amount]"]) * quantity, currency: form["line_items[0][price_data][currency]"] ?? "",
          customer: form.customer ?? null, customer_email: form.customer_email ?? null, client_reference_id: form.client_reference_id ?? null, payment_intent: null,
          metadata: metadataOf(form),
        };
        session.url = `${base}/c/pay/${session.id}`;
        sessions.set(session.id, session);
        if (idempotencyKey) replies.set(idempotencyKey, session);
        return send(res, 200, session);
      }
      if (req.method === "POST" && path === "/v1/refunds") {
        const intent = form.payment_intent ?? "";
        const paid = [...sessions.values()].find((s) => s.payment_intent === intent && s.payment_status === "paid");
        if (!paid) return send(res, 400, { error: { type: "invalid_request_error", code: "resource_missing", param: "payment_intent", message: `No such payment_intent: '${intent}'` } });
        const left = paid.amount_total - refunds.filter((r) => r.payment_intent === intent).reduce((sum, r) => sum + r.amount, 0);
        const amount = form.amount === undefined ? left : Number(form.amount);
        if (!(amount > 0) || amount > left) return send(res, 400, { error: { type: "invalid_request_error", param: "amount", message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${left})` } });
        const refund: FakeRefund = { id: id("re"), object: "refund", amount, currency: paid.currency, payment_intent: intent, status: "succeeded", metadata: metadataOf(form) };
        refunds.push(refund);
        if (idempotencyKey) replies.set(idempotencyKey, refund);
        return send(res, 200, refund);
      }
      const found = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
      if (req.method === "GET" && found?.[1]) {
        const session = sessions.get(found[1]);
        return session ? send(res, 200, session) : send(res, 404, { error: { type: "invalid_request_error", code: "resource_missing", message: `No such checkout.session: '${found[1]}'` } });
      }
      return send(res, 404, { error: { type: "invalid_request_error", message: `Unrecognized request URL (${req.method}: ${path})` } });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base, secretKey, requests, sessions, refunds,
    pay(sessionId) {
      const session = sessions.get(sessionId);
      if (!session) throw new Error(`no session ${sessionId}`);
      Object.assign(session, { status: "complete", payment_status: "paid", payment_intent: session.payment_intent ?? id("pi"), customer: session.customer ?? id("cus") });
      return session;
    },
    event(type, object, eventId = id("evt")) {
      return JSON.stringify({ id: eventId, object: "event", api_version: "2026-10-28.endive", created: Math.floor(Date.now() / 1000), livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type, data: { object } });
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
