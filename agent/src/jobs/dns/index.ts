import type { JobType } from "@mpanel/proto";
import { defineJob, JobError, type JobHandler } from "../define";

/** Handlers of this role (being written). */
export const dnsHandlers = {
  DNS_ZONE_SYNC: defineJob({ type: "DNS_ZONE_SYNC", run() { throw new JobError("not_implemented", "DNS_ZONE_SYNC is not implemented yet", false); } }),
  DELETE_DNS_ZONE: defineJob({ type: "DELETE_DNS_ZONE", run() { throw new JobError("not_implemented", "DELETE_DNS_ZONE is not implemented yet", false); } }),
} satisfies { [T in JobType]?: JobHandler<T> };
