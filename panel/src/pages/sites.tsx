import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { Link, navigate } from "../router";
import { useArea } from "../session";
import { Badge, CheckField, Empty, FormError, Pending, PageHeader, SelectField, TextField, useConfirm, useForm, useToast, When } from "../ui";
import { CreatePanel, useReloadOnLive, useTenantChoice } from "./common";
import { UptimeSection } from "./uptime";

const RUNTIMES = [{ value: "php", label: "PHP" }, { value: "static", label: "Static files" }];

function OrderCloudPod({ onDone }: { onDone(): void }) {
  const { base } = useArea();
  const toast = useToast();
  const form = useForm();
  const tenant = useTenantChoice(form);
  const [domain, setDomain] = useState("");
  const [runtime, setRuntime] = useState<"php" | "static">("php");
  const [parts, setParts] = useState({ dns: true, mail: true, tls: true });
  const submit = form.submit(async () => {
    const order = await api.orderCloudPod({ tenantId: tenant.tenantId, domain, runtime, ...parts });
    toast(`Ordered ${domain}: provisioning`);
    setDomain("");
    onDone();
    navigate(`${base}/jobs/${order.jobs.website}`);
  });
  return (
    <CreatePanel title="Order a CloudPod">
      <form onSubmit={(e) => void submit(e)} aria-label="Order a CloudPod">
        {tenant.field}
        <TextField form={form} name="domain" label="Domain" placeholder="example.com" required value={domain} onChange={(e) => setDomain(e.target.value)} />
        <SelectField form={form} name="runtime" label="Runtime" options={RUNTIMES} value={runtime} onChange={(e) => setRuntime(e.target.value === "static" ? "static" : "php")} />
        <div className="checks">
          <CheckField name="dns" label="Host the DNS zone" checked={parts.dns} onChange={(dns) => setParts({ ...parts, dns })} />
          <CheckField name="mail" label="Email for the domain" checked={parts.mail} onChange={(mail) => setParts({ ...parts, mail })} />
          <CheckField name="tls" label="TLS certificate" checked={parts.tls} onChange={(tls) => setParts({ ...parts, tls })} />
        </div>
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Order CloudPod</button>
      </form>
    </CreatePanel>
  );
}

function AddWebsite({ onDone }: { onDone(): void }) {
  const { base } = useArea();
  const toast = useToast();
  const form = useForm();
  const tenant = useTenantChoice(form);
  const [domain, setDomain] = useState("");
  const [runtime, setRuntime] = useState<"php" | "static">("static");
  const submit = form.submit(async () => {
    const created = await api.createWebsite({ tenantId: tenant.tenantId, domain, runtime });
    toast(`Website ${created.website.domain} is being created`);
    setDomain("");
    onDone();
    navigate(`${base}/jobs/${created.jobId}`);
  });
  return (
    <CreatePanel title="Add a website">
      <form onSubmit={(e) => void submit(e)} aria-label="Add a website">
        {tenant.field}
        <TextField form={form} name="domain" label="Domain" placeholder="shop.example.com" required value={domain} onChange={(e) => setDomain(e.target.value)} />
        <SelectField form={form} name="runtime" label="Runtime" options={RUNTIMES} value={runtime} onChange={(e) => setRuntime(e.target.value === "php" ? "php" : "static")} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Create website</button>
      </form>
    </CreatePanel>
  );
}

/** Websites and CloudPods: order a CloudPod, add a website, suspend/unsuspend pods (asks first). */
export function SitesPage() {
  const { base, kind } = useArea();
  const confirm = useConfirm();
  const toast = useToast();
  const lists = useResource(async () => {
    const [sites, pods] = await Promise.all([api.websites({ pageSize: 200 }), api.cloudPods({ pageSize: 200 })]);
    return { sites: sites.data, pods: pods.data };
  }, "sites");
  useReloadOnLive(lists.reload);
  const suspend = async (pod: { id: string; name: string; status: string }, on: boolean): Promise<void> => {
    if (on && !(await confirm({ title: `Suspend ${pod.name}?`, body: "Its sites answer 503 until it is unsuspended.", action: "Suspend CloudPod" }))) return;
    await api.setCloudPodSuspended(pod.id, on).then(() => toast(`${pod.name}: ${on ? "suspending" : "unsuspending"}`), (e: Error) => toast(e.message, "error"));
    lists.reload();
  };
  return (
    <>
      <PageHeader title="Sites" />
      <OrderCloudPod onDone={lists.reload} />
      <AddWebsite onDone={lists.reload} />
      {lists.error && <p className="form-error" role="alert">{lists.error}</p>}
      {lists.data && (
        <>
          <h2>Websites</h2>
          {lists.data.sites.length === 0 ? <Empty title="No websites yet">Order a CloudPod or add a website above.</Empty> : (
            <div className="table-wrap">
              <table>
                <thead><tr><th>Domain</th><th>Status</th><th>Runtime</th><th>Created</th></tr></thead>
                <tbody>
                  {lists.data.sites.map((s) => (
                    <tr key={s.id} data-site={s.domain}>
                      <td><Link to={`${base}/sites/${s.id}`}>{s.domain}</Link></td>
                      <td><Badge status={s.status} /></td>
                      <td>{s.runtime}</td>
                      <td><When at={s.createdAt} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <h2>CloudPods</h2>
          {lists.data.pods.length === 0 ? <Empty title="No CloudPods yet" /> : (
            <div className="table-wrap">
              <table>
                <thead><tr><th>Name</th><th>Status</th><th>System user</th><th><span className="sr-only">Actions</span></th></tr></thead>
                <tbody>
                  {lists.data.pods.map((p) => (
                    <tr key={p.id}>
                      <td>{p.name}</td>
                      <td><Badge status={p.status} /></td>
                      <td><code>{p.systemUser}</code></td>
                      <td>{p.status !== "provisioning" && p.status !== "deleting" && <Link to={`${base}/cloudpods/${p.id}/files`}>Files</Link>}{" "}{(p.status === "running" || p.status === "active") && <Link to={`${base}/cloudpods/${p.id}/terminal`}>Terminal</Link>}{" "}{kind === "admin" && (p.status === "suspended"
                        ? <button type="button" onClick={() => void suspend(p, false)}>Unsuspend</button>
                        : <button type="button" className="danger-quiet" onClick={() => void suspend(p, true)}>Suspend</button>)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </>
  );
}

/** One website: status, CloudPod, and delete (asks first). */
export function SitePage({ params }: { params: Record<string, string> }) {
  const id = params.id ?? "";
  const { base } = useArea();
  const confirm = useConfirm();
  const toast = useToast();
  const site = useResource(() => api.website(id), id);
  useReloadOnLive(site.reload);
  if (!site.data) return <Pending resource={site} what="website" />;
  const s = site.data;
  const remove = async (): Promise<void> => {
    if (!(await confirm({ title: `Delete ${s.domain}?`, body: "The site stops being served and its server block is removed. Files in the CloudPod stay.", action: "Delete website" }))) return;
    try {
      const result = await api.deleteWebsite(s.id);
      toast(`Deleting ${s.domain}`);
      navigate(result.jobId ? `${base}/jobs/${result.jobId}` : `${base}/sites`);
    } catch (error) {
      toast(error instanceof Error ? error.message : String(error), "error");
    }
  };
  return (
    <>
      <PageHeader title={s.domain}>
        <Badge status={s.status} />
        <button type="button" className="danger" onClick={() => void remove()}>Delete website</button>
      </PageHeader>
      <dl className="facts">
        <dt>Runtime</dt><dd>{s.runtime}</dd>
        <dt>CloudPod</dt><dd>{s.cloudPod.name} <Badge status={s.cloudPod.status} /></dd>
        <dt>System user</dt><dd><code>{s.cloudPod.systemUser}</code></dd>
        <dt>Created</dt><dd><When at={s.createdAt} /></dd>
      </dl>
      <p><Link to={`${base}/jobs`}>Jobs</Link> · <Link to={`${base}/backups?cloudPodId=${s.cloudPod.id}`}>Backups</Link></p>
      <UptimeSection websiteId={s.id} />
    </>
  );
}
