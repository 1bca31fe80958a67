import type { JobType } from "@mpanel/proto";
import type { JobHandler } from "../define";
import { suspendCloudPod } from "./cloudpod";

/** Handlers of this role not listed one by one in jobs/index.ts. */
export const webExtraHandlers = {
  SUSPEND_CLOUDPOD: suspendCloudPod,
} satisfies { [T in JobType]?: JobHandler<T> };
