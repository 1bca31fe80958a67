import { api } from "../api";
import { useResource } from "../hooks";
import { useArea } from "../session";

/** Tenant names by id for the admin area's lists (the first 200 tenants); empty in the client area. */
export function useTenantNames(): Map<string, string> {
  const { kind } = useArea();
  const tenants = useResource(async () => (kind === "admin" ? (await api.tenants({ pageSize: 200 })).data : []), `tenant-names-${kind}`);
  return new Map((tenants.data ?? []).map((t) => [t.id, t.name]));
}
