// Child-process entry of one coordinator replica for the scale-out test (see replica.ts):
// starts the coordinator from the environment and answers the parent's commands over IPC.
import pino from "pino";
import { loadConfig } from "../../src/config";
import { startCoordinator } from "../../src/coordinator";
import { withJobs } from "../../src/jobs/enqueue";
import type { ReplicaReply, ReplicaRequest } from "./replica";

const send = (message: ReplicaReply): void => {
  process.send?.(message);
};
const log = pino({ level: process.env.MPANEL_TEST_LOG ?? "silent" });
const coordinator = await startCoordinator(loadConfig(), log);

async function answer(request: ReplicaRequest): Promise<unknown> {
  switch (request.command) {
    case "enqueue":
      return withJobs(coordinator.database.db, coordinator.wakeups, async (_tx, enqueue) => {
        const ids: string[] = [];
        for (const serverId of request.serverIds) {
          for (let i = 0; i < request.perServer; i += 1) ids.push((await enqueue({ type: "NOOP", payload: { sleepMs: request.sleepMs }, targetServerId: serverId })).id);
        }
        return ids;
      });
    case "scheduleRenewals":
      return coordinator.tls.scheduleRenewals();
    case "sessions":
      return coordinator.dispatcher.size();
    case "stop":
      await coordinator.stop();
      setImmediate(() => process.exit(0));
      return null;
  }
}

process.on("message", (request: ReplicaRequest) => {
  answer(request).then(
    (result) => send({ type: "reply", id: request.id, result }),
    (error: unknown) => send({ type: "reply", id: request.id, error: String(error) }),
  );
});
send({ type: "ready", httpUrl: coordinator.httpUrl, grpcPort: coordinator.grpcPort, caHash: coordinator.caHash });
