import { DkimSelector } from "@mpanel/proto";
import { z } from "zod";
import { publishDkim } from "../dns/zones";
import { payloadField, type FinishedJob, type JobHook } from "../jobs/hook-kit";
import { applyHook, deleteHook, type RecordHookSpec } from "./record-hooks";

/** What PROVISION_EMAIL_DOMAIN returns: the selector and the DKIM public key (base64 SPKI DER, RFC 6376 section 3.6.1 `p=`). */
const DkimResult = z.object({ dkimSelector: DkimSelector, dkimPublicKey: z.string().max(4096).regex(/^[A-Za-z0-9+/]+={0,2}$/) });

const domain: RecordHookSpec = { table: "mail_domains", idField: "mailDomainId", targetType: "mail_domain", succeeded: "MAIL_DOMAIN_PROVISIONED", failed: "MAIL_DOMAIN_FAILED" };
const mailbox = { table: "mailboxes", idField: "mailboxId", targetType: "mailbox", failed: "MAILBOX_FAILED" } as const;
const alias = { table: "mail_aliases", idField: "aliasId", targetType: "mail_alias", failed: "MAIL_ALIAS_FAILED" } as const;

/** A mailbox is `suspended` or `active` as the applied payload says. */
const mailboxStatus = (job: FinishedJob): string => ((job.payload as { suspended?: unknown }).suspended === true ? "suspended" : "active");
const domainApplied = applyHook(domain);

/**
 * A provisioned mail domain stores the DKIM key the node returned and publishes it as
 * `<selector>._domainkey` TXT in the domain's zone (when the zone is hosted here). A success
 * without a valid key in `job.result` counts as a failure.
 */
const provisionEmailDomain: JobHook = async (client, job, wake) => {
  const key = DkimResult.safeParse(job.result);
  if (!job.success || !key.success) return domainApplied(client, { ...job, success: false }, wake);
  const id = payloadField(job.payload, "mailDomainId");
  const row = await client.query<{ domain_id: string }>(
    `UPDATE mail_domains SET dkim_selector = $2, dkim_public_key = $3 WHERE id = $1 AND deleted_at IS NULL RETURNING domain_id`,
    [id, key.data.dkimSelector, key.data.dkimPublicKey]);
  await domainApplied(client, job, wake);
  const domainId = row.rows[0]?.domain_id;
  if (domainId) await publishDkim(client, wake, { domainId, selector: key.data.dkimSelector, publicKey: key.data.dkimPublicKey });
};

/**
 * What finished email jobs change in the coordinator's records: status `active` (a mailbox
 * `suspended` when its payload says so) or `failed`, deletes set `deleted_at`; each writes an
 * audit event. Runs in the transaction that records the job's final status.
 */
export const mailHooks: Partial<Record<string, JobHook>> = {
  PROVISION_EMAIL_DOMAIN: provisionEmailDomain,
  DELETE_EMAIL_DOMAIN: deleteHook({ ...domain, succeeded: "MAIL_DOMAIN_DELETED" }),
  CREATE_MAILBOX: applyHook({ ...mailbox, succeeded: "MAILBOX_CREATED" }, mailboxStatus),
  UPDATE_MAILBOX: applyHook({ ...mailbox, succeeded: "MAILBOX_UPDATED" }, mailboxStatus),
  DELETE_MAILBOX: deleteHook({ ...mailbox, succeeded: "MAILBOX_DELETED" }),
  CREATE_MAIL_ALIAS: applyHook({ ...alias, succeeded: "MAIL_ALIAS_CREATED" }),
  DELETE_MAIL_ALIAS: deleteHook({ ...alias, succeeded: "MAIL_ALIAS_DELETED" }),
};
