import type {
  CertificateBody, Certificate, CloudPod, DatabaseBody, DatabaseDetail, DatabasePasswordRotated, DatabaseRow, DatabaseUserBody,
  DatabaseUserCreated, DnsRecord, Domain, DomainBody, DomainDetail, Enrollment, FieldIssue, Job, JobDetail, JoinToken, JoinTokenBody,
  Mailbox, MailboxBody, MailDomain, MailDomainBody, Me, Paged, ProvisionBody, RecordBody, Server, Tenant, TenantBody, TenantCreated,
  TenantDetail, Website, WebsiteBody, WebsiteCreated, WebsiteDetail, CloudPodOrdered, Accepted,
  MetricSeries, ServerDetail, ServerHealth,
} from "./types";
import type {
  ApiKey, ApiKeyBody, ApiKeyCreated, AuditEvent, Invoice, InvoiceDetail, LoginAnswer, ManualPaymentBody, PasswordChangeBody,
  PaymentRecorded, Product, ProductBody, PulseFigures, SessionRow, Subscription, TotpConfirmed, TotpEnrollment, UserRow,
} from "./types";
import type { FileListing, FileSpace, FileText } from "./types";
import type { Alert, Backup, BackupPolicy, BackupPolicyBody, BackupRestoreStarted, BackupRunStarted, UptimeCheck, UptimeCheckBody, UptimeCheckDetail, UptimeResult } from "./types";

/** An API error: HTTP status, the API's `error` code, its message and the fields it refused. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldIssue[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Called on every 401 of a signed-in session (expired or revoked): the app returns to the login page. */
let onUnauthenticated: () => void = () => undefined;
/** Sets what a 401 does (the session provider does, once). */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

/** The CSRF token the coordinator set beside the session cookie (double submit). */
export function csrfToken(): string {
  const match = /(?:^|;\s*)mpanel_csrf=([^;]+)/.exec(document.cookie);
  return match?.[1] ? decodeURIComponent(match[1]) : "";
}

type Query = Record<string, string | number | undefined>;

/** `path` with `query` as its search string (empty and undefined values left out). */
export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== "") params.set(key, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * One API call with the session cookie; writes carry `x-csrf-token`. Resolves to the parsed
 * body; throws ApiError on a non-2xx answer (and reports a 401 to the session handler).
 */
async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["x-csrf-token"] = csrfToken();
  const res = await fetch(path, { method, headers, credentials: "same-origin", ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  const parsed = text ? (JSON.parse(text) as { error?: string; message?: string; details?: FieldIssue[] }) : {};
  if (!res.ok) {
    if (res.status === 401 && !path.startsWith("/api/auth/login")) onUnauthenticated();
    throw new ApiError(res.status, parsed.error ?? "error", parsed.message ?? `request failed (${res.status})`, parsed.details ?? []);
  }
  return parsed as T;
}

const get = <T>(path: string, query?: Query) => call<T>("GET", withQuery(path, query));
const data = async <T>(p: Promise<{ data: T }>): Promise<T> => (await p).data;
const list = <T>(path: string) => (query: Query = {}) => get<Paged<T>>(path, query);

/** Query of the list routes: page, pageSize and each route's filters. */
export type ListQuery = Query;

/** `/api/admin/cloudpods/:id/files` plus `suffix`: the file manager's routes. */
const filesPath = (id: string, suffix = "") => `/api/admin/cloudpods/${encodeURIComponent(id)}/files${suffix}`;

/** The coordinator's HTTP API, one typed function per route the panel uses. */
export const api = {
  login: (email: string, password: string) => data(call<{ data: LoginAnswer }>("POST", "/api/auth/login", { email, password })),
  loginTotp: (mfaToken: string, factor: { code: string } | { recoveryCode: string }) =>
    data(call<{ data: LoginAnswer }>("POST", "/api/auth/login/totp", { mfaToken, ...factor })),
  logout: () => call<unknown>("POST", "/api/auth/logout"),
  me: () => data(get<{ data: Me }>("/api/auth/me")),
  changePassword: (body: PasswordChangeBody) => data(call<{ data: { revokedSessions: number } }>("POST", "/api/auth/password", body)),
  enrollTotp: () => data(call<{ data: TotpEnrollment }>("POST", "/api/auth/totp/enroll")),
  confirmTotp: (code: string) => data(call<{ data: TotpConfirmed }>("POST", "/api/auth/totp/confirm", { code })),
  disableTotp: (factor: { code: string } | { recoveryCode: string }) => call<unknown>("POST", "/api/auth/totp/disable", factor),
  sessions: () => data(get<{ data: SessionRow[] }>("/api/auth/sessions")),
  revokeSession: (id: string) => call<unknown>("DELETE", `/api/auth/sessions/${id}`),
  apiKeys: () => data(get<{ data: ApiKey[] }>("/api/auth/api-keys")),
  createApiKey: (body: ApiKeyBody) => data(call<{ data: ApiKeyCreated }>("POST", "/api/auth/api-keys", body)),
  revokeApiKey: (id: string) => call<unknown>("DELETE", `/api/auth/api-keys/${id}`),
  users: list<UserRow>("/api/admin/users"),
  audit: list<AuditEvent>("/api/admin/audit"),
  pulse: () => data(get<{ data: PulseFigures }>("/api/admin/dashboard/pulse")),

  tenants: list<Tenant>("/api/admin/tenants"),
  tenant: (id: string) => data(get<{ data: TenantDetail }>(`/api/admin/tenants/${id}`)),
  createTenant: (body: TenantBody) => data(call<{ data: TenantCreated }>("POST", "/api/admin/tenants", body)),
  setTenantSuspended: (id: string, suspended: boolean) => data(call<{ data: Tenant }>("POST", `/api/admin/tenants/${id}/${suspended ? "suspend" : "unsuspend"}`)),
  /** Starts a session as the tenant's owner; the coordinator swaps the session cookies for it. */
  impersonate: (tenantId: string) => data(call<{ data: { expiresAt: string } }>("POST", `/api/admin/tenants/${tenantId}/impersonate`)),

  servers: list<Server>("/api/admin/servers"),
  server: (id: string) => data(get<{ data: ServerDetail }>(`/api/admin/servers/${id}`)),
  serverHealth: (id: string) => data(get<{ data: ServerHealth[] }>(`/api/admin/servers/${id}/health`)),
  serverMetrics: (id: string, query: { from?: string; to?: string; step?: number }) => data(get<{ data: MetricSeries }>(`/api/admin/servers/${id}/metrics`, query)),
  enrollment: () => data(get<{ data: Enrollment }>("/api/admin/enrollment")),
  createJoinToken: (body: JoinTokenBody) => data(call<{ data: JoinToken }>("POST", "/api/admin/join-tokens", body)),

  cloudPods: list<CloudPod>("/api/admin/cloudpods"),
  orderCloudPod: (body: ProvisionBody) => data(call<{ data: CloudPodOrdered }>("POST", "/api/admin/hosting/cloudpods", body)),
  setCloudPodSuspended: (id: string, suspended: boolean) => call<unknown>("POST", `/api/admin/hosting/cloudpods/${id}/${suspended ? "suspend" : "unsuspend"}`),
  websites: list<Website>("/api/admin/websites"),
  website: (id: string) => data(get<{ data: WebsiteDetail }>(`/api/admin/websites/${id}`)),
  createWebsite: (body: WebsiteBody) => data(call<{ data: WebsiteCreated }>("POST", "/api/admin/websites", body)),
  deleteWebsite: (id: string) => data(call<{ data: Accepted }>("DELETE", `/api/admin/websites/${id}`)),

  domains: list<Domain>("/api/admin/domains"),
  domain: (id: string) => data(get<{ data: DomainDetail }>(`/api/admin/domains/${id}`)),
  createDomain: (body: DomainBody) => call<unknown>("POST", "/api/admin/domains", body),
  deleteDomain: (id: string) => call<unknown>("DELETE", `/api/admin/domains/${id}`),
  records: (domainId: string) => data(get<{ data: DnsRecord[] }>(`/api/admin/domains/${domainId}/records`)),
  createRecord: (domainId: string, body: RecordBody) => call<unknown>("POST", `/api/admin/domains/${domainId}/records`, body),
  deleteRecord: (domainId: string, recordId: string) => call<unknown>("DELETE", `/api/admin/domains/${domainId}/records/${recordId}`),

  mailDomains: list<MailDomain>("/api/admin/email/domains"),
  createMailDomain: (body: MailDomainBody) => call<unknown>("POST", "/api/admin/email/domains", body),
  mailboxes: list<Mailbox>("/api/admin/email/mailboxes"),
  createMailbox: (body: MailboxBody) => call<unknown>("POST", "/api/admin/email/mailboxes", body),
  deleteMailbox: (id: string) => call<unknown>("DELETE", `/api/admin/email/mailboxes/${id}`),

  databases: list<DatabaseRow>("/api/admin/hosting/databases"),
  database: (id: string) => data(get<{ data: DatabaseDetail }>(`/api/admin/hosting/databases/${id}`)),
  createDatabase: (body: DatabaseBody) => call<unknown>("POST", "/api/admin/hosting/databases", body),
  deleteDatabase: (id: string) => call<unknown>("DELETE", `/api/admin/hosting/databases/${id}`),
  createDatabaseUser: (id: string, body: DatabaseUserBody) => data(call<{ data: DatabaseUserCreated }>("POST", `/api/admin/hosting/databases/${id}/users`, body)),
  rotateDatabasePassword: (id: string, userId: string) =>
    data(call<{ data: DatabasePasswordRotated }>("POST", `/api/admin/hosting/databases/${id}/users/${userId}/rotate-password`)),

  certificates: list<Certificate>("/api/admin/ssl/certificates"),
  requestCertificate: (body: CertificateBody) => call<unknown>("POST", "/api/admin/ssl/certificates", body),
  renewCertificate: (id: string) => call<unknown>("POST", `/api/admin/ssl/certificates/${id}/renew`),

  products: () => data(get<{ data: Product[] }>("/api/admin/billing/products")),
  createProduct: (body: ProductBody) => call<unknown>("POST", "/api/admin/billing/products", body),
  subscriptions: list<Subscription>("/api/admin/billing/subscriptions"),
  setSubscriptionCanceled: (id: string, cancel: boolean) => call<unknown>("POST", `/api/admin/billing/subscriptions/${id}/${cancel ? "cancel" : "reactivate"}`),
  invoices: list<Invoice>("/api/admin/billing/invoices"),
  invoice: (id: string) => data(get<{ data: InvoiceDetail }>(`/api/admin/billing/invoices/${id}`)),
  /** Where the invoice's PDF downloads (a plain link: the session cookie authenticates it). */
  invoicePdfUrl: (id: string) => `/api/admin/billing/invoices/${id}/pdf`,
  recordPayment: (id: string, body: ManualPaymentBody) => data(call<{ data: PaymentRecorded }>("POST", `/api/admin/billing/invoices/${id}/payments`, body)),
  payInvoice: (id: string) => data(call<{ data: { paymentUrl: string } }>("POST", `/api/admin/billing/invoices/${id}/pay`)),

  jobs: list<Job>("/api/admin/jobs"),
  job: (id: string) => data(get<{ data: JobDetail }>(`/api/admin/jobs/${id}`)),

  cloudPod: (id: string) => data(get<{ data: CloudPod }>(`/api/admin/cloudpods/${id}`)),
  backups: list<Backup>("/api/admin/backups"),
  backupPolicy: (cloudPodId: string) => data(get<{ data: BackupPolicy | null }>(`/api/admin/hosting/cloudpods/${cloudPodId}/backup-policy`)),
  setBackupPolicy: (cloudPodId: string, body: BackupPolicyBody) => data(call<{ data: BackupPolicy }>("PUT", `/api/admin/hosting/cloudpods/${cloudPodId}/backup-policy`, body)),
  backUpNow: (cloudPodId: string) => data(call<{ data: BackupRunStarted }>("POST", `/api/admin/hosting/cloudpods/${cloudPodId}/backups`, {})),
  /** Restores a succeeded backup over the CloudPod's files or the database (a job). */
  restoreBackup: (id: string) => data(call<{ data: BackupRestoreStarted }>("POST", `/api/admin/backups/${id}/restore`)),
  uptimeChecks: list<UptimeCheck>("/api/admin/uptime-checks"),
  uptimeCheck: (id: string) => data(get<{ data: UptimeCheckDetail }>(`/api/admin/uptime-checks/${id}`)),
  uptimeResults: (id: string, query: ListQuery = {}) => get<Paged<UptimeResult>>(`/api/admin/uptime-checks/${id}/results`, query),
  createUptimeCheck: (websiteId: string, body: UptimeCheckBody) => data(call<{ data: UptimeCheck }>("POST", `/api/admin/websites/${websiteId}/uptime-checks`, body)),
  deleteUptimeCheck: (id: string) => call<unknown>("DELETE", `/api/admin/uptime-checks/${id}`),
  alerts: () => data(get<{ data: Alert[] }>("/api/admin/alerts")),
  /** One sorted page of a CloudPod directory (`path` relative to its root, "" is the root). */
  files: (id: string, query: { path: string; page: number; pageSize: number; sort: string; order: string }) =>
    data(get<{ data: FileListing }>(filesPath(id), query)),
  fileText: (id: string, path: string) => data(get<{ data: FileText }>(filesPath(id, "/content"), { path })),
  saveFileText: (id: string, path: string, content: string) => data(call<{ data: { size: number } }>("PUT", filesPath(id, "/content"), { path, content })),
  makeFolder: (id: string, path: string) => call<unknown>("POST", filesPath(id, "/mkdir"), { path }),
  /** Renames or moves (`to` is a path from the root); refuses to replace an existing entry. */
  renameFile: (id: string, from: string, to: string) => call<unknown>("POST", filesPath(id, "/rename"), { from, to }),
  copyFile: (id: string, from: string, to: string) => data(call<{ data: { copied: number; skipped: number } }>("POST", filesPath(id, "/copy"), { from, to })),
  /** Deletes a file or a whole directory tree. */
  deleteFile: (id: string, path: string) => data(call<{ data: { removed: number } }>("POST", filesPath(id, "/delete"), { path })),
  /** Sets permission bits (`mode` 0-0o777). */
  chmodFile: (id: string, path: string, mode: number) => call<unknown>("POST", filesPath(id, "/chmod"), { path, mode }),
  fileSpace: (id: string) => data(get<{ data: FileSpace }>(filesPath(id, "/space"))),
  /** Bytes the node holds of an interrupted upload (0 when none): resume from there. */
  uploadStatus: (id: string, path: string, uploadId: string) => data(get<{ data: { received: number } }>(filesPath(id, "/upload"), { path, uploadId })),
  /** Where one upload request goes (`PUT`, the file's bytes from `offset` as application/octet-stream). */
  uploadUrl: (id: string, query: { path: string; uploadId: string; offset: number; size: number }) => withQuery(filesPath(id, "/upload"), query),
  /** Where a file downloads (a plain link: the session cookie authenticates it). */
  downloadUrl: (id: string, path: string) => withQuery(filesPath(id, "/download"), { path }),
  /** Packs `paths` into the archive `destination` (a job). */
  archiveFiles: (id: string, body: { paths: string[]; destination: string; format: "tar.gz" | "zip" }) =>
    data(call<{ data: { jobId: string } }>("POST", filesPath(id, "/archive"), body)),
  /** Unpacks the archive at `path` into the directory `destination` (a job). */
  extractArchive: (id: string, body: { path: string; destination: string }) => data(call<{ data: { jobId: string } }>("POST", filesPath(id, "/extract"), body)),
};
