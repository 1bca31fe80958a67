import type { Logger } from "pino";
import { z } from "zod";

/** Configuration of the PHP-FPM pools, one per CloudPod (web role) driver. */
export const PhpFpmConfig = z.strictObject({});
export type PhpFpmConfig = z.infer<typeof PhpFpmConfig>;

/** The PHP-FPM pools, one per CloudPod (web role) driver. */
export type PhpFpm = Record<string, never>;

/** Builds the driver from its configuration. */
export function createPhpFpm(_cfg: PhpFpmConfig, _log: Logger): PhpFpm {
  return {};
}
