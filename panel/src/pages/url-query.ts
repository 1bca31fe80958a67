import { navigate, useLocation } from "../router";

/**
 * A list page's query kept in the URL (`?status=…&page=2`): the `keys` filters ("" when
 * absent), the page (from 1) and a fixed page size. `set` rewrites the URL in place; any
 * change but a page change goes back to page 1; empty values and page 1 are left out.
 */
export function useUrlQuery<K extends string>(path: string, keys: readonly K[], pageSize: number) {
  const { search } = useLocation();
  const query = { ...Object.fromEntries(keys.map((k) => [k, search.get(k) ?? ""])) as Record<K, string>, page: Number(search.get("page") ?? 1), pageSize };
  const set = (change: Partial<Record<K | "page", string | number>>): void => {
    const next = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...query, page: 1, ...change })) if (v && k !== "pageSize" && !(k === "page" && v === 1)) next.set(k, String(v));
    navigate(`${path}${next.size ? `?${next}` : ""}`, true);
  };
  return { query, set };
}
