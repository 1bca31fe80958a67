import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CertificateResult, JobPayload } from "@mpanel/proto";
import { AcmeError, type Acme, type IssuedCertificate } from "../../drivers/acme";
import { requireService } from "../../services";
import { JobError, type JobContext } from "../define";
import { certificatePaths, serverBlockFile } from "../web/paths";
import { ensureSite } from "../web/website";
import { certificateProblem, describeCertificate, stillCovers } from "./certificate-info";
import { installCertificate, readInstalledCertificate } from "./certificate-store";
import { ensureChallengeDir, webrootChallenges } from "./webroot";

/** The payload of ISSUE_SSL and RENEW_SSL (same schema). */
type CertificatePayload = JobPayload<"ISSUE_SSL">;

/** Every certificate name must be one the site's server block answers, or HTTP-01 lands on the default server. */
function checkDomains(payload: CertificatePayload): void {
  const names = new Set([payload.site.domain, ...payload.site.aliases]);
  const foreign = payload.domains.filter((domain) => !names.has(domain));
  if (foreign.length > 0) throw new JobError("invalid_payload", `${foreign.join(", ")} is not the domain or an alias of site ${payload.site.domain}`, false);
}

/** Runs an order, turning AcmeError into JobError("acme_<code>") with the driver's retryability. */
async function order(acme: Acme, payload: CertificatePayload, ctx: JobContext): Promise<IssuedCertificate> {
  try {
    return await acme.issue(payload.domains, webrootChallenges(ctx.config.acmeWebroot));
  } catch (error) {
    if (!(error instanceof AcmeError)) throw error;
    ctx.event("error", error.message);
    throw new JobError(`acme_${error.code}`, error.message, error.retryable, { cause: error });
  }
}

/**
 * ISSUE_SSL and RENEW_SSL (RFC 8555 with HTTP-01 through the node's ACME webroot):
 * 1. checks that every domain is the site's domain or alias, ensures the challenge directory,
 *    and applies the site's server block when it has none yet (with HTTPS only if a certificate
 *    is installed), so the CA's validation request reaches the webroot;
 * 2. ISSUE_SSL keeps an installed certificate that names exactly `domains` and is before 2/3 of
 *    its lifetime (a repeated job orders nothing); RENEW_SSL always orders;
 * 3. checks the issued chain against its key and the domains, installs it beside the previous one
 *    and swaps both files at once (see installCertificate), then applies the site with `tls: true`;
 *    if nginx refuses or does not serve it, the previous certificate goes back, the site is
 *    applied again as before, and the job fails with nginx's error.
 * Returns the installed leaf's CertificateResult. Throws JobError: "invalid_payload",
 * "service_not_configured" (no acme section), "acme_<code>" (rate_limited and challenge_failed are
 * not retryable: the coordinator decides when to try again), "acme_bad_certificate", and what
 * ensureSite throws ("nginx_<code>", "certificate_missing", ...).
 */
export async function obtainCertificate(kind: "issue" | "renew", payload: CertificatePayload, ctx: JobContext): Promise<CertificateResult> {
  checkDomains(payload);
  const acme = requireService(ctx.services, "acme");
  const paths = certificatePaths(ctx.config, payload.site.domain);
  await ensureChallengeDir(ctx.config.acmeWebroot);
  const installed = await readInstalledCertificate(paths);
  if (!existsSync(join(ctx.config.nginx.sitesDir, serverBlockFile(payload.site.domain)))) await ensureSite({ ...payload.site, tls: installed !== null }, ctx);

  if (kind === "issue" && installed !== null && stillCovers(installed, payload.domains)) {
    ctx.event("info", `certificate for ${payload.domains.join(", ")} already installed`, 100);
    return describeCertificate(installed);
  }

  ctx.event("info", `ordering a certificate for ${payload.domains.join(", ")}`, 10);
  const issued = await order(acme, payload, ctx);
  const problem = certificateProblem(issued.certificatePem, issued.privateKeyPem, payload.domains);
  if (problem) throw new JobError("acme_bad_certificate", `the CA returned an unusable certificate: ${problem}`, false);
  ctx.event("info", "certificate issued; installing", 70);

  const swap = await installCertificate(paths, issued);
  try {
    await ensureSite({ ...payload.site, tls: true }, ctx);
  } catch (error) {
    await swap.restore();
    ctx.event("warn", "previous certificate restored");
    await ensureSite({ ...payload.site, tls: installed !== null }, ctx).catch((again: unknown) => ctx.log.error({ err: again }, "re-applying the site after a failed certificate install failed"));
    throw error;
  }
  await swap.commit();
  const result = describeCertificate(issued.certificatePem);
  ctx.log.info({ domain: payload.site.domain, serial: result.serial, notAfter: result.notAfter }, "certificate installed");
  ctx.event("info", `certificate ${result.serial} installed, valid until ${result.notAfter}`, 100);
  return result;
}
