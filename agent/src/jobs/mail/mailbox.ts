import type { JobPayload } from "@mpanel/proto";
import { requireService } from "../../services";
import { defineJob, type JobContext } from "../define";
import { withMailErrors } from "./errors";

/** Ensures the mailbox as the payload describes it (shared by CREATE_MAILBOX and UPDATE_MAILBOX). */
async function ensureMailbox(spec: JobPayload<"CREATE_MAILBOX">, ctx: JobContext): Promise<{ outcome: "changed" | "unchanged" }> {
  const mail = requireService(ctx.services, "mail");
  const { domain, localPart, passwordHash, quotaBytes, suspended } = spec;
  const outcome = await withMailErrors(ctx, () => mail.ensureMailbox({ domain, localPart, passwordHash, quotaBytes, suspended }));
  ctx.event("info", `mailbox ${localPart}@${domain} ${outcome}${suspended ? " (suspended)" : ""}`, 100);
  return { outcome };
}

/** CREATE_MAILBOX: ensures the mailbox with its password hash, quota (bytes; 0 = unlimited) and suspension state. */
export const createMailbox = defineJob({ type: "CREATE_MAILBOX", run: ensureMailbox });

/** UPDATE_MAILBOX: the same ensure (password change, quota, suspend/unsuspend); open IMAP sessions are closed on suspend or a new password. */
export const updateMailbox = defineJob({ type: "UPDATE_MAILBOX", run: ensureMailbox });

/** DELETE_MAILBOX: removes the mailbox, its login and its stored mail. */
export const deleteMailbox = defineJob({
  type: "DELETE_MAILBOX",
  async run(spec, ctx) {
    const mail = requireService(ctx.services, "mail");
    const outcome = await withMailErrors(ctx, () => mail.removeMailbox(spec.domain, spec.localPart));
    ctx.event("info", `mailbox ${spec.localPart}@${spec.domain} ${outcome}`, 100);
    return { outcome };
  },
});
