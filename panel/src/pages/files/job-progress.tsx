import { useEffect, useRef } from "react";
import { api } from "../../api";
import { useResource } from "../../hooks";
import { Link } from "../../router";
import { useArea } from "../../session";
import { Badge } from "../../ui";
import { liveJob } from "../jobs";

/** A file job the page started (archive or extract): its id and what it does, in words. */
export interface FileJob {
  jobId: string;
  label: string;
}

/**
 * One running file job: its status and last reported progress (percent, from the job's log
 * lines), both pushed live; links to the job's page. Calls `onFinished` once when it ends.
 */
export function JobProgress({ job, onFinished }: { job: FileJob; onFinished(status: string): void }) {
  const { base } = useArea();
  const detail = useResource(() => api.job(job.jobId), job.jobId, liveJob);
  const status = detail.data?.status ?? "queued";
  const finished = ["succeeded", "failed", "canceled"].includes(status);
  const report = useRef(onFinished);
  report.current = onFinished;
  useEffect(() => {
    if (finished) report.current(status);
  }, [finished, status]);
  const events = detail.data?.events ?? [];
  const progress = [...events].reverse().find((e) => e.progress !== null)?.progress ?? null;
  const last = events.at(-1)?.message;
  const percent = status === "succeeded" ? 100 : progress;
  return (
    <li className="file-job" data-file-job={job.jobId} data-status={status}>
      <span>{job.label}</span> <Badge status={status} />{" "}
      <progress max={100} value={percent ?? undefined} aria-label={`${job.label}: progress`} />{" "}
      <span className="muted">{percent === null ? "" : `${percent}%`}{last ? ` · ${last}` : ""}</span>{" "}
      {detail.data?.errorMessage && <span className="bad">{detail.data.errorMessage}</span>}{" "}
      <Link to={`${base}/jobs/${job.jobId}`}>Details</Link>
      {detail.error && !detail.data && <span className="bad"> {detail.error}</span>}
    </li>
  );
}
