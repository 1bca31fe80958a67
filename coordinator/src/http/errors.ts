import type { FastifyError, FastifyInstance } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { AppError, errorCodes, type FieldIssue } from "../errors";

/**
 * One error handler: AppError -> its status and `{ error, message, details? }`; schema
 * validation -> 400 naming each field; anything else -> 500 `{ error: "internal", requestId }`
 * with the cause only in the log.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const details: FieldIssue[] = error.validation.map((issue) => ({
        field: issue.instancePath.replace(/^\//, "").replaceAll("/", ".") || (error.validationContext ?? "body"),
        message: issue.message ?? "invalid",
      }));
      const fields = details.map((d) => d.field).join(", ");
      return reply.status(400).send({ error: "validation", message: `invalid ${fields}`, details });
    }
    if (error instanceof AppError) {
      if (error.code === "internal") request.log.error({ err: error.cause ?? error }, "internal error");
      const body = error.code === "internal" ? { error: "internal", requestId: request.id } : { error: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
      return reply.status(errorCodes[error.code].http).send(body);
    }
    if (typeof error.statusCode === "number" && error.statusCode < 500) {
      return reply.status(error.statusCode).send({ error: error.code ?? "bad_request", message: error.message });
    }
    request.log.error({ err: error }, "internal error");
    return reply.status(500).send({ error: "internal", requestId: request.id });
  });
  app.setNotFoundHandler((_request, reply) => reply.status(404).send({ error: "not_found", message: "no such route" }));
}
