import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { Link, navigate, useLocation } from "../router";
import { useSession } from "../session";
import type { TenantCreated } from "../types";
import { Badge, Empty, FormError, Pending, PageHeader, Pager, Secret, TextField, useConfirm, useForm, useToast, When } from "../ui";
import { CreatePanel } from "./common";
import { JobTable } from "./jobs";

/** Suspend (asks first) or unsuspend a tenant; `done` gets the new status. */
function useSuspendToggle(done: () => void) {
  const confirm = useConfirm();
  const toast = useToast();
  return async (tenant: { id: string; name: string; status: string }): Promise<void> => {
    const suspend = tenant.status !== "suspended";
    if (suspend && !(await confirm({ title: `Suspend ${tenant.name}?`, body: "Its users can still sign in, but it cannot order or change services until it is unsuspended.", action: "Suspend tenant" }))) return;
    try {
      await api.setTenantSuspended(tenant.id, suspend);
      toast(`${tenant.name} ${suspend ? "suspended" : "unsuspended"}`);
      done();
    } catch (error) {
      toast(error instanceof Error ? error.message : String(error), "error");
    }
  };
}

/** Impersonate the tenant's owner (asks first): the browser continues in the owner's session, bannered and audited. */
function useImpersonate() {
  const confirm = useConfirm();
  const toast = useToast();
  const { refresh } = useSession();
  return async (tenant: { id: string; name: string }): Promise<void> => {
    if (!(await confirm({ title: `Act as ${tenant.name}'s owner?`, body: "You leave your own session and see the client area as the owner for up to an hour. It is recorded in the audit log.", action: "Impersonate owner" }))) return;
    try {
      const session = await api.impersonate(tenant.id);
      await refresh(session.expiresAt);
      navigate("/client", true);
    } catch (error) {
      toast(error instanceof Error ? error.message : String(error), "error");
    }
  };
}

function CreateTenant({ onCreated }: { onCreated(): void }) {
  const form = useForm();
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [ownerEmail, setOwnerEmail] = useState("");
  const [ownerName, setOwnerName] = useState("");
  const [created, setCreated] = useState<TenantCreated | null>(null);
  const submit = form.submit(async () => {
    const result = await api.createTenant({
      name, ...(slug ? { slug } : {}), ...(ownerEmail || ownerName ? { owner: { email: ownerEmail, name: ownerName } } : {}),
    });
    setCreated(result);
    setName("");
    setSlug("");
    setOwnerEmail("");
    setOwnerName("");
    onCreated();
  });
  return (
    <CreatePanel title="New tenant">
      <form onSubmit={(e) => void submit(e)} aria-label="New tenant">
        <TextField form={form} name="name" label="Name" required value={name} onChange={(e) => setName(e.target.value)} />
        <TextField form={form} name="slug" label="Slug (optional)" hint="a-z, 0-9 and inner hyphens; made from the name when empty" value={slug} onChange={(e) => setSlug(e.target.value)} />
        <TextField form={form} name="owner.email" label="Owner email (optional)" type="email" value={ownerEmail} onChange={(e) => setOwnerEmail(e.target.value)} />
        <TextField form={form} name="owner.name" label="Owner name" value={ownerName} onChange={(e) => setOwnerName(e.target.value)} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Create tenant</button>
      </form>
      {created && (
        <div className="notice" role="status">
          <p>Created <Link to={`/admin/tenants/${created.tenant.id}`}>{created.tenant.name}</Link>.</p>
          {created.owner && <Secret label={`Password for ${created.owner.email ?? "the owner"}`} value={created.owner.oneTimePassword} />}
        </div>
      )}
    </CreatePanel>
  );
}

/** Tenants: search, status filter, pages, create (with an owner), suspend/unsuspend. */
export function TenantsPage() {
  const { search } = useLocation();
  const query = { q: search.get("q") ?? "", status: search.get("status") ?? "", page: Number(search.get("page") ?? 1), pageSize: 20 };
  const setQuery = (change: Partial<typeof query>): void => {
    const next = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...query, page: 1, ...change })) if (v && k !== "pageSize" && !(k === "page" && v === 1)) next.set(k, String(v));
    navigate(`/admin/tenants${next.size ? `?${next}` : ""}`, true);
  };
  const tenants = useResource(() => api.tenants(query), JSON.stringify(query));
  const toggle = useSuspendToggle(tenants.reload);
  return (
    <>
      <PageHeader title="Tenants" />
      <CreateTenant onCreated={tenants.reload} />
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>Search <input type="search" defaultValue={query.q} placeholder="name or slug" onChange={(e) => setQuery({ q: e.target.value })} /></label>
        <label>Status
          <select value={query.status} onChange={(e) => setQuery({ status: e.target.value })}>
            <option value="">any</option><option value="active">active</option><option value="suspended">suspended</option>
          </select>
        </label>
      </form>
      {tenants.data && (tenants.data.data.length === 0 ? <Empty title={query.q || query.status ? "No tenant matches" : "No tenants yet"}>Create the first one above.</Empty> : (
        <>
          <div className="table-wrap">
            <table>
              <thead><tr><th>Name</th><th>Slug</th><th>Status</th><th>Created</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {tenants.data.data.map((t) => (
                  <tr key={t.id} data-tenant={t.slug}>
                    <td><Link to={`/admin/tenants/${t.id}`}>{t.name}</Link></td>
                    <td><code>{t.slug}</code></td>
                    <td><Badge status={t.status} /></td>
                    <td><When at={t.createdAt} /></td>
                    <td><button type="button" className={t.status === "suspended" ? "" : "danger-quiet"} onClick={() => void toggle(t)}>{t.status === "suspended" ? "Unsuspend" : "Suspend"}</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager {...tenants.data.meta} onPage={(page) => setQuery({ page })} />
        </>
      ))}
    </>
  );
}

/** One tenant: status, counts, suspend/unsuspend, its websites and latest jobs. */
export function TenantPage({ params }: { params: Record<string, string> }) {
  const id = params.id ?? "";
  const tenant = useResource(async () => {
    const [detail, sites, jobs] = await Promise.all([api.tenant(id), api.websites({ tenantId: id, pageSize: 50 }), api.jobs({ tenantId: id, pageSize: 10 })]);
    return { detail, sites: sites.data, jobs: jobs.data };
  }, id);
  const toggle = useSuspendToggle(tenant.reload);
  const impersonate = useImpersonate();
  if (!tenant.data) return <Pending resource={tenant} what="tenant" />;
  const { detail, sites, jobs } = tenant.data;
  return (
    <>
      <PageHeader title={detail.name}>
        <Badge status={detail.status} />
        <button type="button" onClick={() => void impersonate(detail)}>Impersonate owner</button>
        <button type="button" className={detail.status === "suspended" ? "" : "danger"} onClick={() => void toggle(detail)}>{detail.status === "suspended" ? "Unsuspend" : "Suspend"}</button>
      </PageHeader>
      <dl className="facts">
        <dt>Slug</dt><dd><code>{detail.slug}</code></dd>
        <dt>CloudPods</dt><dd>{detail.counts.cloudPods}</dd>
        <dt>Websites</dt><dd>{detail.counts.websites}</dd>
        <dt>Created</dt><dd><When at={detail.createdAt} /></dd>
      </dl>
      <h2>Websites</h2>
      {sites.length === 0 ? <Empty title="No websites" /> : (
        <ul className="plain">{sites.map((s) => <li key={s.id}><Link to={`/admin/sites/${s.id}`}>{s.domain}</Link> <Badge status={s.status} /></li>)}</ul>
      )}
      <h2>Latest jobs</h2>
      <JobTable jobs={jobs} />
    </>
  );
}
