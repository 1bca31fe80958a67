import { PowerDnsError } from "../../drivers/powerdns";
import { requireService } from "../../services";
import { defineJob, JobError, type JobContext } from "../define";

/**
 * Runs a PowerDNS driver call, turning a PowerDnsError into a JobError `powerdns_<code>` that
 * carries PowerDNS's own text; only "unavailable" (no connection, timeout, 5xx) is retryable.
 */
async function withPowerDns<T>(ctx: JobContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (!(error instanceof PowerDnsError)) throw error;
    ctx.event("error", `powerdns: ${error.output || error.message}`);
    throw new JobError(`powerdns_${error.code}`, error.message, error.code === "unavailable", { cause: error });
  }
}

/**
 * DNS_ZONE_SYNC: makes PowerDNS serve exactly the payload's zone (see `PowerDns.syncZone`):
 * created if absent, changed rrsets replaced and undesired ones deleted in one transaction, the
 * SOA serial bumped by SOA-EDIT-API, nothing sent when it already matches. `pdnsutil check-zone`
 * findings become warning events. Returns `{ outcome, serial, replaced, deleted }`.
 */
export const dnsZoneSync = defineJob({
  type: "DNS_ZONE_SYNC",
  async run(sync, ctx) {
    const powerdns = requireService(ctx.services, "powerdns");
    const result = await withPowerDns(ctx, () => powerdns.syncZone(sync));
    for (const problem of result.problems) ctx.event("warn", `pdnsutil check-zone: ${problem}`);
    ctx.event("info", `zone ${sync.zone} ${result.outcome}; serial ${result.serial}`, 100);
    return { outcome: result.outcome, serial: result.serial, replaced: result.replaced, deleted: result.deleted };
  },
});

/** DELETE_DNS_ZONE: deletes the zone and its records from PowerDNS; an absent zone is fine. Returns `{ outcome }`. */
export const deleteDnsZone = defineJob({
  type: "DELETE_DNS_ZONE",
  async run({ zone }, ctx) {
    const powerdns = requireService(ctx.services, "powerdns");
    const outcome = await withPowerDns(ctx, () => powerdns.deleteZone(zone));
    ctx.event("info", `zone ${zone} ${outcome}`, 100);
    return { outcome };
  },
});
