import type { FastifyInstance } from "fastify";
import { buildAgentBundle, fillInstallerScript, readInstallerScript, type AgentBundle } from "./bundle";

/** What the install routes serve: the installer with this coordinator's defaults, and the agent bundle. */
export interface InstallService {
  /** The agent bundle, built once per process (see `buildAgentBundle`). */
  bundle(): Promise<AgentBundle>;
  /** `install/agent.sh` with `url` (where it was fetched from), the gRPC address and the bundle's hash filled in. */
  script(url: string): Promise<string>;
}

/**
 * The one-line installer's server side. `coordinator` is the gRPC address (host:port) new nodes
 * enroll and connect to, the same one the panel shows with a join token.
 */
export function createInstallService(deps: { coordinator: string }): InstallService {
  let cached: Promise<AgentBundle> | undefined;
  const bundle = () => {
    cached ??= buildAgentBundle().catch((error: unknown) => {
      cached = undefined;
      throw error;
    });
    return cached;
  };
  return {
    bundle,
    async script(url) {
      const [script, built] = await Promise.all([readInstallerScript(), bundle()]);
      return fillInstallerScript(script, { url, coordinator: deps.coordinator, bundleSha256: built.sha256 });
    },
  };
}

/**
 * `GET /install/agent.sh` (text/x-shellscript) and `GET /install/agent.tar.gz`
 * (application/gzip): public, like any package download; the node proves nothing until it
 * enrolls with a join token over the pinned CA. The script's default URL is the one it was
 * fetched from (scheme and host as Fastify sees them, honouring trusted proxies).
 */
export function registerInstallRoutes(app: FastifyInstance, s: InstallService): void {
  const pub = { config: { public: true }, schema: { tags: ["install"] } };
  app.get("/install/agent.sh", pub, async (req, reply) =>
    reply.type("text/x-shellscript; charset=utf-8").header("cache-control", "no-store").send(await s.script(`${req.protocol}://${req.host}`)));
  app.get("/install/agent.tar.gz", pub, async (_req, reply) => {
    const built = await s.bundle();
    return reply.type("application/gzip").header("cache-control", "no-store").header("x-mpanel-agent-version", built.version)
      .header("x-mpanel-sha256", built.sha256).send(built.tarball);
  });
}
