import { z } from "zod";
import { Rrset, zoneConflict } from "./dns";
import { ArchiveCreateArgs, ArchiveExtractArgs } from "./files";
import { Domain, normalizeDomain } from "./names";

export { Domain, normalizeDomain } from "./names";

/**
 * Job payload schemas: the second half of the agent contract (the first is agent.proto).
 * The coordinator validates a payload before it is enqueued and the agent validates it again
 * before it touches the host, so both sides share these definitions.
 */

/** A CloudPod's system user name: what `useradd` accepts, restricted further (max 32 characters). */
export const SystemUser = z.string().regex(/^[a-z][a-z0-9_-]{2,31}$/, "must be 3-32 characters: a-z first, then a-z, 0-9, _ or -");

/** How a site's requests are answered: files only, or `.php` through the CloudPod's PHP-FPM pool. */
export const Runtime = z.enum(["static", "php"]);
export type Runtime = z.infer<typeof Runtime>;

/**
 * The whole desired state of one website's server block. Every job that changes a site sends
 * all of it (the coordinator is the source of truth), so each handler is a plain ensure.
 * `tls: true` means the certificate at the agent's certificate path for `domain` is installed
 * and plain HTTP redirects to HTTPS; `suspended: true` serves a "suspended" page instead.
 */
export const SiteSpec = z.strictObject({
  websiteId: z.uuid(),
  cloudPodId: z.uuid(),
  systemUser: SystemUser,
  domain: Domain,
  aliases: z.array(Domain).max(50),
  runtime: Runtime.default("static"),
  suspended: z.boolean().default(false),
  tls: z.boolean().default(false),
});
export type SiteSpec = z.output<typeof SiteSpec>;

/** Web: the CloudPod's system user, home, directories and (with `php`) its PHP-FPM pool. */
export const CreateCloudPod = z.strictObject({ cloudPodId: z.uuid(), systemUser: SystemUser, php: z.boolean().default(true) });
export const DeleteCloudPod = z.strictObject({
  cloudPodId: z.uuid(),
  systemUser: SystemUser,
  domains: z.array(Domain),
});
/** Web: serves every site of the CloudPod as suspended (or normally again), and stops (or restarts) its pool. */
export const SuspendCloudPod = z.strictObject({
  cloudPodId: z.uuid(),
  systemUser: SystemUser,
  suspended: z.boolean(),
  sites: z.array(SiteSpec).max(500),
});
/** Web: ensures the site's document root and server block as `SiteSpec` describes. */
export const CreateWebsite = SiteSpec;
export const DeleteWebsite = z.strictObject({ websiteId: z.uuid(), systemUser: SystemUser, domain: Domain });
/**
 * Web: obtains a certificate for `domains` over ACME (HTTP-01 through the web node's challenge
 * webroot), installs it for `site.domain`, and applies `site` with `tls: true`.
 * Result: `CertificateResult`.
 */
export const IssueSsl = z.strictObject({
  certificateId: z.uuid(),
  site: SiteSpec,
  domains: z.array(Domain).min(1).max(100),
});
/** What ISSUE_SSL and RENEW_SSL return: the installed certificate's public facts (never the key). */
export const CertificateResult = z.strictObject({
  serial: z.string(),
  issuer: z.string(),
  notBefore: z.iso.datetime(),
  notAfter: z.iso.datetime(),
  domains: z.array(z.string()),
  certificatePem: z.string(),
});
export type CertificateResult = z.infer<typeof CertificateResult>;

/** A mailbox's local part (RFC 5321 dot-atom, restricted): lowercase letters, digits and `.`, `_`, `+`, `-` inside; 1-64 characters. */
export const MailLocalPart = z.string().regex(/^[a-z0-9](?:[a-z0-9_+-]|\.(?!\.)){0,62}[a-z0-9]$|^[a-z0-9]$/, "must be 1-64 characters: a-z, 0-9 and . _ + - (not first, last or doubled dots)");
/** An address an alias forwards to. */
export const MailAddress = z.string().transform((value, ctx) => {
  const at = value.lastIndexOf("@");
  const local = MailLocalPart.safeParse(value.slice(0, at).toLowerCase());
  const domain = at > 0 ? normalizeDomain(value.slice(at + 1)) : null;
  if (at <= 0 || !local.success || domain === null) {
    ctx.addIssue({ code: "custom", message: "must be an address local@domain with a valid local part and domain" });
    return z.NEVER;
  }
  return `${local.data}@${domain}`;
});
/** A DKIM selector (RFC 6376 section 3.1): one DNS label. */
export const DkimSelector = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "must be one DNS label");
/**
 * A mailbox password hash as Dovecot's passwd-file stores it: `{ARGON2ID}$argon2id$...`
 * (parallelism 1, as libsodium verifies it) or `{SHA512-CRYPT}$6$...`. Never plain text.
 */
export const MailPasswordHash = z.string().max(512).regex(/^(\{ARGON2ID\}\$argon2id\$v=19\$m=\d+,t=\d+,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+|\{SHA512-CRYPT\}\$6\$[A-Za-z0-9./=$]+)$/, "must be an {ARGON2ID} (p=1) or {SHA512-CRYPT} hash");

/** Mail: accepts mail for `domain` and ensures its DKIM key pair; returns `{ dkimSelector, dkimPublicKey }` (base64 SPKI DER). */
export const ProvisionEmailDomain = z.strictObject({ mailDomainId: z.uuid(), domain: Domain, dkimSelector: DkimSelector });
export const DeleteEmailDomain = z.strictObject({ mailDomainId: z.uuid(), domain: Domain });
/** Mail: ensures the mailbox with this hash, quota (bytes; 0 = unlimited) and suspension state. */
export const CreateMailbox = z.strictObject({
  mailboxId: z.uuid(),
  domain: Domain,
  localPart: MailLocalPart,
  passwordHash: MailPasswordHash,
  quotaBytes: z.number().int().min(0).max(2 ** 50),
  suspended: z.boolean().default(false),
});
export const DeleteMailbox = z.strictObject({ mailboxId: z.uuid(), domain: Domain, localPart: MailLocalPart });
/** Mail: ensures `localPart@domain` forwards to `destinations`. */
export const CreateMailAlias = z.strictObject({ aliasId: z.uuid(), domain: Domain, localPart: MailLocalPart, destinations: z.array(MailAddress).min(1).max(50) });
export const DeleteMailAlias = z.strictObject({ aliasId: z.uuid(), domain: Domain, localPart: MailLocalPart });

/** Database engines a db node runs. */
export const DbEngine = z.enum(["mariadb", "postgresql"]);
export type DbEngine = z.infer<typeof DbEngine>;
/** System databases of MariaDB and PostgreSQL; a tenant's database never takes these names. */
const RESERVED_DB_NAMES = new Set(["mysql", "information_schema", "performance_schema", "sys", "postgres", "template0", "template1"]);
/** Administrative accounts of MariaDB and PostgreSQL (and the names installers use for them). */
const RESERVED_DB_USERS = new Set(["root", "mysql", "mariadb", "postgres", "admin", "debian_sys_maint", "pg_monitor", "pg_read_all_data", "pg_write_all_data", "replication"]);
/** A database name valid unquoted in both engines: a-z first, then a-z, 0-9, _; at most 63 characters. */
export const DbName = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "must be 1-63 characters: a-z first, then a-z, 0-9 or _")
  .refine((name) => !RESERVED_DB_NAMES.has(name), "is reserved for the database server itself");
/** A database user name: 3-32 characters, a-z first, then a-z, 0-9, _. */
export const DbUserName = z.string().regex(/^[a-z][a-z0-9_]{2,31}$/, "must be 3-32 characters: a-z first, then a-z, 0-9 or _")
  .refine((name) => !RESERVED_DB_USERS.has(name), "is reserved for the database server itself");
/**
 * What the db node stores instead of a password: MariaDB's mysql_native_password hash
 * (`*` + 40 upper-case hex) or PostgreSQL's SCRAM-SHA-256 verifier (RFC 7677 / PostgreSQL's
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`).
 */
export const DbPasswordVerifier = z.string().max(512).regex(/^(\*[0-9A-F]{40}|SCRAM-SHA-256\$\d{4,7}:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+)$/, "must be a mysql_native_password hash or a SCRAM-SHA-256 verifier");

export const CreateDb = z.strictObject({ databaseId: z.uuid(), engine: DbEngine, name: DbName });
export const DeleteDb = z.strictObject({ databaseId: z.uuid(), engine: DbEngine, name: DbName });
/** Db: ensures the user with this verifier and all privileges on `database` only (also used to rotate the password). */
export const CreateDbUser = z.strictObject({ databaseUserId: z.uuid(), engine: DbEngine, username: DbUserName, passwordVerifier: DbPasswordVerifier, database: DbName });
export const DeleteDbUser = z.strictObject({ databaseUserId: z.uuid(), engine: DbEngine, username: DbUserName });

/** Dns: makes the zone on the DNS node hold exactly `rrsets` (plus its SOA, with `nameservers` as NS). */
export const DnsZoneSync = z.strictObject({
  zoneId: z.uuid(),
  zone: Domain,
  nameservers: z.array(Domain).min(1).max(13),
  rrsets: z.array(Rrset).max(5000),
}).superRefine((sync, ctx) => {
  const conflict = zoneConflict(`${sync.zone}.`, sync.rrsets);
  if (conflict) ctx.addIssue({ code: "custom", path: ["rrsets", conflict.index], message: conflict.message });
});
export const DeleteDnsZone = z.strictObject({ zoneId: z.uuid(), zone: Domain });

/**
 * Backups (DESIGN section 10): snapshots in the node's restic repository, tagged `mpanel`,
 * `backup:<backupId>` and `cloudpod:<id>` or `database:<id>`. `retention` (restic `forget
 * --keep-*`, counts of snapshots kept per period) is applied to that target's snapshots after
 * a successful backup and check; absent = keep everything.
 */
export const BackupRetention = z.strictObject({
  keepLast: z.number().int().min(1).max(1000),
  keepDaily: z.number().int().min(0).max(1000).default(0),
  keepWeekly: z.number().int().min(0).max(1000).default(0),
  keepMonthly: z.number().int().min(0).max(1000).default(0),
});
/** Web: backs up the CloudPod's `sites/` directory (files, modes, owners). Result: `BackupResult`. */
export const BackupSite = z.strictObject({ backupId: z.uuid(), cloudPodId: z.uuid(), systemUser: SystemUser, retention: BackupRetention.optional() });
/** Db: dumps the database (`mariadb-dump --single-transaction` / `pg_dump -Fc`) into the repository; an empty or unreadable dump fails the job. Result: `BackupResult`. */
export const BackupDatabase = z.strictObject({ backupId: z.uuid(), databaseId: z.uuid(), engine: DbEngine, name: DbName, retention: BackupRetention.optional() });
/** A restic snapshot id (full, 64 hex digits). */
export const SnapshotId = z.string().regex(/^[0-9a-f]{64}$/, "must be a restic snapshot id (64 hex digits)");
/** Restores one snapshot: a CloudPod's `sites/` back into place, or a database's dump into that database. */
export const RestoreBackup = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("files"), backupId: z.uuid(), snapshotId: SnapshotId, cloudPodId: z.uuid(), systemUser: SystemUser }),
  z.strictObject({ kind: z.literal("database"), backupId: z.uuid(), snapshotId: SnapshotId, databaseId: z.uuid(), engine: DbEngine, name: DbName }),
]);
/** How much of the repository's data `restic check --read-data-subset` reads: 1% to 100%. */
export const ReadDataSubset = z.string().regex(/^(?:[1-9]\d?|100)%$/, "must be a percentage such as 5%").default("5%");
/**
 * The scheduled restore test of one backup (issue 7), on the node that holds it; nothing live is
 * touched. `restic check` (reading `readDataSubset` of the data, e.g. "5%") first; then files:
 * the snapshot is restored into a scratch directory and its entry count and bytes compared with
 * the snapshot's own (`restic stats --mode restore-size`) and with `expectedBytes` (what the
 * backup read, when recorded); database: the dump is streamed out of the repository and must
 * parse (`pg_restore --list` / mariadb-dump's header and trailer) and be `expectedBytes` long.
 * Result: `RestoreTestResult`.
 */
export const RestoreTestBackup = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("files"), restoreTestId: z.uuid(), backupId: z.uuid(), snapshotId: SnapshotId, expectedBytes: z.number().int().min(0).nullable(), readDataSubset: ReadDataSubset }),
  z.strictObject({ kind: z.literal("database"), restoreTestId: z.uuid(), backupId: z.uuid(), snapshotId: SnapshotId, engine: DbEngine, name: DbName, expectedBytes: z.number().int().min(0).nullable(), readDataSubset: ReadDataSubset }),
]);
/** What RESTORE_TEST_BACKUP returns: what was restored (entries: files, directories and links; bytes of file contents or of the dump) and what was expected. */
export const RestoreTestResult = z.strictObject({
  entries: z.number().int().min(0),
  bytes: z.number().int().min(0),
  expectedEntries: z.number().int().min(0).nullable(),
  expectedBytes: z.number().int().min(0).nullable(),
});
export type RestoreTestResult = z.infer<typeof RestoreTestResult>;
/** What BACKUP_SITE and BACKUP_DATABASE return: the snapshot made (checked) and what retention forgot. */
export const BackupResult = z.strictObject({
  snapshotId: SnapshotId,
  /** Bytes read from the files or the dump. */
  bytes: z.number().int().min(0),
  /** Snapshot ids `retention` removed (their backups are gone). */
  forgotten: z.array(SnapshotId),
});
export type BackupResult = z.infer<typeof BackupResult>;

/**
 * Web: archives files of a CloudPod (file manager, DESIGN section 7), run on its node as its
 * system user inside its root by the file door. `quotaBytes` is the CloudPod's disk quota
 * (null: none). Result: `{ entries, skipped, bytes }` (bytes of the archive).
 */
export const ArchiveCreate = ArchiveCreateArgs.extend({ cloudPodId: z.uuid(), systemUser: SystemUser, quotaBytes: z.number().int().min(0).nullable().default(null) });
/**
 * Web: extracts an archive of a CloudPod into a new directory, as ARCHIVE_CREATE runs. Entries
 * that climb out, links and devices refuse the whole archive before anything is written; a limit
 * or the quota breached removes what was written. Result: `{ entries, bytes }` (bytes written).
 */
export const ArchiveExtract = ArchiveExtractArgs.extend({ cloudPodId: z.uuid(), systemUser: SystemUser, quotaBytes: z.number().int().min(0).nullable().default(null) });

/** Does nothing on the agent; used by the dispatch benchmark and by tests of the job model. */
export const Noop = z.strictObject({ sleepMs: z.number().int().min(0).max(60_000).optional() });

/**
 * Any node: installs the agent bundle at `bundleUrl` (the coordinator's `/install/agent.tar.gz`)
 * after checking its SHA-256 (hex), switches the agent's install link to it and restarts the
 * agent, which then reports `version` in its Hello. Targeted at one server (role null).
 */
export const UpgradeAgent = z.strictObject({
  version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]{1,40})?$/, "must be a semantic version (1.2.3 or 1.2.3-rc.1)"),
  bundleUrl: z.url({ protocol: /^https?$/ }).max(2048),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
});

/** Every job type and its payload schema, by the type names of DESIGN section 3. */
export const jobPayloads = {
  CREATE_CLOUDPOD: CreateCloudPod,
  SUSPEND_CLOUDPOD: SuspendCloudPod,
  DELETE_CLOUDPOD: DeleteCloudPod,
  CREATE_WEBSITE: CreateWebsite,
  DELETE_WEBSITE: DeleteWebsite,
  ISSUE_SSL: IssueSsl,
  RENEW_SSL: IssueSsl,
  PROVISION_EMAIL_DOMAIN: ProvisionEmailDomain,
  DELETE_EMAIL_DOMAIN: DeleteEmailDomain,
  CREATE_MAILBOX: CreateMailbox,
  UPDATE_MAILBOX: CreateMailbox,
  DELETE_MAILBOX: DeleteMailbox,
  CREATE_MAIL_ALIAS: CreateMailAlias,
  DELETE_MAIL_ALIAS: DeleteMailAlias,
  CREATE_DB: CreateDb,
  DELETE_DB: DeleteDb,
  CREATE_DB_USER: CreateDbUser,
  UPDATE_DB_USER: CreateDbUser,
  DELETE_DB_USER: DeleteDbUser,
  DNS_ZONE_SYNC: DnsZoneSync,
  DELETE_DNS_ZONE: DeleteDnsZone,
  BACKUP_SITE: BackupSite,
  BACKUP_DATABASE: BackupDatabase,
  RESTORE_BACKUP: RestoreBackup,
  RESTORE_TEST_BACKUP: RestoreTestBackup,
  ARCHIVE_CREATE: ArchiveCreate,
  ARCHIVE_EXTRACT: ArchiveExtract,
  UPGRADE_AGENT: UpgradeAgent,
  NOOP: Noop,
} as const;

export type JobType = keyof typeof jobPayloads;
/** A payload as a handler receives it (defaults applied). */
export type JobPayload<T extends JobType> = z.output<(typeof jobPayloads)[T]>;
/** A payload as it may be enqueued (fields with defaults optional). */
export type JobInput<T extends JobType> = z.input<(typeof jobPayloads)[T]>;
export const jobTypes = Object.keys(jobPayloads) as JobType[];

/** Node roles (DESIGN section 4). */
export const NodeRole = z.enum(["web", "mail", "db", "dns"]);
export type NodeRole = z.infer<typeof NodeRole>;

/** Which role runs each job type. */
export const jobRoles: Record<JobType, NodeRole | null> = {
  CREATE_CLOUDPOD: "web",
  SUSPEND_CLOUDPOD: "web",
  DELETE_CLOUDPOD: "web",
  CREATE_WEBSITE: "web",
  DELETE_WEBSITE: "web",
  ISSUE_SSL: "web",
  RENEW_SSL: "web",
  PROVISION_EMAIL_DOMAIN: "mail",
  DELETE_EMAIL_DOMAIN: "mail",
  CREATE_MAILBOX: "mail",
  UPDATE_MAILBOX: "mail",
  DELETE_MAILBOX: "mail",
  CREATE_MAIL_ALIAS: "mail",
  DELETE_MAIL_ALIAS: "mail",
  CREATE_DB: "db",
  DELETE_DB: "db",
  CREATE_DB_USER: "db",
  UPDATE_DB_USER: "db",
  DELETE_DB_USER: "db",
  DNS_ZONE_SYNC: "dns",
  DELETE_DNS_ZONE: "dns",
  BACKUP_SITE: "web",
  BACKUP_DATABASE: "db",
  RESTORE_BACKUP: null,
  RESTORE_TEST_BACKUP: null,
  ARCHIVE_CREATE: "web",
  ARCHIVE_EXTRACT: "web",
  UPGRADE_AGENT: null,
  NOOP: null,
};
