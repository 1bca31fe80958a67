import { NginxError } from "../../drivers/nginx";
import { PhpFpmError } from "../../drivers/php-fpm";
import { SystemUserError } from "../../drivers/system-users";
import { JobError, type JobContext } from "../define";

/** Codes meaning a retry cannot help: the input or the rendered config is wrong, or the account is not ours. */
const PERMANENT = new Set(["invalid_argument", "config_rejected", "not_managed"]);
const DAEMONS = [["nginx", NginxError], ["php_fpm", PhpFpmError], ["system_user", SystemUserError]] as const;

/**
 * Runs `fn`, turning the web drivers' errors into JobErrors: code `<daemon>_<driver code>`
 * (e.g. "nginx_config_rejected", "php_fpm_not_serving", "system_user_not_managed"), message
 * carrying the daemon's own text, `retryable: false` for rejected config, bad input and foreign
 * accounts. The daemon's text also goes to the job's events. Other errors pass through.
 */
export async function withDaemonErrors<T>(ctx: JobContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const daemon = DAEMONS.find(([, type]) => error instanceof type)?.[0];
    if (daemon === undefined) throw error;
    const driverError = error as NginxError | PhpFpmError | SystemUserError;
    const output = driverError.output.trim();
    ctx.event("error", `${daemon}: ${output || driverError.message}`);
    const message = output && !driverError.message.includes(output) ? `${driverError.message}: ${output}` : driverError.message;
    throw new JobError(`${daemon}_${driverError.code}`, message, !PERMANENT.has(driverError.code), { cause: error });
  }
}
