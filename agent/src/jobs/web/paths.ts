import { join } from "node:path";
import type { AgentConfig } from "../../config";

/** A CloudPod's root and its system user's home: `<podsRoot>/<systemUser>` (system user names are schema-checked). */
export function podRoot(config: AgentConfig, systemUser: string): string {
  return join(config.podsRoot, systemUser);
}

/** A website's document root: `<podRoot>/sites/<domain>/public` (domains are schema-checked). */
export function docRoot(config: AgentConfig, systemUser: string, domain: string): string {
  return join(podRoot(config, systemUser), "sites", domain, "public");
}

/** The server block's file name in nginx's sites dir. */
export function serverBlockFile(domain: string): string {
  return `${domain}.conf`;
}

/** Where a site's installed certificate lives: PEM files of one domain, read by its HTTPS server block. */
export interface CertificatePaths {
  /** `<stateDir>/tls/<domain>` */
  dir: string;
  /** `<dir>/fullchain.pem`: the leaf certificate followed by its intermediates (PEM). */
  certificate: string;
  /** `<dir>/privkey.pem`: the private key (PEM, mode 0600). */
  privateKey: string;
}

/**
 * The certificate files of `domain` (schema-checked, so safe as a path component):
 * `<stateDir>/tls/<domain>/{fullchain,privkey}.pem`. Pure; creates nothing.
 */
export function certificatePaths(config: AgentConfig, domain: string): CertificatePaths {
  const dir = join(config.stateDir, "tls", domain);
  return { dir, certificate: join(dir, "fullchain.pem"), privateKey: join(dir, "privkey.pem") };
}
