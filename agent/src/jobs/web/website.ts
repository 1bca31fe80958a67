import { createHash } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import type { SiteSpec } from "@mpanel/proto";
import { requireService } from "../../services";
import { defineJob, JobError, type JobContext } from "../define";
import { withDaemonErrors } from "./daemon-errors";
import { certificatePaths, docRoot, podRoot, serverBlockFile } from "./paths";
import { ensureSiteDirs, podOwner } from "./pod-files";
import { renderServerBlock, type ServerBlockTls } from "./server-block";

/** The TLS part of a site's server block; reads the installed certificate to digest it. */
async function siteTls(spec: SiteSpec, ctx: JobContext): Promise<ServerBlockTls> {
  const paths = certificatePaths(ctx.config, spec.domain);
  const pem = await readFile(paths.certificate).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw new JobError("certificate_missing", `no certificate installed for ${spec.domain} at ${paths.certificate}`, false, { cause: err });
    throw err;
  });
  return {
    listen: ctx.config.nginx.listenTls,
    certificate: paths.certificate,
    privateKey: paths.privateKey,
    certificateDigest: createHash("sha256").update(pem).digest("hex"),
  };
}

/**
 * Renders `spec`'s server block and applies it through the nginx driver (write beside,
 * `nginx -t`, swap, reload, wait until the new revision serves; the previous file is restored on
 * any failure). Runtime php passes `.php` to the CloudPod's pool socket (needs the node's php
 * section); `tls` needs the certificate at certificatePaths(config, domain), and a changed
 * certificate changes the config, so calling this after installing a renewed one reloads nginx.
 * Does not touch the document root or the pool. Returns the revision and whether nginx changed.
 * Throws JobError: "service_not_configured" (php without a php section), "certificate_missing",
 * "invalid_config", "nginx_<code>" with nginx's own message (non-retryable when nginx rejects it).
 */
export async function ensureSite(spec: SiteSpec, ctx: JobContext): Promise<{ revision: string; outcome: "changed" | "unchanged" }> {
  const php = spec.runtime === "php" ? { socket: requireService(ctx.services, "phpFpm").socketPath(spec.systemUser) } : null;
  const block = renderServerBlock({
    websiteId: spec.websiteId,
    domain: spec.domain,
    aliases: spec.aliases,
    listen: ctx.config.nginx.listen,
    root: docRoot(ctx.config, spec.systemUser, spec.domain),
    acmeWebroot: ctx.config.acmeWebroot,
    php,
    suspended: spec.suspended,
    tls: spec.tls ? await siteTls(spec, ctx) : null,
  });
  const outcome = await withDaemonErrors(ctx, () => ctx.services.nginx.apply(serverBlockFile(spec.domain), block.content, { host: spec.domain, revision: block.revision }));
  ctx.event("info", `server block of ${spec.domain} ${outcome}; serving revision ${block.revision}`);
  return { revision: block.revision, outcome };
}

/**
 * CREATE_WEBSITE: ensures the site's directories (owned by the CloudPod's user, placeholder page
 * when empty), for runtime php the CloudPod's pool, then the server block (ensureSite).
 * Throws JobError: "cloudpod_missing" (retryable) when the CloudPod's user does not exist yet,
 * and what ensureSite and the drivers throw.
 */
export const createWebsite = defineJob({
  type: "CREATE_WEBSITE",
  async run(spec, ctx) {
    const phpFpm = spec.runtime === "php" ? requireService(ctx.services, "phpFpm") : null;
    const owner = await withDaemonErrors(ctx, () => podOwner(ctx.config, spec.systemUser));
    const root = await ensureSiteDirs(ctx.config, owner, spec.domain, phpFpm !== null);
    if (phpFpm) {
      const pool = await withDaemonErrors(ctx, () => phpFpm.ensurePool({ systemUser: spec.systemUser, root: podRoot(ctx.config, spec.systemUser) }));
      ctx.event("info", `php-fpm pool of ${spec.systemUser} ${pool}`);
    }
    const site = await ensureSite(spec, ctx);
    ctx.event("info", `website ${spec.domain} ready at ${root}`, 100);
    return site;
  },
});

/** DELETE_WEBSITE: removes the server block (reload, wait until it no longer serves), then the site's files. */
export const deleteWebsite = defineJob({
  type: "DELETE_WEBSITE",
  async run(spec, ctx) {
    const outcome = await withDaemonErrors(ctx, () => ctx.services.nginx.remove(serverBlockFile(spec.domain), { host: spec.domain }));
    await rm(dirname(docRoot(ctx.config, spec.systemUser, spec.domain)), { recursive: true, force: true });
    ctx.event("info", `server block ${outcome}; files removed`, 100);
    return { outcome };
  },
});
