import { useEffect, useRef, useState, type ReactNode } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { useLive } from "../live";
import { useArea } from "../session";
import { SelectField, type FormState } from "../ui";

/**
 * The tenant a create form acts for: in the admin area a select of tenants (`tenantId`, its
 * API error beside it); in the client area the user's tenant, with nothing to choose.
 * Returns the chosen id and the field to render.
 */
export function useTenantChoice(form: FormState, initial?: string): { tenantId: string; field: ReactNode } {
  const area = useArea();
  const [tenantId, setTenantId] = useState(initial ?? area.tenantId ?? "");
  const tenants = useResource(async () => (area.kind === "admin" ? (await api.tenants({ pageSize: 200, status: "active" })).data : []), area.kind);
  useEffect(() => {
    const first = tenants.data?.[0];
    if (!tenantId && first) setTenantId(first.id);
  }, [tenants.data, tenantId]);
  if (area.kind === "client") return { tenantId, field: null };
  const options = [{ value: "", label: "Choose a tenant" }, ...(tenants.data ?? []).map((t) => ({ value: t.id, label: `${t.name} (${t.slug})` }))];
  return { tenantId, field: <SelectField form={form} name="tenantId" label="Tenant" value={tenantId} options={options} onChange={(e) => setTenantId(e.target.value)} /> };
}

/** A collapsible panel holding a create form (a `<details>`: keyboard and screen-reader friendly). */
export function CreatePanel({ title, children, open }: { title: string; children: ReactNode; open?: boolean }) {
  return (
    <details className="create" open={open}>
      <summary>{title}</summary>
      {children}
    </details>
  );
}

/**
 * Calls `reload` 300 ms after the last job or server change pushed live (records follow their
 * jobs: a site turns active when its job succeeds). Event-driven: nothing polls.
 */
export function useReloadOnLive(reload: () => void): void {
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  useLive((message) => {
    if (message.kind === "job_event" || message.kind === "resync") return;
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(reload, 300);
  });
}
