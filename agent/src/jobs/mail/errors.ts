import { MailError } from "../../drivers/mail";
import type { JobContext } from "../define";
import { JobError } from "../define";

/**
 * Runs a mail driver call, turning a MailError into a JobError `mail_<code>` whose message
 * carries the daemon's own text (also sent as an error event). Retryable only when waiting can
 * help: the domain is not provisioned yet, or postfix/doveadm could not be run.
 */
export async function withMailErrors<T>(ctx: JobContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof MailError)) throw error;
    const detail = error.output.trim();
    if (detail) ctx.event("error", `mail: ${detail}`);
    const retryable = error.code === "domain_not_found" || error.code === "command_failed";
    throw new JobError(`mail_${error.code}`, detail ? `${error.message}: ${detail}` : error.message, retryable, { cause: error });
  }
}
