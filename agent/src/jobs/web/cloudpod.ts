import { rm } from "node:fs/promises";
import { ensureSystemUser, removeSystemUser } from "../../drivers/system-users";
import { requireService } from "../../services";
import { defineJob, JobError } from "../define";
import { withDaemonErrors } from "./daemon-errors";
import { podRoot, serverBlockFile } from "./paths";
import { ensurePodDirs, ownerOf } from "./pod-files";
import { ensureSite } from "./website";

/**
 * CREATE_CLOUDPOD: ensures the CloudPod's system user (home = pod root, no login shell), its
 * directory tree (see ensurePodDirs) and, with `php`, its PHP-FPM pool running as that user.
 * `php: false` leaves an existing pool alone. Throws JobError: "service_not_configured" (php
 * requested on a node without a php section), "system_user_not_managed" (the name belongs to an
 * account mPanel did not create), "php_fpm_<code>" with php-fpm's own message.
 */
export const createCloudPod = defineJob({
  type: "CREATE_CLOUDPOD",
  async run(spec, ctx) {
    const phpFpm = spec.php ? requireService(ctx.services, "phpFpm") : null;
    const root = podRoot(ctx.config, spec.systemUser);
    const { account, created } = await withDaemonErrors(ctx, () => ensureSystemUser(spec.systemUser, root));
    ctx.event("info", `system user ${account.name} (uid ${account.uid}) ${created ? "created" : "present"}`);
    await ensurePodDirs(ctx.config, await withDaemonErrors(ctx, () => ownerOf(ctx.config, account)));
    const pool = phpFpm ? await withDaemonErrors(ctx, () => phpFpm.ensurePool({ systemUser: spec.systemUser, root })) : "none";
    ctx.event("info", `cloud pod ready at ${root}; php-fpm pool ${pool}`, 100);
    return { root, uid: account.uid, pool };
  },
});

/**
 * SUSPEND_CLOUDPOD: applies every site of the CloudPod with `suspended` (503 "suspended" page, or
 * normal service again) and stops (parks) or restarts its PHP-FPM pool: the pool restarts before
 * the sites come back and stops after they are suspended. Idempotent. Throws
 * JobError("invalid_payload") when a site belongs to another system user, and what ensureSite throws.
 */
export const suspendCloudPod = defineJob({
  type: "SUSPEND_CLOUDPOD",
  async run(spec, ctx) {
    const foreign = spec.sites.find((site) => site.systemUser !== spec.systemUser);
    if (foreign) throw new JobError("invalid_payload", `site ${foreign.domain} belongs to ${foreign.systemUser}, not ${spec.systemUser}`, false);
    const phpFpm = ctx.services.phpFpm;
    const setPool = async () => (phpFpm ? withDaemonErrors(ctx, () => phpFpm.setSuspended(spec.systemUser, spec.suspended)) : "none");
    const poolFirst = spec.suspended ? undefined : await setPool();
    const sites: Record<string, string> = {};
    for (const site of spec.sites) sites[site.domain] = (await ensureSite({ ...site, suspended: spec.suspended }, ctx)).revision;
    const pool = poolFirst ?? (await setPool());
    ctx.event("info", `cloud pod ${spec.suspended ? "suspended" : "unsuspended"}; php-fpm pool ${pool}`, 100);
    return { suspended: spec.suspended, pool, sites };
  },
});

/**
 * DELETE_CLOUDPOD: removes every server block of the pod, its PHP-FPM pool, its directories and
 * its system user (with its group); safe to repeat. Throws JobError "nginx_<code>",
 * "php_fpm_<code>", "system_user_<code>" (e.g. userdel refusing while the user still runs processes: retryable).
 */
export const deleteCloudPod = defineJob({
  type: "DELETE_CLOUDPOD",
  async run(spec, ctx) {
    for (const domain of spec.domains) {
      const outcome = await withDaemonErrors(ctx, () => ctx.services.nginx.remove(serverBlockFile(domain), { host: domain }));
      ctx.event("info", `server block of ${domain}: ${outcome}`);
    }
    const phpFpm = ctx.services.phpFpm;
    const pool = phpFpm ? await withDaemonErrors(ctx, () => phpFpm.removePool(spec.systemUser)) : "none";
    await rm(podRoot(ctx.config, spec.systemUser), { recursive: true, force: true });
    const user = await withDaemonErrors(ctx, () => removeSystemUser(spec.systemUser));
    ctx.event("info", `cloud pod removed; php-fpm pool ${pool}; system user ${user}`, 100);
    return { removed: true, pool, user };
  },
});
