import type { JobType } from "@mpanel/proto";
import { defineJob, JobError, type JobHandler } from "../define";

/** Handlers of this role (being written). */
export const webExtraHandlers = {
  SUSPEND_CLOUDPOD: defineJob({ type: "SUSPEND_CLOUDPOD", run() { throw new JobError("not_implemented", "SUSPEND_CLOUDPOD is not implemented yet", false); } }),
} satisfies { [T in JobType]?: JobHandler<T> };
