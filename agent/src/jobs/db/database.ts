import { defineJob } from "../define";
import { withEngine } from "./engine";

/** CREATE_DB: ensures the database exists and that only users granted it can use it. */
export const createDb = defineJob({
  type: "CREATE_DB",
  run: (spec, ctx) =>
    withEngine(ctx, spec.engine, async (db) => {
      const outcome = await db.ensureDatabase(spec.name);
      ctx.event("info", `${spec.engine} database ${spec.name} ${outcome}`, 100);
      return { outcome };
    }),
});

/** DELETE_DB: ends the database's sessions, revokes every grant on it and drops it (absent is fine). */
export const deleteDb = defineJob({
  type: "DELETE_DB",
  run: (spec, ctx) =>
    withEngine(ctx, spec.engine, async (db) => {
      const outcome = await db.dropDatabase(spec.name);
      ctx.event("info", `${spec.engine} database ${spec.name} ${outcome}`, 100);
      return { outcome };
    }),
});
