import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { defineJob } from "../define";
import { podRoot, serverBlockFile } from "./paths";

/** CREATE_CLOUDPOD: ensures the CloudPod's directories (`sites/`, `logs/`, `tmp/`) exist. */
export const createCloudPod = defineJob({
  type: "CREATE_CLOUDPOD",
  async run(spec, ctx) {
    const root = podRoot(ctx.config, spec.systemUser);
    for (const dir of ["sites", "logs", "tmp"]) await mkdir(join(root, dir), { recursive: true, mode: 0o755 });
    ctx.event("info", `cloud pod directories ready at ${root}`, 100);
    return { root };
  },
});

/** DELETE_CLOUDPOD: removes every server block of the pod, then its directories; safe to repeat. */
export const deleteCloudPod = defineJob({
  type: "DELETE_CLOUDPOD",
  async run(spec, ctx) {
    for (const domain of spec.domains) {
      const outcome = await ctx.services.nginx.remove(serverBlockFile(domain), { host: domain });
      ctx.event("info", `server block of ${domain}: ${outcome}`);
    }
    await rm(podRoot(ctx.config, spec.systemUser), { recursive: true, force: true });
    ctx.event("info", "cloud pod removed", 100);
    return { removed: true };
  },
});
