import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { Link } from "../router";
import type { LiveMessage } from "../live";
import type { Paged, Server } from "../types";
import { Badge, CheckField, Empty, FormError, PageHeader, Pager, Secret, TextField, useForm, When } from "../ui";
import { CreatePanel } from "./common";

const ROLES = ["web", "mail", "db", "dns"] as const;
type Role = (typeof ROLES)[number];

function liveServers(current: Paged<Server>, message: LiveMessage): Paged<Server> {
  if (message.kind !== "server") return current;
  return { ...current, data: current.data.map((s) => (s.id === message.id ? { ...s, status: message.status, lastSeenAt: message.lastSeenAt } : s)) };
}

function AddServer() {
  const form = useForm();
  const [roles, setRoles] = useState<Role[]>(["web"]);
  const [ttlMinutes, setTtlMinutes] = useState("60");
  const [command, setCommand] = useState<string | null>(null);
  const submit = form.submit(async () => {
    const [token, enrollment] = await Promise.all([api.createJoinToken({ roles, ttlSeconds: Math.round(Number(ttlMinutes) * 60) }), api.enrollment()]);
    setCommand(`MPANEL_AGENT_COORDINATOR=${enrollment.coordinator} node --import tsx agent/src/main.ts --config /etc/mpanel/agent.json --token ${token.token} --ca-hash ${enrollment.caHash}`);
  });
  const toggle = (role: Role, on: boolean): void => setRoles((all) => (on ? [...all, role] : all.filter((r) => r !== role)));
  return (
    <CreatePanel title="Add a server">
      <form onSubmit={(e) => void submit(e)} aria-label="Create a join token">
        <fieldset className={form.errors.roles ? "has-error" : ""}>
          <legend>Roles the node may take</legend>
          {ROLES.map((role) => <CheckField key={role} name={`role-${role}`} label={role} checked={roles.includes(role)} onChange={(on) => toggle(role, on)} />)}
          {form.errors.roles && <p className="field-error" data-field="roles">{form.errors.roles}</p>}
        </fieldset>
        <TextField form={form} name="ttlSeconds" label="Token valid for (minutes)" type="number" min={1} value={ttlMinutes} onChange={(e) => setTtlMinutes(e.target.value)} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Create join token</button>
      </form>
      {command && <Secret label="Run on the new server (single-use token)" value={command} />}
    </CreatePanel>
  );
}

/** Servers: status (live), roles, agent version, last seen; a join token with the install command. */
export function ServersPage() {
  const [page, setPage] = useState(1);
  const servers = useResource(() => api.servers({ page, pageSize: 50 }), String(page), liveServers);
  return (
    <>
      <PageHeader title="Servers" />
      <AddServer />
      {servers.error && <p className="form-error" role="alert">{servers.error}</p>}
      {servers.data && (servers.data.data.length === 0 ? <Empty title="No servers yet">Create a join token above and run the command on the new server.</Empty> : (
        <>
          <div className="table-wrap">
            <table>
              <thead><tr><th>Hostname</th><th>Status</th><th>Roles</th><th>Agent</th><th>Region</th><th>Last seen</th></tr></thead>
              <tbody>
                {servers.data.data.map((s) => (
                  <tr key={s.id} data-server={s.id}>
                    <td><Link to={`/admin/servers/${s.id}`}>{s.hostname}</Link></td>
                    <td><Badge status={s.status} /></td>
                    <td>{s.roles.join(", ")}</td>
                    <td>{s.agentVersion ?? "—"}</td>
                    <td>{s.region}</td>
                    <td><When at={s.lastSeenAt} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager {...servers.data.meta} onPage={setPage} />
        </>
      ))}
    </>
  );
}
