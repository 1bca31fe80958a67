import { jobTypes, type JobType } from "./jobs";

/**
 * Versioning of the agent protocol (DESIGN section 2). The major version is the protobuf
 * package (`mpanel.agent.v1`): a new major is a new package and service. Inside it, each
 * release that adds messages, fields or job types raises `PROTOCOL_MINOR`. Agents announce
 * their minor (and the job types they run) in `Hello`; the coordinator serves agents from
 * `PROTOCOL_MINOR - SUPPORTED_MINORS_BEHIND` up (newer ones too: protobuf ignores unknown
 * fields) and assigns each agent only the job types it runs, so an agent one minor behind keeps
 * working during a staged rollout of the new version.
 */
export const PROTOCOL_MINOR = 1;

/** How many minors behind the coordinator's an agent may be and still be served. */
export const SUPPORTED_MINORS_BEHIND = 1;

/**
 * The job types of protocol minor 0 (agents that announce no job types). Fixed: new job
 * types are never added here.
 */
export const MINOR_0_JOB_TYPES: readonly JobType[] = [
  "CREATE_CLOUDPOD", "SUSPEND_CLOUDPOD", "DELETE_CLOUDPOD", "CREATE_WEBSITE", "DELETE_WEBSITE", "ISSUE_SSL", "RENEW_SSL",
  "PROVISION_EMAIL_DOMAIN", "DELETE_EMAIL_DOMAIN", "CREATE_MAILBOX", "UPDATE_MAILBOX", "DELETE_MAILBOX", "CREATE_MAIL_ALIAS",
  "DELETE_MAIL_ALIAS", "CREATE_DB", "DELETE_DB", "CREATE_DB_USER", "UPDATE_DB_USER", "DELETE_DB_USER", "DNS_ZONE_SYNC",
  "DELETE_DNS_ZONE", "BACKUP_SITE", "BACKUP_DATABASE", "RESTORE_BACKUP", "UPGRADE_AGENT", "NOOP",
];

/** Whether the coordinator serves an agent of protocol `minor`: not more than SUPPORTED_MINORS_BEHIND behind. */
export function protocolSupported(minor: number): boolean {
  return minor >= PROTOCOL_MINOR - SUPPORTED_MINORS_BEHIND;
}

/**
 * The job types to restrict an agent's claims to: what it announced, or minor 0's set when it
 * announced none; empty (no restriction, so the claim query skips the type test on its hot
 * path) when the agent runs every job type this build knows.
 */
export function agentJobTypes(announced: readonly string[]): readonly string[] {
  const runs = announced.length > 0 ? announced : MINOR_0_JOB_TYPES;
  return jobTypes.every((type) => runs.includes(type)) ? [] : runs;
}
