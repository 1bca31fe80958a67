import { api } from "../api";
import { useResource } from "../hooks";
import type { LiveMessage } from "../live";
import { Link } from "../router";
import { useArea } from "../session";
import type { Job, JobDetail, Paged } from "../types";
import { Badge, Empty, Pending, PageHeader, Pager, When } from "../ui";
import { useUrlQuery } from "./url-query";

const STATUSES = ["queued", "running", "succeeded", "failed", "canceled"];

/** What job lists show of a job. */
export type JobSummary = Pick<Job, "id" | "type" | "status" | "tenantId" | "attempts" | "errorCode" | "createdAt">;

/** Applies a live job change to a list: a listed job takes its new status; a new job (insert) appears on top when `accepts` it. */
export function liveJobs(rows: JobSummary[], message: LiveMessage, accepts: (job: JobSummary) => boolean, limit: number): JobSummary[] {
  if (message.kind !== "job") return rows;
  const index = rows.findIndex((r) => r.id === message.id);
  if (index >= 0) return rows.map((r, i) => (i === index ? { ...r, status: message.status, attempts: message.attempts, errorCode: message.errorCode } : r));
  const added: JobSummary = {
    id: message.id, type: message.type, status: message.status, tenantId: message.tenantId,
    attempts: message.attempts, errorCode: message.errorCode, createdAt: new Date().toISOString(),
  };
  return message.status === "queued" && accepts(added) ? [added, ...rows].slice(0, limit) : rows;
}

/** A table of jobs linking to their detail page. */
export function JobTable({ jobs }: { jobs: JobSummary[] }) {
  const { base } = useArea();
  if (jobs.length === 0) return <Empty title="No jobs yet">Jobs appear here when services are created or changed.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead><tr><th>Type</th><th>Status</th><th>Attempts</th><th>Created</th></tr></thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id} data-job={job.id}>
              <td><Link to={`${base}/jobs/${job.id}`}>{job.type}</Link></td>
              <td><Badge status={job.status} /></td>
              <td>{job.attempts}</td>
              <td><When at={job.createdAt} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Jobs with filters (status, type, server), paged, updated live. */
export function JobsPage() {
  const { base, kind } = useArea();
  const { query, set: setQuery } = useUrlQuery(`${base}/jobs`, ["status", "type", "serverId"] as const, 25);
  const accepts = (job: JobSummary) => query.page === 1 && (!query.status || query.status === job.status) && (!query.type || query.type === job.type) && !query.serverId;
  const jobs = useResource<Paged<JobSummary>>(() => api.jobs(query), JSON.stringify(query), (current, message) => ({ ...current, data: liveJobs(current.data, message, accepts, query.pageSize) }));
  return (
    <>
      <PageHeader title="Jobs" />
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter jobs">
        <label>Status
          <select value={query.status} onChange={(e) => setQuery({ status: e.target.value })}>
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label>Type
          <input value={query.type} placeholder="e.g. CREATE_WEBSITE" onChange={(e) => setQuery({ type: e.target.value.toUpperCase() })} />
        </label>
        {kind === "admin" && (
          <label>Server id
            <input value={query.serverId} placeholder="uuid" onChange={(e) => setQuery({ serverId: e.target.value.trim() })} />
          </label>
        )}
      </form>
      {jobs.error && <p className="form-error" role="alert">{jobs.error}</p>}
      {jobs.data && (
        <>
          <JobTable jobs={jobs.data.data} />
          <Pager {...jobs.data.meta} onPage={(page) => setQuery({ page })} />
        </>
      )}
    </>
  );
}

/** Applies a live change to one job: its new status, or a log line it has not shown yet. */
export function liveJob(job: JobDetail, message: LiveMessage): JobDetail {
  if (message.kind === "job" && message.id === job.id) return { ...job, status: message.status, attempts: message.attempts, errorCode: message.errorCode };
  if (message.kind === "job_event" && message.jobId === job.id && !job.events.some((e) => e.id === message.id)) {
    return { ...job, events: [...job.events, { id: message.id, jobId: message.jobId, at: message.at, level: message.level, message: message.message, progress: message.progress }] };
  }
  return job;
}

/** One job: its status and log lines, both updated live while it runs. */
export function JobPage({ params }: { params: Record<string, string> }) {
  const id = params.id ?? "";
  const job = useResource(() => api.job(id), id, liveJob);
  if (!job.data) return <Pending resource={job} what="job" />;
  const j = job.data;
  return (
    <>
      <PageHeader title={j.type}><span data-job-status={j.status}><Badge status={j.status} /></span></PageHeader>
      <dl className="facts">
        <dt>Id</dt><dd><code>{j.id}</code></dd>
        <dt>Attempts</dt><dd>{j.attempts} of {j.maxAttempts}</dd>
        <dt>Created</dt><dd><When at={j.createdAt} /></dd>
        <dt>Finished</dt><dd><When at={j.finishedAt} /></dd>
        {j.errorMessage && <><dt>Error</dt><dd className="bad">{j.errorCode}: {j.errorMessage}</dd></>}
      </dl>
      <h2>Log</h2>
      {j.events.length === 0 ? <Empty title="No log lines yet" /> : (
        <ol className="log" aria-live="polite">
          {j.events.map((e) => <li key={e.id} className={`log-${e.level}`}><When at={e.at} /> <span>{e.message}</span></li>)}
        </ol>
      )}
    </>
  );
}
