import type { DbEngine } from "@mpanel/proto";
import { DatabaseError, type DatabaseEngine } from "../../drivers/databases";
import { requireService } from "../../services";
import { JobError, type JobContext } from "../define";

/**
 * Runs `fn` on the node's driver for `engine`. Throws JobError("service_not_configured",
 * not retryable) when this node has no such engine, and turns a DatabaseError into
 * JobError("db_<code>") carrying the server's own message and the driver's retry verdict.
 */
export async function withEngine<T>(ctx: JobContext, engine: DbEngine, fn: (db: DatabaseEngine) => Promise<T>): Promise<T> {
  const db = requireService(ctx.services, "databases")[engine];
  if (!db) throw new JobError("service_not_configured", `this node has no ${engine} configured`, false);
  try {
    return await fn(db);
  } catch (error) {
    if (error instanceof DatabaseError) {
      ctx.event("error", error.message);
      throw new JobError(`db_${error.code}`, error.message, error.retryable, { cause: error });
    }
    throw error;
  }
}
