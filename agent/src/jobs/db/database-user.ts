import type { JobPayload } from "@mpanel/proto";
import { defineJob, type JobContext } from "../define";
import { withEngine } from "./engine";

/** Creates the user or replaces its verifier, then grants it all privileges on its database only. */
function ensureUser(spec: JobPayload<"CREATE_DB_USER">, ctx: JobContext) {
  return withEngine(ctx, spec.engine, async (db) => {
    const outcome = await db.ensureUser({ username: spec.username, verifier: spec.passwordVerifier, database: spec.database });
    ctx.event("info", `${spec.engine} user ${spec.username} ${outcome} with all privileges on ${spec.database}`, 100);
    return { outcome };
  });
}

/** CREATE_DB_USER: ensures the user with this password verifier and all privileges on `database` only. */
export const createDbUser = defineJob({ type: "CREATE_DB_USER", run: ensureUser });

/** UPDATE_DB_USER: the same ensure, used to rotate the password (a new verifier) or move the grant. */
export const updateDbUser = defineJob({ type: "UPDATE_DB_USER", run: ensureUser });

/** DELETE_DB_USER: ends the user's sessions, hands its objects to the admin and drops it (absent is fine). */
export const deleteDbUser = defineJob({
  type: "DELETE_DB_USER",
  run: (spec, ctx) =>
    withEngine(ctx, spec.engine, async (db) => {
      const outcome = await db.dropUser(spec.username);
      ctx.event("info", `${spec.engine} user ${spec.username} ${outcome}`, 100);
      return { outcome };
    }),
});
