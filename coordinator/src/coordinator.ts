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
import { caFingerprint, loadOrCreateCa } from "./pki/ca";
import { createTenantService } from "./tenants/service";

/** A running coordinator: HTTP API + agent gateway + reaper, over one database. */
export interface Coordinator {
  app: FastifyInstance;
  database: DatabaseHandle;
  store: JobStore;
  dispatcher: Dispatcher;
  wakeups: Wakeups;
  /** The certificate service (its renewal run is on a timer; tests call it directly). */
  tls: TlsService;
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
  const results = createResultBatcher({ store, log });
  const lastSeen = createLastSeen({ pool: db.pool, intervalMs: config.MPANEL_HEARTBEAT_MS, log });
  const joinTokens = createJoinTokenService({ db });
  const gateway = await createGateway({
    db, ca, joinTokens, store, results, lastSeen, dispatcher, log,
    settings: { heartbeatMs: config.MPANEL_HEARTBEAT_MS, leaseMs: config.MPANEL_JOB_LEASE_MS },
    sans: config.MPANEL_GRPC_SANS.split(",").map((s) => s.trim()).filter(Boolean),
    nodeCertDays: config.MPANEL_NODE_CERT_DAYS,
  });
  const grpcPort = await gateway.listen(config.MPANEL_GRPC_HOST, config.MPANEL_GRPC_PORT);
  const tls = createTlsService({ db, wakeups });
  const dns = createDnsService({ db, wakeups, nameservers: config.MPANEL_NAMESERVERS.split(",").map((s) => s.trim()).filter(Boolean) });
  const app = await build({
    log,
    services: {
      auth: createAuthService({ db, sessionTtlMs: config.MPANEL_SESSION_TTL_MS }),
      tenants: createTenantService({ db }),
      joinTokens,
      servers: createServerService({ db, disconnect: (nodeId) => dispatcher.disconnect(nodeId) }),
      hosting: createHostingService({ db, wakeups, dns }),
      dns,
      mail: createMailService({ db, wakeups }),
      databases: createDatabaseService({ db, wakeups }),
      tls,
      jobs: createJobService({ db }),
      ready: async () => {
        await db.pool.query("SELECT 1");
      },
    },
  });
  const httpUrl = await app.listen({ host: config.MPANEL_HTTP_HOST, port: config.MPANEL_HTTP_PORT });
  const renewals = setInterval(() => {
    tls.scheduleRenewals().catch((error: unknown) => log.error({ err: error }, "certificate renewal run failed"));
  }, config.MPANEL_RENEWAL_SCAN_MS);
  const reaper = setInterval(() => {
    store.reapExpired().catch((error: unknown) => log.error({ err: error }, "lease reaper failed"));
  }, config.MPANEL_REAPER_MS);
  const caHash = caFingerprint(ca.certPem);
  log.info({ httpUrl, grpcPort, caHash }, "coordinator started");
  return {
    app, database, store, dispatcher, wakeups, tls, httpUrl, grpcPort, caHash,
    async stop() {
      clearInterval(reaper);
      clearInterval(renewals);
      store.stop();
      await gateway.close();
      dispatcher.close();
      await lastSeen.stop();
      await app.close();
      await database.close();
    },
  };
}
