import { api } from "../api";
import { useResource } from "../hooks";
import { Link } from "../router";
import { Badge, Empty, PageHeader, Pager, When } from "../ui";
import { useTenantNames } from "./tenant-names";
import { useUrlQuery } from "./url-query";

/** Users (platform staff and tenant members): search by email or name, filter by tenant, paged. */
export function UsersPage() {
  const tenants = useTenantNames();
  const { query, set: setQuery } = useUrlQuery("/admin/users", ["q", "tenantId"] as const, 25);
  const users = useResource(() => api.users(query), JSON.stringify(query));
  return (
    <>
      <PageHeader title="Users" />
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>Search <input type="search" defaultValue={query.q} placeholder="email or name" onChange={(e) => setQuery({ q: e.target.value })} /></label>
        <label>Tenant
          <select value={query.tenantId} onChange={(e) => setQuery({ tenantId: e.target.value })}>
            <option value="">any</option>
            {[...tenants].map(([id, name]) => <option key={id} value={id}>{name}</option>)}
          </select>
        </label>
      </form>
      {users.error && <p className="form-error" role="alert">{users.error}</p>}
      {users.data && (users.data.data.length === 0 ? <Empty title="No user matches" /> : (
        <>
          <div className="table-wrap">
            <table>
              <thead><tr><th>Name</th><th>Email</th><th>Role</th><th>Two-factor</th><th>Status</th><th>Created</th></tr></thead>
              <tbody>
                {users.data.data.map((u) => (
                  <tr key={u.id} data-user={u.email}>
                    <td>{u.name}</td>
                    <td><code>{u.email}</code></td>
                    <td className="wrap">
                      {u.platformRole && <span>{u.platformRole}</span>}
                      {u.tenants.map((m) => <span key={m.tenantId}> <Link to={`/admin/tenants/${m.tenantId}`}>{tenants.get(m.tenantId) ?? "tenant"}</Link> ({m.role})</span>)}
                    </td>
                    <td>{u.mfa ? "on" : <span className="muted">off</span>}</td>
                    <td><Badge status={u.locked ? "locked" : u.status} /></td>
                    <td><When at={u.createdAt} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager {...users.data.meta} onPage={(page) => setQuery({ page })} />
        </>
      ))}
    </>
  );
}
