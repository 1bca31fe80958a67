import type { JobType } from "@mpanel/proto";
import type { JobHandler } from "./define";
import { noop } from "./noop";
import { createCloudPod, deleteCloudPod } from "./web/cloudpod";
import { createWebsite, deleteWebsite } from "./web/website";

/** Every job type this agent runs, in one place. */
export const handlers: { [T in JobType]: JobHandler<T> } = {
  CREATE_CLOUDPOD: createCloudPod,
  DELETE_CLOUDPOD: deleteCloudPod,
  CREATE_WEBSITE: createWebsite,
  DELETE_WEBSITE: deleteWebsite,
  NOOP: noop,
};
