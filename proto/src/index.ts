import { AgentService } from "./gen/mpanel/agent/v1/agent_pb";
import { grpcServiceDefinition } from "./grpc";

export * from "./gen/mpanel/agent/v1/agent_pb";
export { grpcServiceDefinition, type GrpcServiceDefinition } from "./grpc";
export { create, toBinary, fromBinary } from "@bufbuild/protobuf";

/** The agent service as grpc-js carries it (see `grpcServiceDefinition`). */
export const agentServiceDefinition = grpcServiceDefinition(AgentService);

/** gRPC trailing-metadata key carrying the coordinator's error code (`token_used`, `node_revoked`, ...); agents branch on it, never on message text. */
export const ERROR_CODE_METADATA_KEY = "mpanel-error-code";
export * from "./jobs";
export * from "./dns";
export * from "./db-passwords";
export * from "./files";
export * from "./protocol";
