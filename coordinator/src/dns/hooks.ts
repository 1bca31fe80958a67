import { auditFromJob, payloadField, type JobHook } from "../jobs/hook-kit";

/** What finished DNS jobs change: the zone's status and last sync time. */
export const dnsHooks: Partial<Record<string, JobHook>> = {
  async DNS_ZONE_SYNC(client, job) {
    const zoneId = payloadField(job.payload, "zoneId");
    if (job.success) await client.query(`UPDATE dns_zones SET status = 'active', last_synced_at = now() WHERE id = $1 AND status <> 'deleting'`, [zoneId]);
    else {
      await client.query(`UPDATE dns_zones SET status = 'error' WHERE id = $1 AND status <> 'deleting'`, [zoneId]);
      await auditFromJob(client, job, "DNS_CHANGED", "dns_zone", zoneId, { change: "sync_failed" });
    }
  },
  async DELETE_DNS_ZONE(client, job) {
    const zoneId = payloadField(job.payload, "zoneId");
    await client.query(`UPDATE dns_zones SET status = $2 WHERE id = $1`, [zoneId, job.success ? "deleted" : "error"]);
  },
};
