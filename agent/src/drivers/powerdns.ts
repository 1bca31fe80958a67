import type { Logger } from "pino";
import { z } from "zod";

/** Configuration of the PowerDNS Authoritative zones through its HTTP API (dns role) driver. */
export const PowerDnsConfig = z.strictObject({});
export type PowerDnsConfig = z.infer<typeof PowerDnsConfig>;

/** The PowerDNS Authoritative zones through its HTTP API (dns role) driver. */
export type PowerDns = Record<string, never>;

/** Builds the driver from its configuration. */
export function createPowerDns(_cfg: PowerDnsConfig, _log: Logger): PowerDns {
  return {};
}
