import type { JobType } from "@mpanel/proto";
import { defineJob, JobError, type JobHandler } from "../define";

/** Handlers of this role (being written). */
export const tlsHandlers = {
  ISSUE_SSL: defineJob({ type: "ISSUE_SSL", run() { throw new JobError("not_implemented", "ISSUE_SSL is not implemented yet", false); } }),
  RENEW_SSL: defineJob({ type: "RENEW_SSL", run() { throw new JobError("not_implemented", "RENEW_SSL is not implemented yet", false); } }),
} satisfies { [T in JobType]?: JobHandler<T> };
