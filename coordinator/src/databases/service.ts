import { randomUUID } from "node:crypto";
import { DbEngine, DbName, DbUserName, generateDbPassword, mysqlNativePasswordHash, scramSha256Verifier } from "@mpanel/proto";
import { z } from "zod";
import { audit } from "../audit";
import { checkPermission, tenantWhere, type Actor, type Permission } from "../auth/rbac";
import type { Database as Db, Tx } from "../db/client";
import type { Database } from "../generated/prisma/client";
import { AppError } from "../errors";
import { placeByRole } from "../hosting/placement";
import { HostingListQuery } from "../hosting/service";
import { pageArgs, paged } from "../http/pagination";
import { withJobs, type Enqueue } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { conflictOnDuplicate, listFilters, pendingJobIds } from "../mail/job-chain";
import { requireActiveTenant } from "../tenants/service";

/** Body of `POST /api/admin/hosting/databases`. */
export const DatabaseInput = z.strictObject({ tenantId: z.uuid(), engine: DbEngine, name: DbName, serverId: z.uuid().optional() });
/** Body of `POST /api/admin/hosting/databases/:id/users`. */
export const DatabaseUserInput = z.strictObject({ username: DbUserName });
/** Query of `GET /api/admin/hosting/databases`: page, `tenantId`, `status`, `q` (substring of the name), `engine`. */
export const DatabaseListQuery = HostingListQuery.extend({ engine: DbEngine.optional() });

/** What the engine's node stores instead of the password: mysql_native_password hash or SCRAM-SHA-256 verifier. */
function verifierFor(engine: string, password: string): string {
  return engine === "mariadb" ? mysqlNativePasswordHash(password) : scramSha256Verifier(password);
}

/**
 * Databases of tenants (MariaDB or PostgreSQL on a db node) and their users. A user's password
 * is generated here, returned once by the call that made it, and never stored: the job carries
 * only the engine's verifier. Every change writes records, audit event and jobs in one
 * transaction. Deleting a database drops its users first (DELETE_DB_USER jobs, then DELETE_DB
 * depending on them).
 */
export function createDatabaseService(deps: { db: Db; wakeups: Wakeups }) {
  const { db } = deps;
  const { prisma } = db;

  async function findDatabase(actor: Actor, id: string, client: Tx | Db["prisma"] = prisma) {
    const found = await client.database.findFirst({ where: { id, deletedAt: null, ...tenantWhere(actor, "databases:read") } });
    if (!found) throw new AppError("not_found", "database not found");
    return found;
  }

  /** A live user of a database the actor may change with `permission`. */
  async function findUser(tx: Tx, actor: Actor, databaseId: string, userId: string, permission: Permission) {
    const database = await findDatabase(actor, databaseId, tx);
    checkPermission(actor, permission, database.tenantId);
    const user = await tx.databaseUser.findFirst({ where: { id: userId, databaseId, deletedAt: null } });
    if (!user) throw new AppError("not_found", "database user not found");
    return { database, user };
  }

  /** Enqueues CREATE_DB_USER or UPDATE_DB_USER with a new password's verifier after the record's pending jobs; returns the password and job id. */
  async function sendPassword(tx: Tx, enqueue: Enqueue, type: "CREATE_DB_USER" | "UPDATE_DB_USER", database: Database, user: { id: string; username: string }, after: string[]) {
    const password = generateDbPassword();
    const job = await enqueue({
      type, payload: { databaseUserId: user.id, engine: DbEngine.parse(database.engine), username: user.username, passwordVerifier: verifierFor(database.engine, password), database: DbName.parse(database.name) },
      tenantId: database.tenantId, targetServerId: database.serverId, dependsOn: after,
    });
    return { password, jobId: job.id };
  }

  return {
    /** Creates a database on the placed db node (CREATE_DB); 409 on `name` when taken on that node and engine. */
    async create(actor: Actor, input: z.output<typeof DatabaseInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const tenant = await requireActiveTenant(tx, actor, input.tenantId, "databases:create");
        const serverId = await placeByRole(tx, "db", { serverId: input.serverId, capability: input.engine });
        const taken = { field: "name", message: `already taken on this server's ${input.engine}` };
        if (await tx.database.findFirst({ where: { serverId, engine: input.engine, name: input.name, deletedAt: null }, select: { id: true } })) {
          throw new AppError("conflict", `database ${input.name} already exists`, [taken]);
        }
        const id = randomUUID();
        const database = await conflictOnDuplicate(taken, () => tx.database.create({ data: { id, tenantId: tenant.id, serverId, engine: input.engine, name: input.name } }));
        const job = await enqueue({ type: "CREATE_DB", payload: { databaseId: id, engine: input.engine, name: input.name }, tenantId: tenant.id, targetServerId: serverId });
        await audit(tx, { action: "DATABASE_CREATED", targetType: "database", targetId: id, tenantId: tenant.id, actorUserId: actor.userId, requestId, data: { engine: input.engine, name: input.name, serverId, jobId: job.id } });
        return { database, jobId: job.id };
      });
    },

    async list(actor: Actor, q: z.output<typeof DatabaseListQuery>) {
      const where = {
        deletedAt: null, ...tenantWhere(actor, "databases:read"), ...listFilters(q),
        ...(q.engine ? { engine: q.engine } : {}), ...(q.q ? { name: { contains: q.q.toLowerCase() } } : {}),
      };
      const [rows, total] = await Promise.all([prisma.database.findMany({ where, orderBy: { createdAt: "desc" }, ...pageArgs(q) }), prisma.database.count({ where })]);
      return paged(rows, total, q);
    },

    /** One database with its live users. */
    async get(actor: Actor, id: string) {
      const database = await findDatabase(actor, id);
      const users = await prisma.databaseUser.findMany({ where: { databaseId: id, deletedAt: null }, orderBy: { createdAt: "asc" } });
      return { ...database, users };
    },

    /** Drops the database's users (DELETE_DB_USER each) then the database (DELETE_DB depending on them); repeated calls return the same job. */
    async remove(actor: Actor, id: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const database = await findDatabase(actor, id, tx);
        checkPermission(actor, "databases:delete", database.tenantId);
        const [running] = database.status === "deleting" ? await pendingJobIds(tx, database.serverId, "databaseId", id, ["DELETE_DB"]) : [];
        if (running) return { databaseId: id, jobId: running, userJobIds: [] };
        const engine = DbEngine.parse(database.engine);
        const users = await tx.databaseUser.findMany({ where: { databaseId: id, deletedAt: null } });
        const userJobIds: string[] = [];
        for (const user of users) {
          const [pendingDelete] = user.status === "deleting" ? await pendingJobIds(tx, database.serverId, "databaseUserId", user.id, ["DELETE_DB_USER"]) : [];
          if (pendingDelete) {
            userJobIds.push(pendingDelete);
            continue;
          }
          const dependsOn = await pendingJobIds(tx, database.serverId, "databaseUserId", user.id);
          userJobIds.push((await enqueue({ type: "DELETE_DB_USER", payload: { databaseUserId: user.id, engine, username: user.username }, tenantId: database.tenantId, targetServerId: database.serverId, dependsOn })).id);
        }
        const dependsOn = [...userJobIds, ...await pendingJobIds(tx, database.serverId, "databaseId", id)];
        await tx.database.update({ where: { id }, data: { status: "deleting" } });
        await tx.databaseUser.updateMany({ where: { databaseId: id, deletedAt: null }, data: { status: "deleting" } });
        const job = await enqueue({ type: "DELETE_DB", payload: { databaseId: id, engine, name: DbName.parse(database.name) }, tenantId: database.tenantId, targetServerId: database.serverId, dependsOn });
        await audit(tx, { action: "DATABASE_DELETED", targetType: "database", targetId: id, tenantId: database.tenantId, actorUserId: actor.userId, requestId, data: { name: database.name, jobId: job.id, userJobIds, phase: "requested" } });
        return { databaseId: id, jobId: job.id, userJobIds };
      });
    },

    /** Creates a user with all privileges on this database only; returns `{ user, password, jobId }`, the password this once. */
    async createUser(actor: Actor, databaseId: string, input: z.output<typeof DatabaseUserInput>, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const database = await findDatabase(actor, databaseId, tx);
        checkPermission(actor, "databases:write", database.tenantId);
        if (database.status === "deleting" || database.status === "failed") throw new AppError("conflict", `database is ${database.status}`);
        const taken = { field: "username", message: "already taken" };
        if (await tx.databaseUser.findFirst({ where: { username: input.username, deletedAt: null }, select: { id: true } })) throw new AppError("conflict", `user ${input.username} already exists`, [taken]);
        const user = await conflictOnDuplicate(taken, () => tx.databaseUser.create({ data: { id: randomUUID(), tenantId: database.tenantId, databaseId, username: input.username } }));
        const { password, jobId } = await sendPassword(tx, enqueue, "CREATE_DB_USER", database, user, await pendingJobIds(tx, database.serverId, "databaseId", databaseId));
        await audit(tx, { action: "DATABASE_USER_CREATED", targetType: "database_user", targetId: user.id, tenantId: database.tenantId, actorUserId: actor.userId, requestId, data: { username: user.username, databaseId, jobId } });
        return { user, password, jobId };
      });
    },

    /** Sets a new generated password (UPDATE_DB_USER with its verifier); returns `{ user, password, jobId }`, the password this once. */
    async rotatePassword(actor: Actor, databaseId: string, userId: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const found = await findUser(tx, actor, databaseId, userId, "databases:write");
        if (found.user.status === "deleting") throw new AppError("conflict", "database user is being deleted");
        const after = await pendingJobIds(tx, found.database.serverId, "databaseUserId", userId);
        const user = await tx.databaseUser.update({ where: { id: userId }, data: { status: "updating", passwordSetAt: new Date() } });
        const { password, jobId } = await sendPassword(tx, enqueue, "UPDATE_DB_USER", found.database, user, after);
        await audit(tx, { action: "DATABASE_USER_PASSWORD_ROTATED", targetType: "database_user", targetId: userId, tenantId: user.tenantId, actorUserId: actor.userId, requestId, data: { username: user.username, databaseId, jobId, phase: "requested" } });
        return { user, password, jobId };
      });
    },

    /** Drops the user (DELETE_DB_USER after its pending jobs); repeated calls return the same job. */
    async removeUser(actor: Actor, databaseId: string, userId: string, requestId: string) {
      return withJobs(db, deps.wakeups, async (tx, enqueue) => {
        const { database, user } = await findUser(tx, actor, databaseId, userId, "databases:delete");
        const [running] = user.status === "deleting" ? await pendingJobIds(tx, database.serverId, "databaseUserId", userId, ["DELETE_DB_USER"]) : [];
        if (running) return { databaseUserId: userId, jobId: running };
        const dependsOn = await pendingJobIds(tx, database.serverId, "databaseUserId", userId);
        await tx.databaseUser.update({ where: { id: userId }, data: { status: "deleting" } });
        const job = await enqueue({ type: "DELETE_DB_USER", payload: { databaseUserId: userId, engine: DbEngine.parse(database.engine), username: user.username }, tenantId: database.tenantId, targetServerId: database.serverId, dependsOn });
        await audit(tx, { action: "DATABASE_USER_DELETED", targetType: "database_user", targetId: userId, tenantId: database.tenantId, actorUserId: actor.userId, requestId, data: { username: user.username, databaseId, jobId: job.id, phase: "requested" } });
        return { databaseUserId: userId, jobId: job.id };
      });
    },
  };
}

export type DatabaseService = ReturnType<typeof createDatabaseService>;
