import { domainToASCII } from "node:url";
import { z } from "zod";

/**
 * Job payload schemas: the second half of the agent contract (the first is agent.proto).
 * The coordinator validates a payload before it is enqueued and the agent validates it again
 * before it touches the host, so both sides share these definitions.
 */

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Normalizes a host name: lowercase, IDN converted to punycode (UTS #46 via WHATWG URL's
 * domainToASCII), then checked against RFC 1035/1123 limits: at most 253 characters, labels of
 * 1-63 letters, digits and inner hyphens, at least two labels, a non-numeric TLD.
 * Returns the normalized name, or null when the input is not a valid host name. Whitespace,
 * control characters and any punctuation other than `.` and `-` are refused, never stripped.
 */
export function normalizeDomain(input: string): string | null {
  if (input.length === 0 || input.length > 253 || /[\s\p{Cc};{}"'\\/]/u.test(input)) return null;
  const ascii = domainToASCII(input.toLowerCase());
  if (!ascii || ascii.length > 253) return null;
  const labels = ascii.split(".");
  if (labels.length < 2 || !labels.every((label) => LABEL.test(label))) return null;
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? "")) return null;
  return ascii;
}

/** A host name as it may reach nginx's config and the file system: normalized by `normalizeDomain`. */
export const Domain = z.string().transform((value, ctx) => {
  const domain = normalizeDomain(value);
  if (domain === null) {
    ctx.addIssue({ code: "custom", message: "must be a valid domain name (letters, digits, hyphens, dots; max 253 characters)" });
    return z.NEVER;
  }
  return domain;
});

/** A CloudPod's system user name: what `useradd` accepts, restricted further (max 32 characters). */
export const SystemUser = z.string().regex(/^[a-z][a-z0-9_-]{2,31}$/, "must be 3-32 characters: a-z first, then a-z, 0-9, _ or -");

export const CreateCloudPod = z.strictObject({ cloudPodId: z.uuid(), systemUser: SystemUser });
export const DeleteCloudPod = z.strictObject({
  cloudPodId: z.uuid(),
  systemUser: SystemUser,
  domains: z.array(Domain),
});
export const CreateWebsite = z.strictObject({
  websiteId: z.uuid(),
  cloudPodId: z.uuid(),
  systemUser: SystemUser,
  domain: Domain,
  aliases: z.array(Domain).max(50),
});
export const DeleteWebsite = z.strictObject({ websiteId: z.uuid(), systemUser: SystemUser, domain: Domain });
/** Does nothing on the agent; used by the dispatch benchmark and by tests of the job model. */
export const Noop = z.strictObject({ sleepMs: z.number().int().min(0).max(60_000).optional() });

/** Every job type and its payload schema, by the type names of DESIGN section 3. */
export const jobPayloads = {
  CREATE_CLOUDPOD: CreateCloudPod,
  DELETE_CLOUDPOD: DeleteCloudPod,
  CREATE_WEBSITE: CreateWebsite,
  DELETE_WEBSITE: DeleteWebsite,
  NOOP: Noop,
} as const;

export type JobType = keyof typeof jobPayloads;
export type JobPayload<T extends JobType> = z.output<(typeof jobPayloads)[T]>;
export const jobTypes = Object.keys(jobPayloads) as JobType[];

/** Node roles (DESIGN section 4). */
export const NodeRole = z.enum(["web", "mail", "db", "dns"]);
export type NodeRole = z.infer<typeof NodeRole>;

/** Which role runs each job type. */
export const jobRoles: Record<JobType, NodeRole | null> = {
  CREATE_CLOUDPOD: "web",
  DELETE_CLOUDPOD: "web",
  CREATE_WEBSITE: "web",
  DELETE_WEBSITE: "web",
  NOOP: null,
};
