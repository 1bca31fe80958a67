import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AuthService } from "../auth/service";
import { registerBillingRoutes } from "../billing/routes";
import type { BillingService } from "../billing/service";
import { registerDatabaseRoutes } from "../databases/routes";
import type { DatabaseService } from "../databases/service";
import { registerDnsRoutes } from "../dns/routes";
import type { DnsService } from "../dns/service";
import type { HostingService } from "../hosting/service";
import { registerMailRoutes } from "../mail/routes";
import type { MailService } from "../mail/service";
import { registerTlsRoutes } from "../tls/routes";
import type { TlsService } from "../tls/service";
import { CloudPodInput, HostingListQuery, ProvisionInput, WebsiteInput } from "../hosting/service";
import type { JobService } from "../jobs/service";
import { JobListQuery } from "../jobs/service";
import { JoinTokenInput, type JoinTokenService } from "../nodes/join-tokens";
import { ServerListQuery, ServerPatch, type ServerService } from "../nodes/servers";
import { TenantInput, TenantListQuery, type TenantService } from "../tenants/service";
import { registerIdentityRoutes } from "../identity/routes";
import { registerInstallRoutes, type InstallService } from "../install/routes";
import { registerBackupRoutes } from "../backups/routes";
import { registerUptimeRoutes } from "../uptime/routes";
import type { UptimeService } from "../uptime/service";
import { registerRolloutRoutes } from "../rollouts/routes";
import type { RolloutService } from "../rollouts/service";
import type { BackupService } from "../backups/service";
import { registerInsightRoutes, type Insights } from "../insights/routes";
import type { IdentityServices } from "../identity/services";
import { registerMetricsRoutes } from "../metrics/routes";
import { registerFileRoutes } from "../files/routes";
import type { FileService } from "../files/service";
import type { MetricsService } from "../metrics/service";
import { actorOf } from "./auth-hook";

/** The services the HTTP API calls. */
export interface ApiServices {
  auth: AuthService;
  identity: IdentityServices;
  tenants: TenantService;
  joinTokens: JoinTokenService;
  servers: ServerService;
  hosting: HostingService;
  dns: DnsService;
  mail: MailService;
  databases: DatabaseService;
  tls: TlsService;
  billing: BillingService;
  jobs: JobService;
  /** The one-line agent installer and bundle (`/install/*`). */
  install: InstallService;
  backups: BackupService;
  uptime: UptimeService;
  /** Staged agent rollouts (`/api/admin/rollouts`). */
  rollouts: RolloutService;
  /** Node metrics, daemon health and the Prometheus export. */
  metrics: MetricsService;
  /** The CloudPod file manager (relayed to the node's agent). */
  files: FileService;
  /** The audit log and the dashboard pulse. */
  insights: Insights;
  /** Readiness: resolves when the database answers. */
  ready(): Promise<void>;
}

const IdParams = z.object({ id: z.uuid() });

/**
 * Every HTTP route of the coordinator, top to bottom. Handlers parse (schemas), call one
 * service method and return `{ data }`; errors are thrown as AppError and mapped in one place.
 */
export function registerRoutes(root: FastifyInstance, s: ApiServices): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const pub = { config: { public: true } };

  app.get("/api/health", { ...pub, schema: { tags: ["health"] } }, async () => ({ data: { status: "ok" } }));
  app.get("/api/health/ready", { ...pub, schema: { tags: ["health"] } }, async (_req, reply) => {
    try {
      await s.ready();
      return { data: { status: "ready", database: "ok" } };
    } catch {
      return reply.status(503).send({ error: "not_ready", message: "database unreachable" });
    }
  });

  registerIdentityRoutes(root, s);

  app.post("/api/admin/tenants", { schema: { body: TenantInput, tags: ["tenants"] } }, async (req, reply) =>
    reply.status(201).send({ data: await s.tenants.create(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/tenants", { schema: { querystring: TenantListQuery, tags: ["tenants"] } }, async (req) => s.tenants.list(actorOf(req), req.query));
  app.get("/api/admin/tenants/:id", { schema: { params: IdParams, tags: ["tenants"] } }, async (req) => ({ data: await s.tenants.get(actorOf(req), req.params.id) }));
  app.post("/api/admin/tenants/:id/suspend", { schema: { params: IdParams, tags: ["tenants"] } }, async (req) =>
    ({ data: await s.tenants.setSuspended(actorOf(req), req.params.id, true, req.id) }));
  app.post("/api/admin/tenants/:id/unsuspend", { schema: { params: IdParams, tags: ["tenants"] } }, async (req) =>
    ({ data: await s.tenants.setSuspended(actorOf(req), req.params.id, false, req.id) }));

  app.post("/api/admin/join-tokens", { schema: { body: JoinTokenInput, tags: ["servers"] } }, async (req, reply) =>
    reply.status(201).send({ data: await s.joinTokens.create(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/servers", { schema: { querystring: ServerListQuery, tags: ["servers"] } }, async (req) => s.servers.list(actorOf(req), req.query));
  app.get("/api/admin/servers/:id", { schema: { params: IdParams, tags: ["servers"] } }, async (req) => ({ data: await s.servers.get(actorOf(req), req.params.id) }));
  app.patch("/api/admin/servers/:id", { schema: { params: IdParams, body: ServerPatch, tags: ["servers"] } }, async (req) =>
    ({ data: await s.servers.update(actorOf(req), req.params.id, req.body, req.id) }));
  app.post("/api/admin/servers/:id/revoke", { schema: { params: IdParams, tags: ["servers"] } }, async (req) =>
    ({ data: await s.servers.revoke(actorOf(req), req.params.id, req.id) }));

  app.post("/api/admin/cloudpods", { schema: { body: CloudPodInput, tags: ["hosting"] } }, async (req, reply) =>
    reply.status(202).send({ data: await s.hosting.createCloudPod(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/cloudpods", { schema: { querystring: HostingListQuery, tags: ["hosting"] } }, async (req) => s.hosting.listCloudPods(actorOf(req), req.query));
  app.get("/api/admin/cloudpods/:id", { schema: { params: IdParams, tags: ["hosting"] } }, async (req) => ({ data: await s.hosting.getCloudPod(actorOf(req), req.params.id) }));
  app.delete("/api/admin/cloudpods/:id", { schema: { params: IdParams, tags: ["hosting"] } }, async (req, reply) =>
    reply.status(202).send({ data: await s.hosting.deleteCloudPod(actorOf(req), req.params.id, req.id) }));

  app.post("/api/admin/hosting/cloudpods", { schema: { body: ProvisionInput, tags: ["hosting"] } }, async (req, reply) =>
    reply.status(202).send({ data: await s.hosting.provisionCloudPod(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/hosting/cloudpods", { schema: { querystring: HostingListQuery, tags: ["hosting"] } }, async (req) => s.hosting.listCloudPods(actorOf(req), req.query));
  app.get("/api/admin/hosting/cloudpods/:id", { schema: { params: IdParams, tags: ["hosting"] } }, async (req) => ({ data: await s.hosting.getCloudPod(actorOf(req), req.params.id) }));
  app.post("/api/admin/hosting/cloudpods/:id/retry", { schema: { params: IdParams, tags: ["hosting"] } }, async (req, reply) =>
    reply.status(202).send({ data: await s.hosting.retryCloudPod(actorOf(req), req.params.id, req.id) }));
  app.post("/api/admin/hosting/cloudpods/:id/suspend", { schema: { params: IdParams, tags: ["hosting"] } }, async (req, reply) =>
    reply.status(202).send({ data: await s.hosting.setSuspended(actorOf(req), req.params.id, true, req.id) }));
  app.post("/api/admin/hosting/cloudpods/:id/unsuspend", { schema: { params: IdParams, tags: ["hosting"] } }, async (req, reply) =>
    reply.status(202).send({ data: await s.hosting.setSuspended(actorOf(req), req.params.id, false, req.id) }));

  app.post("/api/admin/websites", { schema: { body: WebsiteInput, tags: ["hosting"] } }, async (req, reply) =>
    reply.status(202).send({ data: await s.hosting.createWebsite(actorOf(req), req.body, req.id) }));
  app.get("/api/admin/websites", { schema: { querystring: HostingListQuery, tags: ["hosting"] } }, async (req) => s.hosting.listWebsites(actorOf(req), req.query));
  app.get("/api/admin/websites/:id", { schema: { params: IdParams, tags: ["hosting"] } }, async (req) => ({ data: await s.hosting.getWebsite(actorOf(req), req.params.id) }));
  app.delete("/api/admin/websites/:id", { schema: { params: IdParams, tags: ["hosting"] } }, async (req, reply) =>
    reply.status(202).send({ data: await s.hosting.deleteWebsite(actorOf(req), req.params.id, req.id) }));

  registerDnsRoutes(root, s.dns);
  registerMailRoutes(root, s.mail);
  registerDatabaseRoutes(root, s.databases);
  registerTlsRoutes(root, s.tls);
  registerBillingRoutes(root, s.billing);
  registerInstallRoutes(root, s.install);
  registerBackupRoutes(root, s.backups);
  registerUptimeRoutes(root, s.uptime);
  registerRolloutRoutes(root, s.rollouts);
  registerMetricsRoutes(root, s.metrics);
  registerFileRoutes(root, s.files);
  registerInsightRoutes(root, s.insights);

  app.get("/api/admin/jobs", { schema: { querystring: JobListQuery, tags: ["jobs"] } }, async (req) => s.jobs.list(actorOf(req), req.query));
  app.get("/api/admin/jobs/:id", { schema: { params: IdParams, tags: ["jobs"] } }, async (req) => ({ data: await s.jobs.get(actorOf(req), req.params.id) }));
}
