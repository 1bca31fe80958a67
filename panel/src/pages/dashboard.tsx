import { api } from "../api";
import { useResource } from "../hooks";
import { formatMoney } from "../money";
import { Link } from "../router";
import { useArea } from "../session";
import type { Alert, PulseFigures } from "../types";
import { Badge, Empty, PageHeader, When } from "../ui";
import { useReloadOnLive } from "./common";
import { JobTable, liveJobs, type JobSummary } from "./jobs";

/** Totals of list routes (each a `pageSize=1` call: the answer's `meta.total`). */
async function totals<K extends string>(queries: Record<K, Promise<{ meta: { total: number } }>>): Promise<Record<K, number>> {
  const entries = await Promise.all(Object.entries<Promise<{ meta: { total: number } }>>(queries).map(async ([k, p]) => [k, (await p).meta.total] as const));
  return Object.fromEntries(entries) as Record<K, number>;
}

function Figure({ label, value, to }: { label: string; value: number | string | undefined; to: string }) {
  return (
    <Link to={to} className="figure" data-figure={label}>
      <span className="figure-value">{value ?? "…"}</span>
      <span className="figure-label">{label}</span>
    </Link>
  );
}

function RecentJobs() {
  const recent = useResource<JobSummary[]>(async () => (await api.jobs({ pageSize: 8 })).data, "recent", (rows, message) => liveJobs(rows, message, () => true, 8));
  return (
    <section aria-labelledby="recent-jobs">
      <h2 id="recent-jobs">Recent jobs</h2>
      {recent.data && <JobTable jobs={recent.data} />}
    </section>
  );
}

/** MRR per currency ("€120.00 + $40.00"); "—" without subscriptions or without access to billing. */
function mrrText(mrr: PulseFigures["mrr"]): string {
  return mrr && mrr.length > 0 ? mrr.map((m) => formatMoney(m.amountMinor, m.currency)).join(" + ") : "—";
}

/** A delay in ms as "850 ms" or "2.4 s"; "—" when no job started in the window. */
function delayText(ms: number | null): string {
  if (ms === null) return "—";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Where the panel shows an alert's subject. */
function alertLink(base: string, alert: Alert): string {
  const { type, id } = alert.subject;
  if (type === "server") return `${base}/servers/${id}`;
  if (type === "website") return `${base}/sites/${id}`;
  if (type === "cloud_pod") return `${base}/backups?cloudPodId=${id}`;
  return `${base}/ssl`;
}

/** What is wrong now (nodes, daemons, sites, backups, certificates), reloaded on live changes; a calm line when nothing is. */
function Alerts() {
  const { base } = useArea();
  const alerts = useResource(() => api.alerts(), "alerts");
  useReloadOnLive(alerts.reload);
  return (
    <section aria-labelledby="alerts">
      <h2 id="alerts">Alerts</h2>
      {alerts.error && <p className="form-error" role="alert">{alerts.error}</p>}
      {alerts.data && (alerts.data.length === 0 ? <p className="muted" data-alerts="none">Nothing needs attention.</p> : (
        <ul className="plain">
          {alerts.data.map((a) => (
            <li key={`${a.kind}:${a.subject.id}:${a.detail}`} data-alert={a.kind}>
              <Badge status={a.severity} /> <Link to={alertLink(base, a)}>{a.subject.name}</Link> {a.detail} <span className="muted">since <When at={a.since} /></span>
            </li>
          ))}
        </ul>
      ))}
    </section>
  );
}

function RecentAudit() {
  const events = useResource(async () => (await api.audit({ pageSize: 8 })).data, "recent-audit");
  useReloadOnLive(events.reload);
  return (
    <section aria-labelledby="recent-audit">
      <h2 id="recent-audit">Recent audit events</h2>
      {events.data && (events.data.length === 0 ? <Empty title="Nothing recorded yet" /> : (
        <ul className="plain">
          {events.data.map((e) => (
            <li key={e.id} data-audit={e.action}><When at={e.at} /> <code>{e.action}</code> <span className="muted">by {e.actor?.email ?? "system"}</span></li>
          ))}
        </ul>
      ))}
      <Link to="/admin/audit">Open the audit log</Link>
    </section>
  );
}

/** The admin dashboard (module spec section 2): platform figures, MRR, the operations pulse, latest jobs (live) and audit events. */
export function AdminDashboard() {
  const figures = useResource(async () => {
    const [counts, pulse] = await Promise.all([
      totals({
        tenants: api.tenants({ pageSize: 1, status: "active" }),
        servers: api.servers({ pageSize: 1 }),
        online: api.servers({ pageSize: 1, status: "online" }),
        pods: api.cloudPods({ pageSize: 1, status: "running" }),
        sites: api.websites({ pageSize: 1 }),
      }),
      api.pulse(),
    ]);
    return { ...counts, pulse };
  }, "dashboard");
  useReloadOnLive(figures.reload);
  const f = figures.data;
  return (
    <>
      <PageHeader title="Dashboard" />
      {figures.error && <p className="form-error" role="alert">{figures.error}</p>}
      <div className="figures">
        <Figure label="Active tenants" value={f?.tenants} to="/admin/tenants" />
        <Figure label="Users" value={f ? f.pulse.users ?? "—" : undefined} to="/admin/users" />
        <Figure label="MRR" value={f ? mrrText(f.pulse.mrr) : undefined} to="/admin/subscriptions" />
        <Figure label="Servers online" value={f ? `${f.online} / ${f.servers}` : undefined} to="/admin/servers" />
        <Figure label="CloudPods running" value={f?.pods} to="/admin/sites" />
        <Figure label="Websites" value={f?.sites} to="/admin/sites" />
      </div>
      <h2>Operations</h2>
      <div className="figures">
        <Figure label="Jobs pending" value={f?.pulse.jobs.pending} to="/admin/jobs?status=queued" />
        <Figure label="Failed jobs (24 h)" value={f?.pulse.jobs.failed24h} to="/admin/jobs?status=failed" />
        <Figure label="Average queue delay (24 h)" value={f ? delayText(f.pulse.jobs.avgQueueDelayMs) : undefined} to="/admin/jobs" />
      </div>
      <Alerts />
      <RecentJobs />
      <RecentAudit />
    </>
  );
}

/** The tenant's overview: its name and status, its services' counts and its latest jobs, live. */
export function ClientOverview() {
  const { tenantId } = useArea();
  const overview = useResource(async () => {
    const [tenant, counts] = await Promise.all([
      api.tenant(tenantId ?? ""),
      totals({ domains: api.domains({ pageSize: 1 }), pending: api.jobs({ pageSize: 1, status: "queued" }), running: api.jobs({ pageSize: 1, status: "running" }) }),
    ]);
    return { tenant, counts };
  }, tenantId ?? "");
  useReloadOnLive(overview.reload);
  const o = overview.data;
  return (
    <>
      <PageHeader title={o ? o.tenant.name : "Overview"} />
      {o?.tenant.status === "suspended" && <p className="form-error" role="alert">This account is suspended. Contact support.</p>}
      <div className="figures">
        <Figure label="Websites" value={o?.tenant.counts.websites} to="/client/sites" />
        <Figure label="CloudPods" value={o?.tenant.counts.cloudPods} to="/client/sites" />
        <Figure label="Domains" value={o?.counts.domains} to="/client/domains" />
        <Figure label="Jobs in progress" value={o ? o.counts.pending + o.counts.running : undefined} to="/client/jobs" />
      </div>
      <Alerts />
      <RecentJobs />
    </>
  );
}
