import type { Logger } from "pino";
import { z } from "zod";

/** Configuration of the Postfix virtual domains and maps plus Dovecot passwd-file users (mail role) driver. */
export const MailConfig = z.strictObject({});
export type MailConfig = z.infer<typeof MailConfig>;

/** The Postfix virtual domains and maps plus Dovecot passwd-file users (mail role) driver. */
export type MailServer = Record<string, never>;

/** Builds the driver from its configuration. */
export function createMailServer(_cfg: MailConfig, _log: Logger): MailServer {
  return {};
}
