import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { defineJob, JobError } from "../define";
import { podRoot } from "../web/paths";
import { checkAndRetain, existingSnapshot, openRepository, snapshotTags, withResticErrors } from "./repository";

/**
 * BACKUP_SITE: a restic snapshot of the CloudPod's `sites/` directory (contents, modes, owners,
 * symlinks as links), then `restic check` and the pod's retention. Idempotent: a snapshot
 * already tagged with this backup id is reused. Throws JobError "cloudpod_missing" (retryable:
 * the pod may still be being created), "restic_<code>" (e.g. restic_check_failed).
 */
export const backupSite = defineJob({
  type: "BACKUP_SITE",
  async run(spec, ctx) {
    const sites = join(podRoot(ctx.config, spec.systemUser), "sites");
    const found = await lstat(sites).catch(() => null);
    if (!found?.isDirectory()) throw new JobError("cloudpod_missing", `${sites} is not a directory; create the CloudPod first`, true);
    const restic = await openRepository(ctx);
    const target = `cloudpod:${spec.cloudPodId}`;
    const existing = await existingSnapshot(restic, spec.backupId);
    const made = existing
      ? { snapshotId: existing, bytes: 0 }
      : await withResticErrors(() => restic.backupPaths([sites], snapshotTags(spec.backupId, target)));
    return checkAndRetain(ctx, restic, made, target, spec.retention);
  },
});
