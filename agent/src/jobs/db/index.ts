import type { JobType } from "@mpanel/proto";
import { defineJob, JobError, type JobHandler } from "../define";

/** Handlers of this role (being written). */
export const dbHandlers = {
  CREATE_DB: defineJob({ type: "CREATE_DB", run() { throw new JobError("not_implemented", "CREATE_DB is not implemented yet", false); } }),
  DELETE_DB: defineJob({ type: "DELETE_DB", run() { throw new JobError("not_implemented", "DELETE_DB is not implemented yet", false); } }),
  CREATE_DB_USER: defineJob({ type: "CREATE_DB_USER", run() { throw new JobError("not_implemented", "CREATE_DB_USER is not implemented yet", false); } }),
  UPDATE_DB_USER: defineJob({ type: "UPDATE_DB_USER", run() { throw new JobError("not_implemented", "UPDATE_DB_USER is not implemented yet", false); } }),
  DELETE_DB_USER: defineJob({ type: "DELETE_DB_USER", run() { throw new JobError("not_implemented", "DELETE_DB_USER is not implemented yet", false); } }),
} satisfies { [T in JobType]?: JobHandler<T> };
