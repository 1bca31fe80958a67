import { randomUUID } from "node:crypto";
import { txtContent, type JobInput } from "@mpanel/proto";
import type { PoolClient } from "pg";
import type { Tx } from "../db/client";
import { insertJob } from "../jobs/hook-kit";
import type { Enqueue } from "../jobs/enqueue";
import type { JobTarget } from "../jobs/wakeups";

/** Runs one SQL statement with bound parameters ($1, $2, ...) and returns its rows. */
export type Rows = <T>(sql: string, params: unknown[]) => Promise<T[]>;

/** `Rows` over a Prisma interactive transaction. */
export function prismaRows(tx: Tx): Rows {
  return <T>(sql: string, params: unknown[]) => tx.$queryRawUnsafe<T[]>(sql, ...params);
}

/** `Rows` over a pg client (a job hook's transaction). */
export function pgRows(client: PoolClient): Rows {
  return async <T>(sql: string, params: unknown[]) => (await client.query(sql, params)).rows as T[];
}

/**
 * The DNS_ZONE_SYNC payload of a zone: its whole desired state from `dns_records`, grouped in
 * rrsets by (name, type) with the rrset's smallest TTL. Null when the zone does not exist.
 */
export async function zoneSyncPayload(rows: Rows, zoneId: string): Promise<{ serverId: string; tenantId: string; payload: JobInput<"DNS_ZONE_SYNC"> } | null> {
  const [zone] = await rows<{ name: string; nameservers: string[]; server_id: string; tenant_id: string }>(
    `SELECT name, nameservers, server_id, tenant_id FROM dns_zones WHERE id = $1::uuid`, [zoneId]);
  if (!zone) return null;
  const records = await rows<{ name: string; type: string; ttl: number; contents: string[] }>(
    `SELECT name, type, min(ttl)::int AS ttl, array_agg(content ORDER BY created_at, id) AS contents
     FROM dns_records WHERE zone_id = $1::uuid GROUP BY name, type ORDER BY name, type`, [zoneId]);
  return {
    serverId: zone.server_id,
    tenantId: zone.tenant_id,
    payload: {
      zoneId,
      zone: zone.name,
      nameservers: zone.nameservers,
      rrsets: records.map((r) => ({ name: r.name, type: r.type as "A", ttl: r.ttl, records: r.contents })),
    },
  };
}

/**
 * Sends a zone's current records to its DNS node. A DNS_ZONE_SYNC of this zone still queued
 * (not yet claimed) gets the new payload instead of a second job, since each sync carries the
 * whole zone. Returns the job id, or null when the zone does not exist.
 */
async function syncZoneWith(rows: Rows, zoneId: string, insert: (p: NonNullable<Awaited<ReturnType<typeof zoneSyncPayload>>>, dependsOn: string[]) => Promise<string>, dependsOn: string[]): Promise<string | null> {
  const desired = await zoneSyncPayload(rows, zoneId);
  if (!desired) return null;
  if (dependsOn.length === 0) {
    const [pending] = await rows<{ id: string }>(
      `UPDATE jobs SET payload = $2::jsonb WHERE id = (
         SELECT id FROM jobs WHERE type = 'DNS_ZONE_SYNC' AND status = 'queued' AND payload->>'zoneId' = $1
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE) RETURNING id`,
      [zoneId, JSON.stringify(desired.payload)]);
    if (pending) return pending.id;
  }
  return insert(desired, dependsOn);
}

/** `syncZone` inside an API transaction (jobs announced on commit by `withJobs`). */
export function syncZone(tx: Tx, enqueue: Enqueue, zoneId: string, options: { dependsOn?: string[]; cloudPodId?: string } = {}): Promise<string | null> {
  return syncZoneWith(prismaRows(tx), zoneId, async (d, dependsOn) => (await enqueue({
    type: "DNS_ZONE_SYNC", payload: d.payload, tenantId: d.tenantId, targetServerId: d.serverId, dependsOn,
    ...(options.cloudPodId ? { cloudPodId: options.cloudPodId } : {}),
  })).id, options.dependsOn ?? []);
}

/** `syncZone` inside a job hook's transaction. */
export function syncZoneFromHook(client: PoolClient, wake: (target: JobTarget) => void, zoneId: string): Promise<string | null> {
  return syncZoneWith(pgRows(client), zoneId, (d) => insertJob(client, wake, {
    type: "DNS_ZONE_SYNC", payload: d.payload, tenantId: d.tenantId, targetServerId: d.serverId,
  }), []);
}

/**
 * Publishes a mail domain's DKIM public key (RFC 6376 section 3.6.1) in the zone of its domain:
 * replaces the managed TXT rrset at `<selector>._domainkey.<zone>.` and syncs the zone. Does
 * nothing when the domain has no zone here (its DNS is hosted elsewhere).
 */
export async function publishDkim(client: PoolClient, wake: (target: JobTarget) => void, input: { domainId: string; selector: string; publicKey: string }): Promise<void> {
  const zone = (await client.query<{ id: string; name: string }>(`SELECT id, name FROM dns_zones WHERE domain_id = $1`, [input.domainId])).rows[0];
  if (!zone) return;
  const name = `${input.selector}._domainkey.${zone.name}.`;
  await client.query(`DELETE FROM dns_records WHERE zone_id = $1 AND name = $2 AND type = 'TXT'`, [zone.id, name]);
  await client.query(
    `INSERT INTO dns_records (id, zone_id, name, type, ttl, content, managed) VALUES ($1, $2, $3, 'TXT', 3600, $4, true)`,
    [randomUUID(), zone.id, name, txtContent(`v=DKIM1; k=rsa; p=${input.publicKey}`)]);
  await syncZoneFromHook(client, wake, zone.id);
}
