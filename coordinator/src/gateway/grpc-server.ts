import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { agentServiceDefinition, create, EnrollResponseSchema, NodeRole, RenewCertificateResponseSchema, type AgentMessage, type CoordinatorMessage, type EnrollRequest, type EnrollResponse, type RenewCertificateRequest, type RenewCertificateResponse } from "@mpanel/proto";
import type { Logger } from "pino";
import { audit } from "../audit";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { toServiceError } from "./grpc-errors";
import type { ResultBatcher } from "../jobs/result-batcher";
import type { JobStore } from "../jobs/store";
import type { LastSeen } from "./last-seen";
import type { JoinTokenService } from "../nodes/join-tokens";
import { issueServerCert, nodeIdFromCert, signNodeCsr, type CaMaterial } from "../pki/ca";
import { staticCertificateProvider } from "../pki/static-provider";
import type { Dispatcher } from "./dispatcher";
import type { MetricsStore } from "../metrics/store";
import type { NodeChannels } from "./node-channels";
import { runSession, type SessionSettings } from "./session";

/** Everything the agent gateway needs, passed explicitly. */
export interface GatewayDeps {
  db: Database;
  ca: CaMaterial;
  joinTokens: JoinTokenService;
  store: JobStore;
  results: ResultBatcher;
  lastSeen: LastSeen;
  dispatcher: Dispatcher;
  /** Where agents' samples and daemon states go. */
  metrics: MetricsStore;
  /** File and terminal traffic to and from connected agents. */
  channels: NodeChannels;
  settings: SessionSettings;
  /** Names/IPs for the listener's server certificate. */
  sans: string[];
  nodeCertDays: number;
  log: Logger;
}

/**
 * The node identity behind an mTLS call: the URI SAN of a client certificate the CA verified
 * (grpc-js only exposes verified peers). Throws `unauthenticated` without one and
 * `node_revoked` for a revoked or deleted node.
 */
async function authenticateNode(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, "getAuthContext">, db: Database): Promise<{ id: string; roles: string[] }> {
  const cert = call.getAuthContext().sslPeerCertificate;
  const nodeId = cert?.raw ? nodeIdFromCert(cert.raw) : null;
  if (!nodeId) throw new AppError("unauthenticated", "a client certificate issued by this coordinator is required");
  const server = await db.prisma.server.findUnique({ where: { id: nodeId } });
  if (!server || server.revokedAt) throw new AppError("node_revoked", "this node was revoked or deleted");
  return { id: server.id, roles: server.roles };
}

/**
 * Builds the gRPC server for agents: `Enroll` (server-authenticated TLS, join token + CSR),
 * `RenewCertificate` and `Connect` (mutual TLS). One listener serves both: the client
 * certificate is requested but optional, and only `Enroll` works without one.
 */
export async function createGateway(deps: GatewayDeps) {
  const { db, ca, log } = deps;
  const serverCert = await issueServerCert(ca, deps.sans);
  const providers = staticCertificateProvider(ca.certPem, serverCert.certPem + ca.certPem, serverCert.keyPem);
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(providers.identityProvider, providers.caProvider, false);
  const server = new grpc.Server({
    "grpc.keepalive_time_ms": 20_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  });

  server.addService(agentServiceDefinition, {
    enroll(call: grpc.ServerUnaryCall<EnrollRequest, EnrollResponse>, callback: grpc.sendUnaryData<EnrollResponse>) {
      void (async () => {
        const req = call.request;
        const roles = NodeRole.array().safeParse(req.roles);
        if (!roles.success) throw new AppError("validation", "roles: unknown role");
        const hostname = req.hostname.slice(0, 253) || "unknown";
        const nodeId = randomUUID();
        const issued = await signNodeCsr(ca, req.csrPem, nodeId, deps.nodeCertDays);
        await deps.joinTokens.consume(req.joinToken, roles.data, { id: nodeId, hostname, certSerial: issued.serial, certNotAfter: issued.notAfter });
        log.info({ nodeId, hostname, roles: roles.data }, "node enrolled");
        return create(EnrollResponseSchema, { nodeId, certificatePem: issued.certPem, caCertificatePem: ca.certPem });
      })().then((res) => callback(null, res), (error: unknown) => callback(toServiceError(error, log)));
    },

    renewCertificate(call: grpc.ServerUnaryCall<RenewCertificateRequest, RenewCertificateResponse>, callback: grpc.sendUnaryData<RenewCertificateResponse>) {
      void (async () => {
        const node = await authenticateNode(call, db);
        const issued = await signNodeCsr(ca, call.request.csrPem, node.id, deps.nodeCertDays);
        await db.prisma.$transaction(async (tx) => {
          await tx.server.update({ where: { id: node.id }, data: { certSerial: issued.serial, certNotAfter: issued.notAfter } });
          await audit(tx, { action: "NODE_CERT_RENEWED", targetType: "server", targetId: node.id, actorNodeId: node.id, data: { serial: issued.serial } });
        });
        return create(RenewCertificateResponseSchema, { certificatePem: issued.certPem });
      })().then((res) => callback(null, res), (error: unknown) => callback(toServiceError(error, log)));
    },

    connect(call: grpc.ServerDuplexStream<AgentMessage, CoordinatorMessage>) {
      authenticateNode(call, db).then(
        (node) => runSession(call, node, { db, store: deps.store, results: deps.results, lastSeen: deps.lastSeen, dispatcher: deps.dispatcher, metrics: deps.metrics, channels: deps.channels, settings: deps.settings, log }),
        // emit, not destroy: grpc-js sends the status (and its metadata) from its 'error' listener; a destroyed stream sends none.
        (error: unknown) => call.emit("error", toServiceError(error, log)),
      );
    },
  });

  return {
    server,
    /** Binds host:port (0 = any free port) and returns the bound port. */
    async listen(host: string, port: number): Promise<number> {
      return new Promise((resolve, reject) => {
        server.bindAsync(`${host}:${port}`, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
      });
    },
    /** Stops accepting, ends open streams after `graceMs`. */
    async close(graceMs = 2000): Promise<void> {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
        server.tryShutdown(() => { clearTimeout(timer); resolve(); });
      });
    },
  };
}

export type Gateway = Awaited<ReturnType<typeof createGateway>>;
