import { api } from "../api";
import { useResource } from "../hooks";
import { Link } from "../router";
import { useArea } from "../session";
import { PageHeader } from "../ui";
import { useReloadOnLive } from "./common";
import { JobTable, liveJobs, type JobSummary } from "./jobs";

const DAY_MS = 24 * 60 * 60 * 1000;

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

/** The admin dashboard: platform figures from the API and the latest jobs, live. */
export function AdminDashboard() {
  const figures = useResource(async () => {
    const [counts, failed] = await Promise.all([
      totals({
        tenants: api.tenants({ pageSize: 1, status: "active" }),
        servers: api.servers({ pageSize: 1 }),
        online: api.servers({ pageSize: 1, status: "online" }),
        pods: api.cloudPods({ pageSize: 1, status: "running" }),
        sites: api.websites({ pageSize: 1 }),
        queued: api.jobs({ pageSize: 1, status: "queued" }),
        running: api.jobs({ pageSize: 1, status: "running" }),
      }),
      api.jobs({ pageSize: 200, status: "failed" }),
    ]);
    const since = Date.now() - DAY_MS;
    const failed24h = failed.data.filter((j) => Date.parse(j.finishedAt ?? j.createdAt) >= since).length;
    return { ...counts, failed24h: failed.meta.total > 200 && failed24h === 200 ? "200+" : failed24h };
  }, "dashboard");
  useReloadOnLive(figures.reload);
  const f = figures.data;
  return (
    <>
      <PageHeader title="Dashboard" />
      {figures.error && <p className="form-error" role="alert">{figures.error}</p>}
      <div className="figures">
        <Figure label="Active tenants" value={f?.tenants} to="/admin/tenants" />
        <Figure label="Servers online" value={f ? `${f.online} / ${f.servers}` : undefined} to="/admin/servers" />
        <Figure label="CloudPods running" value={f?.pods} to="/admin/sites" />
        <Figure label="Websites" value={f?.sites} to="/admin/sites" />
        <Figure label="Jobs pending" value={f ? f.queued + f.running : undefined} to="/admin/jobs?status=queued" />
        <Figure label="Failed jobs (24 h)" value={f?.failed24h} to="/admin/jobs?status=failed" />
      </div>
      <RecentJobs />
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
      <RecentJobs />
    </>
  );
}
