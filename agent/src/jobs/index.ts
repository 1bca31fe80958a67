import type { JobType } from "@mpanel/proto";
import { archiveCreate, archiveExtract } from "./archive";
import { backupHandlers } from "./backup/index";
import type { JobHandler } from "./define";
import { dbHandlers } from "./db/index";
import { dnsHandlers } from "./dns/index";
import { mailHandlers } from "./mail/index";
import { noop } from "./noop";
import { tlsHandlers } from "./tls/index";
import { upgradeAgent } from "./upgrade";
import { createCloudPod, deleteCloudPod } from "./web/cloudpod";
import { webExtraHandlers } from "./web/index";
import { createWebsite, deleteWebsite } from "./web/website";

/** Every job type this agent runs, in one place. */
export const handlers: { [T in JobType]: JobHandler<T> } = {
  CREATE_CLOUDPOD: createCloudPod,
  DELETE_CLOUDPOD: deleteCloudPod,
  CREATE_WEBSITE: createWebsite,
  DELETE_WEBSITE: deleteWebsite,
  ...webExtraHandlers,
  ...tlsHandlers,
  ...mailHandlers,
  ...dbHandlers,
  ...dnsHandlers,
  ...backupHandlers,
  ARCHIVE_CREATE: archiveCreate,
  ARCHIVE_EXTRACT: archiveExtract,
  UPGRADE_AGENT: upgradeAgent,
  NOOP: noop,
};
