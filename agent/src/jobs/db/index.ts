import type { JobType } from "@mpanel/proto";
import type { JobHandler } from "../define";
import { createDb, deleteDb } from "./database";
import { createDbUser, deleteDbUser, updateDbUser } from "./database-user";

/** Handlers of the db role (MariaDB and PostgreSQL databases and users). */
export const dbHandlers = {
  CREATE_DB: createDb,
  DELETE_DB: deleteDb,
  CREATE_DB_USER: createDbUser,
  UPDATE_DB_USER: updateDbUser,
  DELETE_DB_USER: deleteDbUser,
} satisfies { [T in JobType]?: JobHandler<T> };
