import { loadConfig } from "./config";
import { startCoordinator } from "./coordinator";
import { createLogger } from "./logger";

/** Starts the coordinator from the environment and stops it cleanly on SIGTERM/SIGINT. */
const config = loadConfig();
const log = createLogger(config.LOG_LEVEL);
const coordinator = await startCoordinator(config, log);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    log.info({ signal }, "stopping");
    coordinator.stop().then(() => process.exit(0), (error: unknown) => {
      log.error({ err: error }, "stop failed");
      process.exit(1);
    });
  });
}
