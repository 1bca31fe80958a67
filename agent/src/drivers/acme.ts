import type { Logger } from "pino";
import { z } from "zod";

/** Configuration of the ACME certificate orders with acme-client (web role) driver. */
export const AcmeConfig = z.strictObject({});
export type AcmeConfig = z.infer<typeof AcmeConfig>;

/** The ACME certificate orders with acme-client (web role) driver. */
export type Acme = Record<string, never>;

/** Builds the driver from its configuration. */
export function createAcme(_cfg: AcmeConfig, _log: Logger): Acme {
  return {};
}
