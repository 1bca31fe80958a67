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
