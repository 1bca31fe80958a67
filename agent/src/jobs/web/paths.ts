import { join } from "node:path";
import type { AgentConfig } from "../../config";

/** A CloudPod's root: `<podsRoot>/<systemUser>` (system user names are schema-checked). */
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
