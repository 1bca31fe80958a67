import type { JobType } from "@mpanel/proto";
import { defineJob, JobError, type JobHandler } from "../define";

/** Handlers of this role (being written). */
export const mailHandlers = {
  PROVISION_EMAIL_DOMAIN: defineJob({ type: "PROVISION_EMAIL_DOMAIN", run() { throw new JobError("not_implemented", "PROVISION_EMAIL_DOMAIN is not implemented yet", false); } }),
  DELETE_EMAIL_DOMAIN: defineJob({ type: "DELETE_EMAIL_DOMAIN", run() { throw new JobError("not_implemented", "DELETE_EMAIL_DOMAIN is not implemented yet", false); } }),
  CREATE_MAILBOX: defineJob({ type: "CREATE_MAILBOX", run() { throw new JobError("not_implemented", "CREATE_MAILBOX is not implemented yet", false); } }),
  UPDATE_MAILBOX: defineJob({ type: "UPDATE_MAILBOX", run() { throw new JobError("not_implemented", "UPDATE_MAILBOX is not implemented yet", false); } }),
  DELETE_MAILBOX: defineJob({ type: "DELETE_MAILBOX", run() { throw new JobError("not_implemented", "DELETE_MAILBOX is not implemented yet", false); } }),
  CREATE_MAIL_ALIAS: defineJob({ type: "CREATE_MAIL_ALIAS", run() { throw new JobError("not_implemented", "CREATE_MAIL_ALIAS is not implemented yet", false); } }),
  DELETE_MAIL_ALIAS: defineJob({ type: "DELETE_MAIL_ALIAS", run() { throw new JobError("not_implemented", "DELETE_MAIL_ALIAS is not implemented yet", false); } }),
} satisfies { [T in JobType]?: JobHandler<T> };
