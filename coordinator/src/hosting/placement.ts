import type { Tx } from "../db/client";
import { AppError } from "../errors";

/**
 * Picks the web node for a new CloudPod: the named one (must exist, not be revoked nor drained,
 * and have the web role; else a `validation` error on `serverId`), or the online, undrained web
 * node (in `region` when given) with the most free capacity (max_sites minus live CloudPods).
 * Throws `no_capacity` when none has room.
 */
export async function placeCloudPod(tx: Tx, serverId?: string, region?: string): Promise<string> {
  if (serverId) {
    const server = await tx.server.findUnique({ where: { id: serverId } });
    if (!server || server.revokedAt || !server.roles.includes("web")) {
      throw new AppError("validation", "serverId: unknown server or not a web node", [{ field: "serverId", message: "unknown server or not a web node" }]);
    }
    if (server.drainedAt) throw new AppError("validation", "serverId: the server is drained", [{ field: "serverId", message: "the server is drained (mpanel undrain lifts it)" }]);
    return server.id;
  }
  const rows = await tx.$queryRaw<Array<{ id: string }>>`
    SELECT s.id FROM servers s
    LEFT JOIN cloud_pods p ON p.server_id = s.id AND p.deleted_at IS NULL
    WHERE s.revoked_at IS NULL AND s.drained_at IS NULL AND 'web' = ANY(s.roles) AND (${region ?? null}::text IS NULL OR s.region = ${region ?? null})
    GROUP BY s.id
    HAVING count(p.id) < max(s.max_sites)
    ORDER BY (s.status = 'online') DESC, max(s.max_sites) - count(p.id) DESC, s.created_at
    LIMIT 1`;
  const chosen = rows[0];
  if (!chosen) throw new AppError("no_capacity", `no web node${region ? ` in region ${region}` : ""} has free capacity`);
  return chosen.id;
}

/**
 * Picks the node of `role` for a new mail domain, database or zone: the named one (must exist,
 * not be revoked nor drained and have the role; else a `validation` error on `serverId`), else
 * the non-revoked, undrained node of that role, online first, in `region` when given, with the fewest live
 * records (mail domains, databases and zones). With `capability`, only nodes that announced that
 * daemon in their Hello (e.g. "mariadb") qualify. Throws `no_capacity` when none does.
 */
export async function placeByRole(tx: Tx, role: "mail" | "db" | "dns", options: { serverId?: string | undefined; region?: string | undefined; capability?: string } = {}): Promise<string> {
  const capable = (capabilities: unknown) => options.capability === undefined || (Array.isArray(capabilities) && capabilities.some((c) => (c as { name?: unknown }).name === options.capability));
  if (options.serverId) {
    const server = await tx.server.findUnique({ where: { id: options.serverId } });
    if (!server || server.revokedAt || !server.roles.includes(role) || !capable(server.capabilities)) {
      const message = `unknown server or not a ${role} node${options.capability ? ` running ${options.capability}` : ""}`;
      throw new AppError("validation", `serverId: ${message}`, [{ field: "serverId", message }]);
    }
    if (server.drainedAt) throw new AppError("validation", "serverId: the server is drained", [{ field: "serverId", message: "the server is drained (mpanel undrain lifts it)" }]);
    return server.id;
  }
  const rows = await tx.$queryRaw<Array<{ id: string }>>`
    SELECT s.id FROM servers s
    WHERE s.revoked_at IS NULL AND s.drained_at IS NULL AND ${role} = ANY(s.roles) AND (${options.region ?? null}::text IS NULL OR s.region = ${options.region ?? null})
      AND (${options.capability ?? null}::text IS NULL OR s.capabilities @> jsonb_build_array(jsonb_build_object('name', ${options.capability ?? null}::text)))
    ORDER BY (s.status = 'online') DESC,
      (SELECT count(*) FROM mail_domains m WHERE m.server_id = s.id AND m.deleted_at IS NULL)
      + (SELECT count(*) FROM databases d WHERE d.server_id = s.id AND d.deleted_at IS NULL)
      + (SELECT count(*) FROM dns_zones z WHERE z.server_id = s.id),
      s.created_at
    LIMIT 1`;
  const chosen = rows[0];
  if (!chosen) throw new AppError("no_capacity", `no ${role} node${options.capability ? ` running ${options.capability}` : ""} is available`);
  return chosen.id;
}
