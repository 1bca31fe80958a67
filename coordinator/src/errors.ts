import * as grpc from "@grpc/grpc-js";

/** Error codes of the coordinator, each with one HTTP and one gRPC status (the only mapping). */
export const errorCodes = {
  validation: { http: 400, grpc: grpc.status.INVALID_ARGUMENT },
  unauthenticated: { http: 401, grpc: grpc.status.UNAUTHENTICATED },
  forbidden: { http: 403, grpc: grpc.status.PERMISSION_DENIED },
  csrf: { http: 403, grpc: grpc.status.PERMISSION_DENIED },
  mfa_setup_required: { http: 403, grpc: grpc.status.PERMISSION_DENIED },
  not_found: { http: 404, grpc: grpc.status.NOT_FOUND },
  conflict: { http: 409, grpc: grpc.status.ALREADY_EXISTS },
  no_capacity: { http: 409, grpc: grpc.status.RESOURCE_EXHAUSTED },
  token_invalid: { http: 401, grpc: grpc.status.UNAUTHENTICATED },
  token_used: { http: 401, grpc: grpc.status.UNAUTHENTICATED },
  token_expired: { http: 401, grpc: grpc.status.UNAUTHENTICATED },
  token_role: { http: 403, grpc: grpc.status.PERMISSION_DENIED },
  node_revoked: { http: 403, grpc: grpc.status.PERMISSION_DENIED },
  rate_limited: { http: 429, grpc: grpc.status.RESOURCE_EXHAUSTED },
  unavailable: { http: 503, grpc: grpc.status.UNAVAILABLE },
  internal: { http: 500, grpc: grpc.status.INTERNAL },
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** One field that failed validation, named by its path in the request (e.g. "domain"). */
export interface FieldIssue {
  field: string;
  message: string;
}

/**
 * The coordinator's one error type. `code` decides the status (see `errorCodes`); `message`
 * is safe to show to the caller; `details` lists failed fields for `validation`.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: FieldIssue[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AppError";
  }
}
