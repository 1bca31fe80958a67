import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import type { UptimeCheck } from "../types";
import { Badge, FormError, SelectField, TextField, useConfirm, useForm, useToast, When } from "../ui";

const PROBES_SHOWN = 20;

/** The latest probes of one check, newest first: time, status code or error, latency. */
function Probes({ check }: { check: UptimeCheck }) {
  const detail = useResource(() => Promise.all([api.uptimeCheck(check.id), api.uptimeResults(check.id, { pageSize: PROBES_SHOWN })]), `${check.id}:${check.lastCheckedAt ?? ""}`);
  if (!detail.data) return <p className="muted" aria-busy="true">{detail.error ?? "Loading…"}</p>;
  const [{ summary }, results] = detail.data;
  return (
    <>
      <p className="muted" data-uptime-summary>
        Last 24 h: {summary.uptimePercent === null ? "N/A" : `${summary.uptimePercent}% up`} over {summary.probes} {summary.probes === 1 ? "probe" : "probes"};
        latency p50 {summary.latencyP50Ms === null ? "N/A" : `${Math.round(summary.latencyP50Ms)} ms`}, p95 {summary.latencyP95Ms === null ? "N/A" : `${Math.round(summary.latencyP95Ms)} ms`}
      </p>
      {results.data.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead><tr><th>At</th><th>Result</th><th>Latency</th></tr></thead>
            <tbody>
              {results.data.map((r) => (
                <tr key={r.id}>
                  <td><When at={r.at} /></td>
                  <td><Badge status={r.ok ? "up" : "down"} /> {r.statusCode ?? ""} {r.error ?? ""}</td>
                  <td>{r.latencyMs === null ? "N/A" : `${r.latencyMs} ms`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** Adds an uptime check to a website: scheme, optional port, path, interval. */
function AddCheck({ websiteId, onDone }: { websiteId: string; onDone(): void }) {
  const toast = useToast();
  const form = useForm();
  const [value, setValue] = useState({ scheme: "https", port: "", path: "/", intervalSeconds: "60" });
  const submit = form.submit(async () => {
    await api.createUptimeCheck(websiteId, {
      scheme: value.scheme === "http" ? "http" : "https", path: value.path, intervalSeconds: Number(value.intervalSeconds),
      ...(value.port ? { port: Number(value.port) } : {}),
    });
    toast("Uptime check added");
    onDone();
  });
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label="Add an uptime check">
      <SelectField form={form} name="scheme" label="Scheme" options={[{ value: "https", label: "https" }, { value: "http", label: "http" }]} value={value.scheme} onChange={(e) => setValue({ ...value, scheme: e.target.value })} />
      <TextField form={form} name="port" label="Port" type="number" placeholder="default" value={value.port} onChange={(e) => setValue({ ...value, port: e.target.value })} />
      <TextField form={form} name="path" label="Path" value={value.path} onChange={(e) => setValue({ ...value, path: e.target.value })} />
      <TextField form={form} name="intervalSeconds" label="Every (s)" type="number" min={30} value={value.intervalSeconds} onChange={(e) => setValue({ ...value, intervalSeconds: e.target.value })} />
      <button type="submit" className="primary" disabled={form.busy}>Add check</button>
      <FormError form={form} />
    </form>
  );
}

/** A website's uptime checks: state, 24 h figures, latest probes; add and delete (asks first). */
export function UptimeSection({ websiteId }: { websiteId: string }) {
  const confirm = useConfirm();
  const toast = useToast();
  const checks = useResource(() => api.uptimeChecks({ websiteId, pageSize: 20 }), websiteId);
  const remove = async (check: UptimeCheck): Promise<void> => {
    if (!(await confirm({ title: "Delete this uptime check?", body: `${check.url} stops being probed and its history is deleted.`, action: "Delete check" }))) return;
    await api.deleteUptimeCheck(check.id).then(() => toast("Uptime check deleted"), (e: Error) => toast(e.message, "error"));
    checks.reload();
  };
  return (
    <section aria-label="Uptime">
      <h2>Uptime</h2>
      {checks.error && <p className="form-error" role="alert">{checks.error}</p>}
      {checks.data?.data.length === 0 && <p className="muted">No uptime check yet: add one to be told when the site stops answering.</p>}
      {checks.data?.data.map((check) => (
        <article key={check.id} data-uptime-check={check.id}>
          <h3><code>{check.url}</code> <Badge status={check.status} /></h3>
          <p className="muted">Every {check.intervalSeconds} s; last probed <When at={check.lastCheckedAt} />. <button type="button" className="danger-quiet" onClick={() => void remove(check)}>Delete</button></p>
          <Probes check={check} />
        </article>
      ))}
      <h3>Add a check</h3>
      <AddCheck websiteId={websiteId} onDone={checks.reload} />
    </section>
  );
}
