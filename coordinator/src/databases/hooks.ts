import type { JobHook } from "../jobs/hook-kit";
import { payloadField } from "../jobs/hook-kit";
import { applyHook, deleteHook } from "../mail/record-hooks";

const database = { table: "databases", idField: "databaseId", targetType: "database", failed: "DATABASE_FAILED" } as const;
const user = { table: "database_users", idField: "databaseUserId", targetType: "database_user", failed: "DATABASE_USER_FAILED" } as const;
const databaseDeleted = deleteHook({ ...database, succeeded: "DATABASE_DELETED" });

/**
 * What finished database jobs change in the coordinator's records: status `active` or
 * `failed`, deletes set `deleted_at` (a dropped database's remaining users with it); each writes
 * an audit event. Runs in the transaction that records the job's final status.
 */
export const databasesHooks: Partial<Record<string, JobHook>> = {
  CREATE_DB: applyHook({ ...database, succeeded: "DATABASE_CREATED" }),
  async DELETE_DB(client, job, wake) {
    await databaseDeleted(client, job, wake);
    if (job.success) {
      await client.query(`UPDATE database_users SET status = 'deleted', deleted_at = now() WHERE database_id = $1 AND deleted_at IS NULL`, [payloadField(job.payload, "databaseId")]);
    }
  },
  CREATE_DB_USER: applyHook({ ...user, succeeded: "DATABASE_USER_CREATED" }),
  UPDATE_DB_USER: applyHook({ ...user, succeeded: "DATABASE_USER_PASSWORD_ROTATED" }),
  DELETE_DB_USER: deleteHook({ ...user, succeeded: "DATABASE_USER_DELETED" }),
};
