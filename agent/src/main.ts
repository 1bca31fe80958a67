import { parseArgs } from "node:util";
import pino from "pino";
import { loadAgentConfig } from "./config";
import { enroll, EnrollError } from "./enroll";
import { loadIdentity } from "./identity";
import { startAgent } from "./agent";
import { FatalSessionError } from "./session";
import { AGENT_RESTART_EXIT_CODE } from "./version";

/**
 * `mpanel-agent [--config FILE] [--token T --ca-hash sha256:H] [--enroll-only]`: enrolls on first
 * start, then runs until SIGTERM/SIGINT, when it finishes (or hands back) running jobs and exits 0.
 * `--enroll-only` (the installer) enrolls when the state dir holds no identity yet, prints the
 * node id and exits 0. Exit codes: 1 on a refused enrollment or revoked node (do not restart
 * blindly), 2 on bad config, 75 after an upgrade was installed (systemd restarts it).
 */
const { values } = parseArgs({
  options: { config: { type: "string" }, token: { type: "string" }, "ca-hash": { type: "string" }, "enroll-only": { type: "boolean" } },
});
let config;
try {
  config = loadAgentConfig(values.config ?? process.env.MPANEL_AGENT_CONFIG);
} catch (error) {
  process.stderr.write(`mpanel-agent: ${(error as Error).message}\n`);
  process.exit(2);
}
const log = pino({ name: "agent", level: config.logLevel, redact: ["token", "*.token", "keyPem"] });
const token = values.token ?? process.env.MPANEL_JOIN_TOKEN;
const caHash = values["ca-hash"] ?? process.env.MPANEL_CA_HASH;
try {
  if (values["enroll-only"]) {
    const identity = await loadIdentity(config.stateDir)
      ?? (token && caHash ? await enroll({ coordinator: config.coordinator, token, caHash, roles: [...config.roles], hostname: config.hostname, stateDir: config.stateDir }) : null);
    if (!identity) throw new EnrollError("token_missing", "this node is not enrolled: pass --token and --ca-hash");
    process.stdout.write(`${identity.nodeId}\n`);
    process.exit(0);
  }
  const agent = await startAgent(config, log, token && caHash ? { token, caHash } : undefined, {
    restart: (running) => {
      void running.stop().then(() => process.exit(AGENT_RESTART_EXIT_CODE));
    },
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      log.info({ signal }, "stopping: finishing running jobs");
      void agent.stop().then(() => process.exit(0));
    });
  }
  await agent.done;
} catch (error) {
  if (error instanceof EnrollError) log.fatal({ code: error.code }, `enrollment refused: ${error.message}`);
  else if (error instanceof FatalSessionError) log.fatal({ code: error.grpcCode }, `coordinator refused this node: ${error.message}`);
  else log.fatal({ err: error }, "agent failed");
  process.exit(1);
}
