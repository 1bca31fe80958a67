import * as grpc from "@grpc/grpc-js";
import { agentServiceDefinition, ERROR_CODE_METADATA_KEY, type AgentMessage, type CoordinatorMessage, type EnrollRequest, type EnrollResponse, type RenewCertificateRequest, type RenewCertificateResponse } from "@mpanel/proto";

/** The coordinator's error code from a failed call's trailing metadata (see the gateway). */
export function errorCodeOf(error: unknown): string | null {
  const metadata = (error as { metadata?: grpc.Metadata }).metadata;
  const value = metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  return typeof value === "string" ? value : null;
}

/** A typed client for the agent service over the given channel credentials. */
export function createAgentClient(address: string, credentials: grpc.ChannelCredentials) {
  const client = new grpc.Client(address, credentials, {
    "grpc.keepalive_time_ms": 15_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
  });
  const def = agentServiceDefinition;
  const unary = <Req, Res>(method: grpc.MethodDefinition<Req, Res>, request: Req, deadlineMs: number): Promise<Res> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs }, (error, response) => (error || !response ? reject(error ?? new Error("empty response")) : resolve(response)));
    });
  return {
    enroll: (request: EnrollRequest): Promise<EnrollResponse> => unary(def.enroll, request, 30_000),
    renewCertificate: (request: RenewCertificateRequest): Promise<RenewCertificateResponse> => unary(def.renewCertificate, request, 30_000),
    connect: (): grpc.ClientDuplexStream<AgentMessage, CoordinatorMessage> =>
      client.makeBidiStreamRequest(def.connect.path, def.connect.requestSerialize, def.connect.responseDeserialize),
    close: () => client.close(),
  };
}

export type AgentClient = ReturnType<typeof createAgentClient>;

/** mTLS credentials from the node's identity, verifying the coordinator against the pinned CA. */
export function mtlsCredentials(identity: { caPem: string; keyPem: string; certPem: string }): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(identity.caPem), Buffer.from(identity.keyPem), Buffer.from(identity.certPem));
}
