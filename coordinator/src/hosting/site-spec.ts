import type { SiteSpec } from "@mpanel/proto";
import type { Tx } from "../db/client";
import { AppError } from "../errors";

/** The `www.` alias a site answers on too (none for a `www.` name or one too long). */
export function aliasesFor(domain: string): string[] {
  const www = `www.${domain}`;
  return domain.startsWith("www.") || www.length > 253 ? [] : [www];
}

/**
 * The whole desired state of a website's server block, as every web job that touches the site
 * sends it (proto `SiteSpec`): runtime, `suspended` from its CloudPod, `tls` when an issued
 * certificate exists (or `tlsOverride`). Throws `not_found` for an unknown or deleted site.
 */
export async function siteSpec(tx: Tx, websiteId: string, overrides: { tls?: boolean; suspended?: boolean } = {}): Promise<SiteSpec> {
  const site = await tx.website.findFirst({ where: { id: websiteId, deletedAt: null }, include: { cloudPod: true } });
  if (!site) throw new AppError("not_found", "website not found");
  const issued = await tx.tlsCertificate.count({ where: { websiteId, status: { in: ["issued", "renewing"] } } });
  return {
    websiteId: site.id,
    cloudPodId: site.cloudPodId,
    systemUser: site.cloudPod.systemUser,
    domain: site.domain,
    aliases: aliasesFor(site.domain),
    runtime: site.runtime === "php" ? "php" : "static",
    suspended: overrides.suspended ?? site.cloudPod.status === "suspended",
    tls: overrides.tls ?? issued > 0,
  };
}
