/**
 * The API's shapes, derived from the coordinator's own zod schemas and service return types
 * (type-only imports: nothing of the coordinator reaches the bundle). A change of the API that
 * the panel does not follow fails `npm run build -w panel` at type-check time.
 */
import type { z } from "zod";
import type { LoginResult, MfaChallengeResult } from "../../coordinator/src/auth/service";
import type { ProductInput } from "../../coordinator/src/billing/catalogue";
import type { BillingService, ManualPaymentInput } from "../../coordinator/src/billing/service";
import type { DatabaseInput, DatabaseService, DatabaseUserInput } from "../../coordinator/src/databases/service";
import type { DnsService, DomainInput, RecordInput } from "../../coordinator/src/dns/service";
import type { HostingService, ProvisionInput, WebsiteInput } from "../../coordinator/src/hosting/service";
import type { ApiKeyInput, ApiKeyService } from "../../coordinator/src/identity/api-keys";
import type { UserDirectory } from "../../coordinator/src/identity/directory";
import type { PasswordChangeInput, SessionService } from "../../coordinator/src/identity/sessions";
import type { TotpService } from "../../coordinator/src/identity/totp";
import type { AuditLog } from "../../coordinator/src/insights/audit-log";
import type { Pulse } from "../../coordinator/src/insights/pulse";
import type { JobService } from "../../coordinator/src/jobs/service";
import type { MailboxInput, MailDomainInput, MailService } from "../../coordinator/src/mail/service";
import type { JoinTokenInput, JoinTokenService } from "../../coordinator/src/nodes/join-tokens";
import type { ServerService } from "../../coordinator/src/nodes/servers";
import type { EnrollmentInfo, LiveEvent, MetricPoint } from "../../coordinator/src/panel/contract";
import type { MetricsService } from "../../coordinator/src/metrics/service";
import type { CertificateInput, TlsService } from "../../coordinator/src/tls/service";
import type { TenantInput, TenantService } from "../../coordinator/src/tenants/service";
import type { FileService } from "../../coordinator/src/files/service";
import type { BackupPolicyInput, BackupService } from "../../coordinator/src/backups/service";
import type { UptimeCheckInput, UptimeService } from "../../coordinator/src/uptime/service";
import type { Alert as AlertShape } from "../../coordinator/src/insights/alerts";

/** What JSON makes of a value: dates become ISO strings, bigints strings (the API serializes both so). */
export type Json<T> = T extends Date ? string
  : T extends bigint ? string
  : T extends ReadonlyArray<infer U> ? Json<U>[]
  : T extends object ? { [K in keyof T]: Json<T[K]> }
  : T;

type Result<F> = F extends (...args: never[]) => Promise<infer R> ? Json<R> : never;
type Row<F> = Result<F> extends { data: ReadonlyArray<infer R> } ? R : never;

/** `GET /api/auth/me`. */
export interface Me {
  userId: string;
  platformRole: string | null;
  tenants: string[];
  permissions: string[];
  /** The staff member acting as this user (impersonation), or null. */
  impersonatedBy: string | null;
  /** Policy holds the session until TOTP is enrolled. */
  mfaSetupRequired: boolean;
  /** The user has TOTP on. */
  mfaEnabled: boolean;
}

/** The list envelope of every list route. */
export interface Paged<T> {
  data: T[];
  meta: { page: number; pageSize: number; total: number };
}

/** One field the API refused, as in `{ error, message, details: [{ field, message }] }`. */
export interface FieldIssue {
  field: string;
  message: string;
}

export type Tenant = Row<TenantService["list"]>;
export type TenantDetail = Result<TenantService["get"]>;
export type TenantCreated = Result<TenantService["create"]>;
export type Server = Row<ServerService["list"]>;
export type ServerDetail = Result<ServerService["get"]>;
export type ServerHealth = Result<MetricsService["health"]>[number];
export type MetricSeries = Result<MetricsService["series"]>;
export type { MetricPoint };
export type JoinToken = Result<JoinTokenService["create"]>;
export type CloudPod = Row<HostingService["listCloudPods"]>;
export type Website = Row<HostingService["listWebsites"]>;
export type WebsiteDetail = Result<HostingService["getWebsite"]>;
export type WebsiteCreated = Result<HostingService["createWebsite"]>;
export type CloudPodOrdered = Result<HostingService["provisionCloudPod"]>;
/** What a 202 of a change carries besides its record: the job (or jobs) that apply it. */
export type Accepted = { jobId?: string };
export type Domain = Row<DnsService["listDomains"]>;
export type DomainDetail = Result<DnsService["getDomain"]>;
export type DnsRecord = Result<DnsService["listRecords"]>[number];
export type MailDomain = Row<MailService["listDomains"]>;
export type Mailbox = Row<MailService["listMailboxes"]>;
export type DatabaseRow = Row<DatabaseService["list"]>;
export type DatabaseDetail = Result<DatabaseService["get"]>;
export type DatabaseUserCreated = Result<DatabaseService["createUser"]>;
export type DatabasePasswordRotated = Result<DatabaseService["rotatePassword"]>;
export type Certificate = Row<TlsService["list"]>;
export type Job = Row<JobService["list"]>;
export type JobDetail = Result<JobService["get"]>;
export type JobEvent = JobDetail["events"][number];
export type Enrollment = EnrollmentInfo;
/** `POST /api/auth/login`: a session, or a TOTP challenge to complete at `/api/auth/login/totp`. */
export type LoginAnswer = Json<LoginResult | MfaChallengeResult>;
export type TotpEnrollment = Result<TotpService["enroll"]>;
export type TotpConfirmed = Result<TotpService["confirm"]>;
export type SessionRow = Result<SessionService["list"]>[number];
export type ApiKey = Result<ApiKeyService["list"]>[number];
export type ApiKeyCreated = Result<ApiKeyService["create"]>;
export type UserRow = Row<UserDirectory["list"]>;
export type AuditEvent = Row<AuditLog["list"]>;
export type PulseFigures = Result<Pulse["read"]>;
export type Product = Result<BillingService["catalogue"]["adminList"]>[number];
export type Subscription = Row<BillingService["listSubscriptions"]>;
export type Invoice = Row<BillingService["listInvoices"]>;
export type InvoiceDetail = Result<BillingService["getInvoice"]>;
export type PaymentRecorded = Result<BillingService["recordPayment"]>;
export type { LiveEvent };
/** One page of a CloudPod directory (`entries`, the directory's `total`, `page`, `pageSize`). */
export type FileListing = Result<FileService["list"]>;
export type FileEntry = FileListing["entries"][number];
export type FileText = Result<FileService["readText"]>;
/** Free and total bytes of the CloudPod's file system. */
export type FileSpace = Result<FileService["space"]>;
/** Bytes an upload has on the node; `complete` once the file is in place. */
export type UploadProgress = Result<FileService["upload"]>;

/** Request bodies, as the API accepts them (defaults may be left out). */
export type TenantBody = z.input<typeof TenantInput>;
export type JoinTokenBody = z.input<typeof JoinTokenInput>;
export type ProvisionBody = z.input<typeof ProvisionInput>;
export type WebsiteBody = z.input<typeof WebsiteInput>;
export type DomainBody = z.input<typeof DomainInput>;
export type RecordBody = z.input<typeof RecordInput>;
export type MailDomainBody = z.input<typeof MailDomainInput>;
export type MailboxBody = z.input<typeof MailboxInput>;
export type DatabaseBody = z.input<typeof DatabaseInput>;
export type DatabaseUserBody = z.input<typeof DatabaseUserInput>;
export type CertificateBody = z.input<typeof CertificateInput>;
export type PasswordChangeBody = z.input<typeof PasswordChangeInput>;
export type ApiKeyBody = z.input<typeof ApiKeyInput>;
export type ProductBody = z.input<typeof ProductInput>;
export type ManualPaymentBody = z.input<typeof ManualPaymentInput>;

/** Backups (`/api/admin/backups`, `.../cloudpods/:id/backup-policy`). */
export type Backup = Row<BackupService["list"]>;
export type BackupPolicy = NonNullable<Result<BackupService["getPolicy"]>>;
export type BackupPolicyBody = z.input<typeof BackupPolicyInput>;
export type BackupRestoreStarted = Result<BackupService["restore"]>;
export type BackupRunStarted = Result<BackupService["runNow"]>;

/** Uptime checks of a website and their probes. */
export type UptimeCheck = Row<UptimeService["list"]>;
export type UptimeCheckDetail = Result<UptimeService["get"]>;
export type UptimeResult = Row<UptimeService["results"]>;
export type UptimeCheckBody = z.input<typeof UptimeCheckInput>;

/** `GET /api/admin/alerts`: what is wrong now. */
export type Alert = Json<AlertShape>;
