import { api } from "../api";
import { useResource } from "../hooks";
import { Empty, PageHeader, Pager, When } from "../ui";
import { useTenantNames } from "./tenant-names";
import { useUrlQuery } from "./url-query";

/** A `datetime-local` value (local time, no zone) as ISO 8601 UTC; "" stays "". */
function toIso(local: string): string {
  return local ? new Date(local).toISOString() : "";
}

/** An ISO instant as a `datetime-local` value in the browser's zone. */
function toLocal(iso: string): string {
  if (!iso) return "";
  const date = new Date(iso);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** The audit log: filter by actor (email), tenant, action and a time window; paged, newest first. */
export function AuditPage() {
  const tenants = useTenantNames();
  const { query, set: setQuery } = useUrlQuery("/admin/audit", ["actorEmail", "tenantId", "action", "from", "to"] as const, 50);
  const events = useResource(() => api.audit(query), JSON.stringify(query));
  return (
    <>
      <PageHeader title="Audit log" />
      <form className="filters" role="search" aria-label="Filter audit events" onSubmit={(e) => {
        e.preventDefault();
        const form = new FormData(e.currentTarget);
        setQuery({ actorEmail: String(form.get("actorEmail") ?? "").trim(), action: String(form.get("action") ?? "").trim().toUpperCase() });
      }}>
        <label>Actor email <input name="actorEmail" type="email" defaultValue={query.actorEmail} placeholder="someone@example.com" /></label>
        <label>Action <input name="action" defaultValue={query.action} placeholder="e.g. TENANT_CREATED" /></label>
        <label>Tenant
          <select value={query.tenantId} onChange={(e) => setQuery({ tenantId: e.target.value })}>
            <option value="">any</option>
            {[...tenants].map(([id, name]) => <option key={id} value={id}>{name}</option>)}
          </select>
        </label>
        <label>From <input type="datetime-local" value={toLocal(query.from)} onChange={(e) => setQuery({ from: toIso(e.target.value) })} /></label>
        <label>To <input type="datetime-local" value={toLocal(query.to)} onChange={(e) => setQuery({ to: toIso(e.target.value) })} /></label>
        <button type="submit">Filter</button>
      </form>
      {events.error && <p className="form-error" role="alert">{events.error}</p>}
      {events.data && (events.data.data.length === 0 ? <Empty title="No event matches" /> : (
        <>
          <div className="table-wrap">
            <table>
              <thead><tr><th>When</th><th>Action</th><th>Actor</th><th>Tenant</th><th>Target</th><th>Details</th></tr></thead>
              <tbody>
                {events.data.data.map((e) => (
                  <tr key={e.id} data-audit={e.action}>
                    <td><When at={e.at} /></td>
                    <td><code>{e.action}</code></td>
                    <td>{e.actor ? <span title={e.actor.name}>{e.actor.email}</span> : <span className="muted">{e.actorNodeId ? "a server" : "system"}</span>}</td>
                    <td>{e.tenantId ? tenants.get(e.tenantId) ?? <code>{e.tenantId.slice(0, 8)}</code> : <span className="muted">platform</span>}</td>
                    <td>{e.targetType}{e.targetId ? <> <code>{e.targetId.slice(0, 8)}</code></> : null}</td>
                    <td className="wrap"><code>{JSON.stringify(e.data)}</code></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager {...events.data.meta} onPage={(page) => setQuery({ page })} />
        </>
      ))}
    </>
  );
}
