import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { formatMoney, parseMoney } from "../money";
import { Link } from "../router";
import { useArea } from "../session";
import type { InvoiceDetail, ProductBody, Subscription } from "../types";
import { Badge, Empty, FormError, Pending, PageHeader, Pager, SelectField, TextField, useConfirm, useForm, useToast, When } from "../ui";
import { CreatePanel } from "./common";
import { useTenantNames } from "./tenant-names";
import { useUrlQuery } from "./url-query";

type Interval = ProductBody["prices"][number]["interval"];
type ProductType = ProductBody["type"];
interface PriceDraft { currency: string; interval: Interval; amount: string }

/** The status (and, for staff, tenant) filter of the billing lists. */
function StatusTenantFilters({ label, statuses, tenants, query, set }: {
  label: string; statuses: string[]; tenants: Map<string, string>; query: { status: string; tenantId: string }; set(change: { status?: string; tenantId?: string }): void;
}) {
  const { kind } = useArea();
  return (
    <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label={label}>
      <label>Status
        <select value={query.status} onChange={(e) => set({ status: e.target.value })}>
          <option value="">any</option>
          {statuses.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
      </label>
      {kind === "admin" && (
        <label>Tenant
          <select value={query.tenantId} onChange={(e) => set({ tenantId: e.target.value })}>
            <option value="">any</option>
            {[...tenants].map(([id, name]) => <option key={id} value={id}>{name}</option>)}
          </select>
        </label>
      )}
    </form>
  );
}

function CreateProduct({ onCreated }: { onCreated(): void }) {
  const toast = useToast();
  const form = useForm();
  const [fields, setFields] = useState({ code: "", name: "", description: "", type: "hosting" as ProductType });
  const [prices, setPrices] = useState<PriceDraft[]>([{ currency: "EUR", interval: "month", amount: "" }]);
  const setPrice = (i: number, change: Partial<PriceDraft>) => setPrices(prices.map((p, j) => (j === i ? { ...p, ...change } : p)));
  const submit = form.submit(async () => {
    await api.createProduct({
      ...fields,
      prices: prices.map((p) => ({ currency: p.currency.toUpperCase(), interval: p.interval, amountMinor: parseMoney(p.amount, p.currency.toUpperCase()) })),
    });
    toast(`Product ${fields.code} created`);
    setFields({ code: "", name: "", description: "", type: "hosting" });
    setPrices([{ currency: "EUR", interval: "month", amount: "" }]);
    onCreated();
  });
  return (
    <CreatePanel title="New product">
      <form onSubmit={(e) => void submit(e)} aria-label="New product">
        <TextField form={form} name="code" label="Code" hint="a-z, 0-9 and hyphens; used in checkout links" value={fields.code} onChange={(e) => setFields({ ...fields, code: e.target.value })} />
        <TextField form={form} name="name" label="Name" value={fields.name} onChange={(e) => setFields({ ...fields, name: e.target.value })} />
        <SelectField form={form} name="type" label="Type" options={[{ value: "hosting", label: "Hosting plan" }, { value: "addon", label: "Add-on" }]} value={fields.type}
          onChange={(e) => setFields({ ...fields, type: e.target.value === "addon" ? "addon" : "hosting" })} />
        <TextField form={form} name="description" label="Description" value={fields.description} onChange={(e) => setFields({ ...fields, description: e.target.value })} />
        {prices.map((p, i) => (
          <div className="inline-form" key={i} role="group" aria-label={`Price ${i + 1}`}>
            <TextField form={form} name={`prices.${i}.currency`} label="Currency" maxLength={3} value={p.currency} onChange={(e) => setPrice(i, { currency: e.target.value })} />
            <SelectField form={form} name={`prices.${i}.interval`} label="Interval" options={[{ value: "month", label: "monthly" }, { value: "year", label: "yearly" }]} value={p.interval}
              onChange={(e) => setPrice(i, { interval: e.target.value === "year" ? "year" : "month" })} />
            <TextField form={form} name={`prices.${i}.amountMinor`} label="Amount" inputMode="decimal" placeholder="9.99" value={p.amount} onChange={(e) => setPrice(i, { amount: e.target.value })} />
          </div>
        ))}
        <button type="button" onClick={() => setPrices([...prices, { currency: prices[0]?.currency ?? "EUR", interval: "year", amount: "" }])}>Add a price</button>
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Create product</button>
      </form>
    </CreatePanel>
  );
}

/** Products and prices (platform billing): every product, active or not, and a create form. */
export function ProductsPage() {
  const products = useResource(() => api.products(), "products");
  return (
    <>
      <PageHeader title="Products & prices" />
      <CreateProduct onCreated={products.reload} />
      {products.error && <p className="form-error" role="alert">{products.error}</p>}
      {products.data && (products.data.length === 0 ? <Empty title="No products yet">Create the first hosting plan above.</Empty> : (
        <div className="table-wrap">
          <table>
            <thead><tr><th>Code</th><th>Name</th><th>Type</th><th>Prices</th><th>Status</th></tr></thead>
            <tbody>
              {products.data.map((p) => (
                <tr key={p.id} data-product={p.code}>
                  <td><code>{p.code}</code></td>
                  <td>{p.name}</td>
                  <td>{p.type === "addon" ? "add-on" : "plan"}</td>
                  <td className="wrap">{p.prices.map((x) => `${formatMoney(x.amountMinor, x.currency)}/${x.interval}${x.active ? "" : " (inactive)"}`).join(", ")}</td>
                  <td><Badge status={p.active ? "active" : "inactive"} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </>
  );
}

const SUBSCRIPTION_STATUSES = ["active", "past_due", "suspended", "canceled", "terminated"];

/** Subscriptions: filter by status (and tenant for staff), cancel at period end (asks first) or undo it. */
export function SubscriptionsPage() {
  const { base, kind } = useArea();
  const confirm = useConfirm();
  const toast = useToast();
  const tenants = useTenantNames();
  const { query, set } = useUrlQuery(`${base}/subscriptions`, ["status", "tenantId"] as const, 25);
  const subs = useResource(() => api.subscriptions(query), JSON.stringify(query));
  const products = useResource(async () => (kind === "admin" ? api.products() : []), `products-${kind}`);
  const names = new Map((products.data ?? []).map((p) => [p.id, p.name]));
  const toggle = async (s: Subscription): Promise<void> => {
    const cancel = !s.cancelAtPeriodEnd;
    if (cancel && !(await confirm({ title: "Cancel this subscription?", body: "It stays active until the end of the current period, then ends and its services are removed.", action: "Cancel subscription" }))) return;
    await api.setSubscriptionCanceled(s.id, cancel).then(() => toast(cancel ? "Cancellation scheduled" : "Cancellation undone"), (e: Error) => toast(e.message, "error"));
    subs.reload();
  };
  return (
    <>
      <PageHeader title="Subscriptions" />
      <StatusTenantFilters label="Filter subscriptions" statuses={SUBSCRIPTION_STATUSES} tenants={tenants} query={query} set={set} />
      {subs.error && <p className="form-error" role="alert">{subs.error}</p>}
      {subs.data && (subs.data.data.length === 0 ? <Empty title="No subscriptions">Subscriptions start when a customer checks out a plan.</Empty> : (
        <>
          <div className="table-wrap">
            <table>
              <thead><tr>{kind === "admin" && <th>Tenant</th>}<th>Plan</th><th>Status</th><th>Price</th><th>Period ends</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {subs.data.data.map((s) => (
                  <tr key={s.id} data-subscription={s.id}>
                    {kind === "admin" && <td>{tenants.get(s.tenantId) ?? <code>{s.tenantId.slice(0, 8)}</code>}</td>}
                    <td>{names.get(s.productId) ?? "plan"}{s.quantity > 1 ? ` × ${s.quantity}` : ""}</td>
                    <td><Badge status={s.status} />{s.cancelAtPeriodEnd && <span className="muted"> ends at period end</span>}</td>
                    <td>{formatMoney(s.unitAmountMinor * s.quantity, s.currency)}/{s.interval}</td>
                    <td><When at={s.currentPeriodEnd} /></td>
                    <td>{(s.status === "active" || s.status === "past_due") && (
                      <button type="button" className={s.cancelAtPeriodEnd ? "" : "danger-quiet"} onClick={() => void toggle(s)}>{s.cancelAtPeriodEnd ? "Undo cancellation" : "Cancel"}</button>
                    )}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager {...subs.data.meta} onPage={(page) => set({ page })} />
        </>
      ))}
    </>
  );
}

const INVOICE_STATUSES = ["open", "paid", "issued", "void"];

/** Opens the hosted card payment page (a Stripe Checkout Session) for an open invoice. */
function PayButton({ invoiceId }: { invoiceId: string }) {
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const pay = () => {
    setBusy(true);
    api.payInvoice(invoiceId).then(({ paymentUrl }) => window.location.assign(paymentUrl), (e: Error) => {
      setBusy(false);
      toast(e.message, "error");
    });
  };
  return <button type="button" className="primary" disabled={busy} onClick={pay}>Pay</button>;
}

/** Invoices and credit notes: filter by status (and tenant for staff), each with its PDF. */
export function InvoicesPage() {
  const { base, kind } = useArea();
  const tenants = useTenantNames();
  const { query, set } = useUrlQuery(`${base}/invoices`, ["status", "tenantId"] as const, 25);
  const invoices = useResource(() => api.invoices(query), JSON.stringify(query));
  return (
    <>
      <PageHeader title="Invoices" />
      <StatusTenantFilters label="Filter invoices" statuses={INVOICE_STATUSES} tenants={tenants} query={query} set={set} />
      {invoices.error && <p className="form-error" role="alert">{invoices.error}</p>}
      {invoices.data && (invoices.data.data.length === 0 ? <Empty title={query.status || query.tenantId ? "No invoice matches" : "No invoices yet"} /> : (
        <>
          <div className="table-wrap">
            <table>
              <thead><tr><th>Number</th>{kind === "admin" && <th>Tenant</th>}<th>Status</th><th>Total</th><th>Issued</th><th>Due</th><th><span className="sr-only">Documents</span></th></tr></thead>
              <tbody>
                {invoices.data.data.map((i) => (
                  <tr key={i.id} data-invoice={i.number}>
                    <td><Link to={`${base}/invoices/${i.id}`}>{i.number}</Link>{i.kind === "credit_note" && <span className="muted"> credit note</span>}</td>
                    {kind === "admin" && <td>{tenants.get(i.tenantId) ?? <code>{i.tenantId.slice(0, 8)}</code>}</td>}
                    <td><Badge status={i.status} /></td>
                    <td>{formatMoney(i.totalMinor, i.currency)}</td>
                    <td><When at={i.issuedAt} /></td>
                    <td>{i.status === "open" ? <When at={i.dueAt} /> : <span className="muted">—</span>}</td>
                    <td>
                      <a href={api.invoicePdfUrl(i.id)} download>PDF</a>
                      {kind === "client" && i.status === "open" && i.kind === "invoice" && <> · <PayButton invoiceId={i.id} /></>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager {...invoices.data.meta} onPage={(page) => set({ page })} />
        </>
      ))}
    </>
  );
}

function RecordPayment({ invoice, onDone }: { invoice: InvoiceDetail; onDone(): void }) {
  const toast = useToast();
  const form = useForm();
  const owed = invoice.totalMinor - invoice.paidMinor;
  const [amount, setAmount] = useState("");
  const [reference, setReference] = useState("");
  const submit = form.submit(async () => {
    const result = await api.recordPayment(invoice.id, { amountMinor: parseMoney(amount, invoice.currency), currency: invoice.currency, reference });
    toast(result.invoice.status === "paid" ? `${invoice.number} is paid${result.restored ? "; the subscription is restored" : ""}` : "Payment recorded");
    setAmount("");
    setReference("");
    onDone();
  });
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Record a payment">
      <h2>Record a bank transfer</h2>
      <TextField form={form} name="amountMinor" label={`Amount (${invoice.currency})`} inputMode="decimal" hint={`${formatMoney(owed, invoice.currency)} still owed`} value={amount} onChange={(e) => setAmount(e.target.value)} />
      <TextField form={form} name="reference" label="Bank reference" value={reference} onChange={(e) => setReference(e.target.value)} />
      <FormError form={form} />
      <button type="submit" className="primary" disabled={form.busy}>Record payment</button>
    </form>
  );
}

/** One invoice or credit note: totals, lines, payments, its PDF; staff record bank transfers, tenants see how to pay. */
export function InvoicePage({ params }: { params: Record<string, string> }) {
  const id = params.id ?? "";
  const { kind } = useArea();
  const invoice = useResource(() => api.invoice(id), id);
  if (!invoice.data) return <Pending resource={invoice} what="invoice" />;
  const i = invoice.data;
  const owed = i.totalMinor - i.paidMinor;
  return (
    <>
      <PageHeader title={`${i.kind === "credit_note" ? "Credit note" : "Invoice"} ${i.number}`}>
        <Badge status={i.status} />
        <a href={api.invoicePdfUrl(i.id)} download>Download PDF</a>
      </PageHeader>
      <dl className="facts">
        <dt>Issued</dt><dd><When at={i.issuedAt} /></dd>
        {i.kind === "invoice" && <><dt>Due</dt><dd><When at={i.dueAt} /></dd></>}
        <dt>Subtotal</dt><dd>{formatMoney(i.subtotalMinor, i.currency)}</dd>
        <dt>Tax</dt><dd>{formatMoney(i.taxMinor, i.currency)} ({i.taxRateBp / 100} %{i.reverseCharge ? ", reverse charge" : ""})</dd>
        <dt>Total</dt><dd><strong>{formatMoney(i.totalMinor, i.currency)}</strong></dd>
        {i.kind === "invoice" && <><dt>Paid</dt><dd>{formatMoney(i.paidMinor, i.currency)}</dd></>}
      </dl>
      <h2>Lines</h2>
      <div className="table-wrap">
        <table>
          <thead><tr><th>Description</th><th>Quantity</th><th>Unit</th><th>Amount</th></tr></thead>
          <tbody>
            {i.lines.map((l) => (
              <tr key={l.id}><td className="wrap">{l.description}</td><td>{l.quantity}</td><td>{formatMoney(l.unitAmountMinor, i.currency)}</td><td>{formatMoney(l.amountMinor, i.currency)}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Payments</h2>
      {i.payments.length === 0 ? <Empty title="No payments yet" /> : (
        <ul className="plain">
          {i.payments.map((p) => <li key={p.id}><When at={p.createdAt} /> {formatMoney(p.amountMinor, p.currency)} by {p.method.replace("_", " ")}{p.reference ? ` (${p.reference})` : ""}</li>)}
        </ul>
      )}
      {i.kind === "invoice" && i.status === "open" && (kind === "admin"
        ? <RecordPayment invoice={i} onDone={invoice.reload} />
        : (
          <section id="pay" aria-labelledby="pay-title">
            <h2 id="pay-title">How to pay</h2>
            <p>Transfer {formatMoney(owed, i.currency)} by {new Date(i.dueAt).toLocaleDateString()} quoting <strong>{i.number}</strong>; the invoice turns paid when the transfer is booked. Or pay by card now:</p>
            <PayButton invoiceId={i.id} />
          </section>
        ))}
    </>
  );
}
