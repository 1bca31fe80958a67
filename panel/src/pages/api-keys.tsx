import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { useArea } from "../session";
import type { ApiKey, ApiKeyBody, ApiKeyCreated } from "../types";
import { Badge, Empty, FormError, PageHeader, Secret, TextField, useConfirm, useForm, useToast, When } from "../ui";
import { CreatePanel } from "./common";

type Scope = ApiKeyBody["scopes"][number];
/** Every scope the API accepts (the `satisfies` fails the build when the API adds or drops one). */
const SCOPE_SET = {
  domains: true, cloudpods: true, websites: true, email: true, databases: true, ssl: true, jobs: true,
  tenants: true, users: true, servers: true, audit: true, billing: true, metrics: true,
} as const satisfies Record<Scope, true>;
const SCOPES = Object.keys(SCOPE_SET) as Scope[];

/** A key's state: revoked, expired, or active. */
function keyStatus(key: ApiKey): string {
  if (key.revokedAt) return "revoked";
  if (key.expiresAt && Date.parse(key.expiresAt) <= Date.now()) return "expired";
  return "active";
}

function CreateKey({ onCreated }: { onCreated(): void }) {
  const form = useForm();
  const { tenantId } = useArea();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [expires, setExpires] = useState("");
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const toggle = (scope: Scope, on: boolean) => setScopes(on ? [...scopes, scope] : scopes.filter((s) => s !== scope));
  const submit = form.submit(async () => {
    const body: ApiKeyBody = { name, scopes, ...(tenantId ? { tenantId } : {}), ...(expires ? { expiresAt: new Date(`${expires}T23:59:59`).toISOString() } : {}) };
    setCreated(await api.createApiKey(body));
    setName("");
    setScopes([]);
    setExpires("");
    onCreated();
  });
  const scopeError = form.errors.scopes;
  return (
    <CreatePanel title="New API key">
      <form onSubmit={(e) => void submit(e)} aria-label="New API key">
        <TextField form={form} name="name" label="Name" placeholder="deploy script" value={name} onChange={(e) => setName(e.target.value)} />
        <fieldset className={scopeError ? "has-error" : undefined} aria-describedby={scopeError ? `${form.id}-scopes-error` : undefined}>
          <legend>Scopes (what the key may reach)</legend>
          <div className="checks">
            {SCOPES.map((s) => (
              <label key={s} className="check"><input type="checkbox" name="scopes" value={s} checked={scopes.includes(s)} onChange={(e) => toggle(s, e.target.checked)} /> {s}</label>
            ))}
          </div>
          {scopeError && <p className="field-error" id={`${form.id}-scopes-error`} data-field="scopes">{scopeError}</p>}
        </fieldset>
        <TextField form={form} name="expiresAt" label="Expires (optional)" type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Create key</button>
      </form>
      {created && <Secret label={`Token of ${created.name}`} value={created.token} />}
    </CreatePanel>
  );
}

/** The user's API keys (bearer tokens for automation): create (token shown once), list, revoke (asks first). */
export function ApiKeysPage() {
  const confirm = useConfirm();
  const toast = useToast();
  const keys = useResource(() => api.apiKeys(), "api-keys");
  const revoke = async (key: ApiKey): Promise<void> => {
    if (!(await confirm({ title: `Revoke ${key.name}?`, body: "Scripts using this key stop working at once. This cannot be undone.", action: "Revoke key" }))) return;
    await api.revokeApiKey(key.id).then(() => toast(`${key.name} revoked`), (e: Error) => toast(e.message, "error"));
    keys.reload();
  };
  return (
    <>
      <PageHeader title="API keys" />
      <CreateKey onCreated={keys.reload} />
      {keys.error && <p className="form-error" role="alert">{keys.error}</p>}
      {keys.data && (keys.data.length === 0 ? <Empty title="No API keys yet">Create one above for scripts and integrations.</Empty> : (
        <div className="table-wrap">
          <table>
            <thead><tr><th>Name</th><th>Prefix</th><th>Scopes</th><th>Status</th><th>Last used</th><th>Expires</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {keys.data.map((k) => (
                <tr key={k.id} data-api-key={k.name}>
                  <td>{k.name}</td>
                  <td><code>{k.prefix}…</code></td>
                  <td className="wrap">{k.scopes.join(", ")}</td>
                  <td><Badge status={keyStatus(k)} /></td>
                  <td><When at={k.lastUsedAt} /></td>
                  <td><When at={k.expiresAt} /></td>
                  <td>{!k.revokedAt && <button type="button" className="danger-quiet" onClick={() => void revoke(k)}>Revoke</button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </>
  );
}
