import { AgentService } from "./gen/mpanel/agent/v1/agent_pb";
import { grpcServiceDefinition } from "./grpc";

export * from "./gen/mpanel/agent/v1/agent_pb";
export { grpcServiceDefinition, type GrpcServiceDefinition } from "./grpc";
export { create, toBinary, fromBinary } from "@bufbuild/protobuf";

/** The agent service as grpc-js carries it (see `grpcServiceDefinition`). */
export const agentServiceDefinition = grpcServiceDefinition(AgentService);

/** Version of the agent protocol; an agent one minor version behind is still accepted. */
export const PROTOCOL_VERSION = "1.0";
export * from "./jobs";
