import { randomUUID } from "node:crypto";
import cookie from "@fastify/cookie";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import rateLimit from "@fastify/rate-limit";
import type { Redis } from "ioredis";
import { AppError } from "./errors";
import { registerAuth } from "./http/auth-hook";
import { registerInputGuard } from "./identity/input-guard";
import { registerErrorHandler } from "./http/errors";
import { registerRoutes, type ApiServices } from "./http/routes";
import type { LiveHub } from "./panel/live";
import type { EnrollmentInfo } from "./panel/contract";
import { registerPanel } from "./panel/routes";
import { registerTerminalRoutes } from "./terminal/routes";
import type { TerminalService } from "./terminal/service";

/** What `build` needs: the services and a logger (tests pass their own). */
export interface AppDeps {
  services: ApiServices;
  log: Logger;
  /** Proxies whose X-Forwarded-For is believed (fastify `trustProxy`); none by default. */
  trustProxy?: string[];
  /** Redis connection for the rate limits' counters, shared by replicas; unset = in-process counters. */
  rateLimitRedis?: Redis;
  /** The panel: its live-update hub, what new nodes enroll with, where its build is (default `panel/dist`), the web terminal. */
  panel?: { live: LiveHub; enrollment: EnrollmentInfo; dist?: string; terminal?: TerminalService };
}

/** One registered route: its method (HEAD twins of GET routes included) and URL pattern. */
export interface RouteEntry {
  method: string;
  url: string;
  /** Route needs no session (`config: { public: true }`). */
  public: boolean;
}

const routeLists = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Every route `build` registered on `app`, in order (the route-walker test checks them against its table). */
export function registeredRoutes(app: FastifyInstance): readonly RouteEntry[] {
  return routeLists.get(app) ?? [];
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
  const routes: RouteEntry[] = [];
  routeLists.set(app, routes);
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, public: route.config?.public === true });
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(cookie);
  await app.register(swagger, {
    openapi: { info: { title: "mPanel coordinator API", version: "0.1.0" } },
    transform: jsonSchemaTransform,
  });
  // Limits are per route (`config.rateLimit`), keyed on `req.ip`; counters in Redis when replicas share one
  // (a Redis error lets the request through; the connection logs it, and the account lock still stops guessing), else in-process.
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, ctx) => new AppError("rate_limited", `too many attempts; retry in ${ctx.after}`),
    ...(deps.rateLimitRedis ? { redis: deps.rateLimitRedis, nameSpace: "mpanel:rate-limit:", skipOnError: true } : {}),
  });
  registerErrorHandler(app);
  registerAuth(app, deps.services.auth);
  registerInputGuard(app);
  registerRoutes(app, deps.services);
  if (deps.panel) await registerPanel(app, deps.panel);
  if (deps.panel?.terminal) registerTerminalRoutes(app, deps.panel.terminal);
  app.get("/api/openapi.json", { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  return app;
}
