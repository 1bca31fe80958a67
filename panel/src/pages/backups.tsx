import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { Link, navigate } from "../router";
import { useArea } from "../session";
import type { Backup, BackupPolicy, CloudPod } from "../types";
import { Badge, CheckField, Empty, FormError, PageHeader, Pager, TextField, useConfirm, useForm, useToast, When } from "../ui";
import { CreatePanel, useReloadOnLive } from "./common";
import { useUrlQuery } from "./url-query";

const STATUSES = ["pending", "succeeded", "failed", "expired"];

/** `bytes` as B/KiB/MiB/GiB with one decimal; "N/A" when unknown. */
function size(bytes: number | null): string {
  if (bytes === null) return "N/A";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The backup policy of one CloudPod: how often and how many snapshots to keep (its databases stay as set through the API). */
function PolicyPanel({ pod, policy, onDone }: { pod: CloudPod; policy: BackupPolicy | null; onDone(): void }) {
  const toast = useToast();
  const form = useForm();
  const [value, setValue] = useState({
    enabled: policy?.enabled ?? true,
    frequencyHours: String(policy?.frequencyHours ?? 24),
    keepLast: String(policy?.keepLast ?? 7),
    keepDaily: String(policy?.keepDaily ?? 7),
    keepWeekly: String(policy?.keepWeekly ?? 4),
    keepMonthly: String(policy?.keepMonthly ?? 6),
  });
  const save = form.submit(async () => {
    await api.setBackupPolicy(pod.id, {
      enabled: value.enabled, frequencyHours: Number(value.frequencyHours), keepLast: Number(value.keepLast),
      keepDaily: Number(value.keepDaily), keepWeekly: Number(value.keepWeekly), keepMonthly: Number(value.keepMonthly),
      databaseIds: policy?.databaseIds ?? [],
    });
    toast(`Backup policy of ${pod.name} saved`);
    onDone();
  });
  const number = (name: keyof typeof value, label: string, hint?: string) => (
    <TextField form={form} name={name} label={label} type="number" min={0} {...(hint ? { hint } : {})} value={String(value[name])} onChange={(e) => setValue({ ...value, [name]: e.target.value })} />
  );
  return (
    <CreatePanel title={`Backup policy of ${pod.name}`} open={!policy}>
      <form onSubmit={(e) => void save(e)} aria-label="Backup policy">
        {!policy && <p className="muted">This CloudPod has no backup policy yet: nothing is backed up on a schedule.</p>}
        <CheckField name="enabled" label="Back up on a schedule" checked={value.enabled} onChange={(enabled) => setValue({ ...value, enabled })} />
        {number("frequencyHours", "Every (hours)")}
        {number("keepLast", "Keep the last", "snapshots, whatever their age")}
        {number("keepDaily", "Keep daily")}
        {number("keepWeekly", "Keep weekly")}
        {number("keepMonthly", "Keep monthly")}
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Save policy</button>
      </form>
    </CreatePanel>
  );
}

/** The backups of the CloudPods in view, filtered and paged, with restore (asks first) and, for one pod, its policy. */
export function BackupsPage() {
  const { base } = useArea();
  const confirm = useConfirm();
  const toast = useToast();
  const { query, set: setQuery } = useUrlQuery(`${base}/backups`, ["cloudPodId", "status", "kind"] as const, 25);
  const pods = useResource(() => api.cloudPods({ pageSize: 200 }), "pods");
  const backups = useResource(() => api.backups(query), JSON.stringify(query));
  const pod = pods.data?.data.find((p) => p.id === query.cloudPodId) ?? null;
  const policy = useResource(() => (pod ? api.backupPolicy(pod.id) : Promise.resolve(null)), pod?.id ?? "");
  useReloadOnLive(backups.reload);
  const podName = (id: string) => pods.data?.data.find((p) => p.id === id)?.name ?? id.slice(0, 8);

  const backUpNow = async (target: CloudPod): Promise<void> => {
    try {
      const started = await api.backUpNow(target.id);
      toast(`Backing up ${target.name}`);
      const first = started.backups[0];
      if (first) navigate(`${base}/jobs/${first.jobId}`);
    } catch (error) {
      toast(error instanceof Error ? error.message : String(error), "error");
    }
  };

  const restore = async (b: Backup): Promise<void> => {
    const what = b.kind === "files" ? `the files of ${podName(b.cloudPodId)}` : "the database";
    const ok = await confirm({
      title: `Restore this ${b.kind} backup?`,
      body: `${what[0]?.toUpperCase()}${what.slice(1)} will be replaced by this backup from ${new Date(b.createdAt).toLocaleString()}. Changes made since then are lost.`,
      action: "Restore backup",
    });
    if (!ok) return;
    try {
      const started = await api.restoreBackup(b.id);
      toast("Restore started");
      navigate(`${base}/jobs/${started.jobId}`);
    } catch (error) {
      toast(error instanceof Error ? error.message : String(error), "error");
    }
  };

  return (
    <>
      <PageHeader title="Backups">
        {pod && <button type="button" className="primary" onClick={() => void backUpNow(pod)}>Back up {pod.name} now</button>}
      </PageHeader>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter backups">
        <label>CloudPod
          <select value={query.cloudPodId} onChange={(e) => setQuery({ cloudPodId: e.target.value })}>
            <option value="">all</option>
            {(pods.data?.data ?? []).map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
          </select>
        </label>
        <label>Status
          <select value={query.status} onChange={(e) => setQuery({ status: e.target.value })}>
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label>Kind
          <select value={query.kind} onChange={(e) => setQuery({ kind: e.target.value })}>
            <option value="">any</option>
            <option value="files">files</option>
            <option value="database">database</option>
          </select>
        </label>
      </form>
      {pod && policy.data && (
        <p className="muted" data-policy>
          {policy.data.enabled ? `Backed up every ${policy.data.frequencyHours} h; next run ` : "Scheduled backups are off; they would run "}
          <When at={policy.data.nextRunAt} />. Keeps the last {policy.data.keepLast}, {policy.data.keepDaily} daily, {policy.data.keepWeekly} weekly, {policy.data.keepMonthly} monthly.
        </p>
      )}
      {pod && !(policy.loading && policy.data === null) && <PolicyPanel key={pod.id} pod={pod} policy={policy.data} onDone={() => { policy.reload(); backups.reload(); }} />}
      {!pod && <p className="muted">Choose a CloudPod to see or set its backup policy.</p>}
      {backups.error && <p className="form-error" role="alert">{backups.error}</p>}
      {backups.data && (backups.data.data.length === 0 ? (
        <Empty title="No backups yet">Backups appear here once a policy runs or someone backs a CloudPod up now.</Empty>
      ) : (
        <>
          <div className="table-wrap">
            <table>
              <thead><tr><th>Taken</th><th>CloudPod</th><th>Kind</th><th>Status</th><th>Size</th><th>Trigger</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {backups.data.data.map((b) => (
                  <tr key={b.id} data-backup={b.id}>
                    <td><When at={b.createdAt} /></td>
                    <td><Link to={`${base}/backups?cloudPodId=${b.cloudPodId}`}>{podName(b.cloudPodId)}</Link></td>
                    <td>{b.kind}</td>
                    <td><Badge status={b.status} />{b.error && <small className="muted"> {b.error}</small>}</td>
                    <td>{size(b.sizeBytes)}</td>
                    <td>{b.trigger}</td>
                    <td>
                      {b.jobId && <Link to={`${base}/jobs/${b.jobId}`}>Job</Link>}{" "}
                      {b.status === "succeeded" && <button type="button" onClick={() => void restore(b)}>Restore</button>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager {...backups.data.meta} onPage={(page) => setQuery({ page })} />
        </>
      ))}
    </>
  );
}
