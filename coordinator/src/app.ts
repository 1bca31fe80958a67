import { randomUUID } from "node:crypto";
import cookie from "@fastify/cookie";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { registerAuth } from "./http/auth-hook";
import { registerErrorHandler } from "./http/errors";
import { registerRoutes, type ApiServices } from "./http/routes";

/** What `build` needs: the services and a logger (tests pass their own). */
export interface AppDeps {
  services: ApiServices;
  log: Logger;
  /** Proxies whose X-Forwarded-For is believed (fastify `trustProxy`); none by default. */
  trustProxy?: string[];
}

/**
 * Builds the HTTP API without listening (tests use `app.inject`, `server.ts` listens).
 * OpenAPI 3 is generated from the route schemas and served at `/api/openapi.json`.
 */
export async function build(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    trustProxy: deps.trustProxy?.length ? deps.trustProxy : false,
    bodyLimit: 1024 * 1024,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(cookie);
  await app.register(swagger, {
    openapi: { info: { title: "mPanel coordinator API", version: "0.1.0" } },
    transform: jsonSchemaTransform,
  });
  registerErrorHandler(app);
  registerAuth(app, deps.services.auth);
  registerRoutes(app, deps.services);
  app.get("/api/openapi.json", { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  return app;
}
