import type { Tx } from "../db/client";
import { AppError } from "../errors";

/**
 * Picks the web node for a new CloudPod: the named one (must exist, not be revoked, and have
 * the web role; else a `validation` error on `serverId`), or the online web node with the
 * most free capacity (max_sites minus live CloudPods). Throws `no_capacity` when none has room.
 */
export async function placeCloudPod(tx: Tx, serverId?: string): Promise<string> {
  if (serverId) {
    const server = await tx.server.findUnique({ where: { id: serverId } });
    if (!server || server.revokedAt || !server.roles.includes("web")) {
      throw new AppError("validation", "serverId: unknown server or not a web node", [{ field: "serverId", message: "unknown server or not a web node" }]);
    }
    return server.id;
  }
  const rows = await tx.$queryRaw<Array<{ id: string }>>`
    SELECT s.id FROM servers s
    LEFT JOIN cloud_pods p ON p.server_id = s.id AND p.deleted_at IS NULL
    WHERE s.revoked_at IS NULL AND 'web' = ANY(s.roles)
    GROUP BY s.id
    HAVING count(p.id) < max(s.max_sites)
    ORDER BY (s.status = 'online') DESC, max(s.max_sites) - count(p.id) DESC, s.created_at
    LIMIT 1`;
  const chosen = rows[0];
  if (!chosen) throw new AppError("no_capacity", "no web node has free capacity");
  return chosen.id;
}

/**
 * Picks the node of `role` for a new mail domain, database or zone: the named one (must exist,
 * not be revoked and have the role; else a `validation` error on `serverId`), else the
 * non-revoked node of that role, online first, in `region` when given, with the fewest live
 * records in `countTable` (a table with `server_id` and `deleted_at`, or dns_zones). Throws
 * `no_capacity` when the platform has no node of that role.
 */
export async function placeByRole(tx: Tx, role: "mail" | "db" | "dns", options: { serverId?: string | undefined; region?: string | undefined } = {}): Promise<string> {
  if (options.serverId) {
    const server = await tx.server.findUnique({ where: { id: options.serverId } });
    if (!server || server.revokedAt || !server.roles.includes(role)) {
      throw new AppError("validation", `serverId: unknown server or not a ${role} node`, [{ field: "serverId", message: `unknown server or not a ${role} node` }]);
    }
    return server.id;
  }
  const rows = await tx.$queryRaw<Array<{ id: string }>>`
    SELECT s.id FROM servers s
    WHERE s.revoked_at IS NULL AND ${role} = ANY(s.roles) AND (${options.region ?? null}::text IS NULL OR s.region = ${options.region ?? null})
    ORDER BY (s.status = 'online') DESC,
      (SELECT count(*) FROM mail_domains m WHERE m.server_id = s.id AND m.deleted_at IS NULL)
      + (SELECT count(*) FROM databases d WHERE d.server_id = s.id AND d.deleted_at IS NULL)
      + (SELECT count(*) FROM dns_zones z WHERE z.server_id = s.id),
      s.created_at
    LIMIT 1`;
  const chosen = rows[0];
  if (!chosen) throw new AppError("no_capacity", `no ${role} node is available`);
  return chosen.id;
}
