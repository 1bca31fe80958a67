import * as grpc from "@grpc/grpc-js";
import { ERROR_CODE_METADATA_KEY } from "@mpanel/proto";
import type { Logger } from "pino";
import { AppError, errorCodes } from "../errors";
import { PkiError } from "../pki/ca";


/** Maps any error to a gRPC status carrying the coordinator's code in trailing metadata; unexpected errors become `internal` (logged, cause hidden). */
export function toServiceError(error: unknown, log: Logger): grpc.ServiceError {
  const appError = error instanceof AppError ? error
    : error instanceof PkiError ? new AppError("validation", `csr: ${error.message}`)
    : new AppError("internal", "internal error");
  if (appError.code === "internal") log.error({ err: error }, "gateway call failed");
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, appError.code);
  return Object.assign(new Error(appError.message), { code: errorCodes[appError.code].grpc, details: appError.message, metadata });
}

