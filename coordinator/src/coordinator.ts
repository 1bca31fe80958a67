import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { build } from "./app";
import { seedRbac } from "./auth/rbac";
import { createAuthService } from "./auth/service";
import type { Config } from "./config";
import { connectDatabase, type DatabaseHandle } from "./db/connect";
import { createDispatcher, type Dispatcher } from "./gateway/dispatcher";
import { createGateway } from "./gateway/grpc-server";
import { createLastSeen } from "./gateway/last-seen";
import { createDatabaseService } from "./databases/service";
import { createDnsService } from "./dns/service";
import { createBillingService, type BillingService } from "./billing/service";
import { systemClock } from "./billing/periods";
import { createHostingService } from "./hosting/service";
import { createMailService } from "./mail/service";
import { createTlsService, type TlsService } from "./tls/service";
import { createJobService } from "./jobs/service";
import { createClaimBatcher } from "./jobs/claim-batcher";
import { createResultBatcher } from "./jobs/result-batcher";
import { createJobStore, type JobStore } from "./jobs/store";
import { Wakeups } from "./jobs/wakeups";
import { createJoinTokenService } from "./nodes/join-tokens";
import { createServerService } from "./nodes/servers";
import { createLiveHub } from "./panel/live";
import { caFingerprint, loadOrCreateCa } from "./pki/ca";
import { createTenantService } from "./tenants/service";
import { createIdentityServices } from "./identity/services";
import { createInstallService } from "./install/routes";
import { createBackupService, type BackupService } from "./backups/service";
import { createRolloutService, type RolloutService } from "./rollouts/service";
import { startMetricsMonitor } from "./metrics/monitor";
import { createFileService } from "./files/service";
import { createNodeChannels } from "./gateway/node-channels";
import { createTerminalService } from "./terminal/service";
import { createPrometheusExport } from "./metrics/prometheus";
import { createMetricsService } from "./metrics/service";
import { createMetricsStore, type MetricsStore } from "./metrics/store";
import { startClusterBus, type ClusterBus } from "./cluster/redis-bus";
import { startNodeRouting } from "./cluster/node-routing";
import { createInsights } from "./insights/routes";
import { parseResolvePins } from "./uptime/probe";
import { createUptimeService, type UptimeService } from "./uptime/service";

/** The items of a comma-separated config value, trimmed, empties dropped. */
const list = (value: string): string[] => value.split(",").map((item) => item.trim()).filter(Boolean);

/** A running coordinator: HTTP API + agent gateway + reaper, over one database. */
export interface Coordinator {
  app: FastifyInstance;
  database: DatabaseHandle;
  store: JobStore;
  dispatcher: Dispatcher;
  wakeups: Wakeups;
  /** The certificate service (its renewal run is on a timer; tests call it directly). */
  tls: TlsService;
  /** Billing (its renewal and dunning runs are on a timer; tests call them with a moved `now`). */
  billing: BillingService;
  /** Backups (their scheduler and restore tests run on a timer; tests call `scheduleBackups` / `scheduleRestoreTest` directly). */
  backups: BackupService;
  /** Staged agent rollouts (the controller runs on a timer; tests call `advance` directly). */
  rollouts: RolloutService;
  /** Site uptime checks (the probe run is on a timer; tests call `runDue` directly). */
  uptime: UptimeService;
  /** Node metrics and daemon health (the roll-up runs on a timer; tests call `rollUp` directly). */
  metrics: MetricsStore;
  httpUrl: string;
  grpcPort: number;
  /** `sha256:<hex>` of the CA certificate: what agents pin at enrollment. */
  caHash: string;
  stop(): Promise<void>;
}

/**
 * Starts everything the coordinator runs: database (+ migrations, RBAC seed), CA, gRPC
 * gateway, HTTP API and the lease reaper. Ports of 0 bind free ones (tests). Stopping closes
 * them in reverse order.
 */
export async function startCoordinator(config: Config, log: Logger): Promise<Coordinator> {
  const database = await connectDatabase(config, log);
  const { db } = database;
  await seedRbac(db.prisma);
  const ca = await loadOrCreateCa(join(config.MPANEL_DATA_DIR, "ca"));
  const wakeups = new Wakeups();
  const store = createJobStore({ pool: db.pool, wakeups, leaseMs: config.MPANEL_JOB_LEASE_MS, log });
  const claims = createClaimBatcher(store);
  const dispatcher = createDispatcher({ claim: claims.claim, wakeups, log });
  // Several replicas: wake-ups, node disconnects and rate limits go through Redis.
  let cluster: ClusterBus | null = null;
  if (config.MPANEL_REDIS_URL) {
    cluster = await startClusterBus({ url: config.MPANEL_REDIS_URL, wakeups, sessions: dispatcher, log }).catch(async (error: unknown) => {
      dispatcher.close();
      await database.close();
      throw error;
    });
  }
  const results = createResultBatcher({ store, log });
  const lastSeen = createLastSeen({ pool: db.pool, intervalMs: config.MPANEL_HEARTBEAT_MS, log });
  const joinTokens = createJoinTokenService({ db });
  const metrics = createMetricsStore({
    db, log: log.child({ component: "metrics" }),
    retention: { rawMs: config.MPANEL_METRICS_RAW_RETENTION_MS, minuteMs: config.MPANEL_METRICS_MINUTE_RETENTION_MS, hourMs: config.MPANEL_METRICS_HOUR_RETENTION_MS },
  });
  const channels = createNodeChannels();
  // Several replicas: a node's file and terminal traffic is relayed by the replica holding its stream.
  const routing = cluster && config.MPANEL_REDIS_URL
    ? await startNodeRouting({ url: config.MPANEL_REDIS_URL, replicaId: cluster.replicaId, redis: cluster.redis, channels, log }).catch(async (error: unknown) => {
      dispatcher.close();
      await cluster?.close();
      await database.close();
      throw error;
    })
    : null;
  const gateway = await createGateway({
    db, ca, joinTokens, store, results, lastSeen, dispatcher, metrics, channels, log,
    settings: { heartbeatMs: config.MPANEL_HEARTBEAT_MS, leaseMs: config.MPANEL_JOB_LEASE_MS },
    sans: config.MPANEL_GRPC_SANS.split(",").map((s) => s.trim()).filter(Boolean),
    nodeCertDays: config.MPANEL_NODE_CERT_DAYS,
  });
  const grpcPort = await gateway.listen(config.MPANEL_GRPC_HOST, config.MPANEL_GRPC_PORT);
  const tls = createTlsService({ db, wakeups });
  const dns = createDnsService({ db, wakeups, nameservers: config.MPANEL_NAMESERVERS.split(",").map((s) => s.trim()).filter(Boolean) });
  const live = createLiveHub({ pool: db.pool, log });
  await live.ready();
  const mfaRequiredRoles = list(config.MPANEL_MFA_REQUIRED_ROLES);
  const auth = createAuthService({
    db, sessionTtlMs: config.MPANEL_SESSION_TTL_MS,
    policy: { lockThreshold: config.MPANEL_LOCK_THRESHOLD, lockMs: config.MPANEL_LOCK_MS, mfaRequiredRoles },
  });
  const identity = createIdentityServices({
    db, auth,
    policy: { loginRateMax: config.MPANEL_LOGIN_RATE_MAX, mfaRequiredRoles },
    mail: { smtpUrl: config.MPANEL_SMTP_URL, from: config.MPANEL_MAIL_FROM, publicUrl: config.MPANEL_PUBLIC_URL },
    oidc: { publicUrl: config.MPANEL_PUBLIC_URL, allowHttp: config.MPANEL_OIDC_ALLOW_HTTP },
  });
  const hosting = createHostingService({ db, wakeups, dns });
  const billing = createBillingService({
    db, wakeups, hosting, log, clock: systemClock,
    settings: {
      stripe: { secretKey: config.MPANEL_STRIPE_SECRET_KEY, webhookSecret: config.MPANEL_STRIPE_WEBHOOK_SECRET, apiUrl: config.MPANEL_STRIPE_API_URL },
      smtpUrl: config.MPANEL_SMTP_URL, mailFrom: config.MPANEL_MAIL_FROM, publicUrl: config.MPANEL_PUBLIC_URL,
      seller: config.MPANEL_BILLING_SELLER, sellerCountry: config.MPANEL_BILLING_COUNTRY,
      dueDays: config.MPANEL_INVOICE_DUE_DAYS, dunningSchedule: config.MPANEL_DUNNING_SCHEDULE,
    },
  });
  const backups = createBackupService({ db, wakeups, restoreTestEveryMs: config.MPANEL_RESTORE_TEST_EVERY_MS });
  const rollouts = createRolloutService({ db, wakeups });
  const uptime = createUptimeService({ db, pins: parseResolvePins(config.MPANEL_UPTIME_RESOLVE), retentionMs: config.MPANEL_UPTIME_RETENTION_MS, log });
  const app = await build({
    log,
    trustProxy: list(config.MPANEL_TRUSTED_PROXIES),
    ...(cluster ? { rateLimitRedis: cluster.redis } : {}),
    panel: { live, terminal: createTerminalService({ db, channels, auth }), enrollment: { coordinator: `${config.MPANEL_GRPC_HOST}:${grpcPort}`, caHash: caFingerprint(ca.certPem) } },
    services: {
      auth,
      identity,
      tenants: createTenantService({ db }),
      joinTokens,
      servers: createServerService({ db, disconnect: (nodeId) => (cluster ? cluster.disconnectNode(nodeId) : dispatcher.disconnect(nodeId)) }),
      hosting,
      billing,
      dns,
      mail: createMailService({ db, wakeups }),
      databases: createDatabaseService({ db, wakeups }),
      tls,
      jobs: createJobService({ db }),
      install: createInstallService({ coordinator: `${config.MPANEL_GRPC_HOST}:${grpcPort}` }),
      backups,
      rollouts,
      uptime,
      insights: createInsights({ db }),
      files: createFileService({ db, channels, wakeups }),
      metrics: createMetricsService({
        db, store: metrics, scrapeToken: config.MPANEL_METRICS_TOKEN,
        prometheus: createPrometheusExport({ pool: db.pool, store: metrics, streams: () => dispatcher.size() }),
      }),
      ready: async () => {
        await db.pool.query("SELECT 1");
      },
    },
  });
  const httpUrl = await app.listen({ host: config.MPANEL_HTTP_HOST, port: config.MPANEL_HTTP_PORT });
  const renewals = setInterval(() => {
    tls.scheduleRenewals().catch((error: unknown) => log.error({ err: error }, "certificate renewal run failed"));
  }, config.MPANEL_RENEWAL_SCAN_MS);
  const billingRuns = setInterval(() => {
    billing.runRenewals().then(() => billing.runDunning()).catch((error: unknown) => log.error({ err: error }, "billing run failed"));
  }, config.MPANEL_BILLING_RUN_MS);
  const backupRuns = setInterval(() => {
    backups.scheduleBackups().then(() => backups.scheduleRestoreTest()).catch((error: unknown) => log.error({ err: error }, "backup scheduler run failed"));
  }, config.MPANEL_BACKUP_SCAN_MS);
  const rolloutRuns = setInterval(() => {
    rollouts.advance().catch((error: unknown) => log.error({ err: error }, "rollout controller run failed"));
  }, config.MPANEL_ROLLOUT_RUN_MS);
  const uptimeRuns = setInterval(() => {
    uptime.runDue().catch((error: unknown) => log.error({ err: error }, "uptime run failed"));
  }, config.MPANEL_UPTIME_RUN_MS);
  const reaper = setInterval(() => {
    store.reapExpired().catch((error: unknown) => log.error({ err: error }, "lease reaper failed"));
  }, config.MPANEL_REAPER_MS);
  const monitor = startMetricsMonitor({ db, store: metrics, heartbeatMs: config.MPANEL_HEARTBEAT_MS, intervalMs: config.MPANEL_METRICS_RUN_MS, log });
  const caHash = caFingerprint(ca.certPem);
  log.info({ httpUrl, grpcPort, caHash }, "coordinator started");
  return {
    app, database, store, dispatcher, wakeups, tls, billing, backups, rollouts, uptime, metrics, httpUrl, grpcPort, caHash,
    async stop() {
      clearInterval(reaper);
      monitor.stop();
      clearInterval(renewals);
      clearInterval(billingRuns);
      clearInterval(backupRuns);
      clearInterval(rolloutRuns);
      clearInterval(uptimeRuns);
      store.stop();
      await gateway.close();
      dispatcher.close();
      await lastSeen.stop();
      await app.close();
      identity.passwordReset.close();
      billing.close();
      await live.stop();
      await routing?.close();
      await cluster?.close();
      await database.close();
    },
  };
}
