import type { JobType } from "@mpanel/proto";
import type { JobHandler } from "../define";
import { createMailAlias, deleteMailAlias } from "./alias";
import { deleteEmailDomain, provisionEmailDomain } from "./domain";
import { createMailbox, deleteMailbox, updateMailbox } from "./mailbox";

/** Handlers of the mail role. */
export const mailHandlers = {
  PROVISION_EMAIL_DOMAIN: provisionEmailDomain,
  DELETE_EMAIL_DOMAIN: deleteEmailDomain,
  CREATE_MAILBOX: createMailbox,
  UPDATE_MAILBOX: updateMailbox,
  DELETE_MAILBOX: deleteMailbox,
  CREATE_MAIL_ALIAS: createMailAlias,
  DELETE_MAIL_ALIAS: deleteMailAlias,
} satisfies { [T in JobType]?: JobHandler<T> };
