import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DbEngine, JobInput } from "@mpanel/proto";
import mariadb from "mariadb";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDbPassword, mysqlNativePasswordHash, scramSha256Verifier } from "../../proto/src/db-passwords";
import { parseAgentConfig } from "../src/config";
import { createDatabaseServers, DatabaseError, DatabasesConfig, type DatabaseServers } from "../src/drivers/databases";
import { freePort } from "../src/drivers/free-port";
import { startPrivateMariaDb } from "../src/drivers/mariadb-instance";
import { createNginx } from "../src/drivers/nginx";
import { startPrivatePostgreSql } from "../src/drivers/postgresql-instance";
import { JobError, parsePayload, type JobContext } from "../src/jobs/define";
import { dbHandlers } from "../src/jobs/db/index";

const log = pino({ level: "silent" });

/** A logged-in session as a tenant (or the admin) sees it. */
interface Session {
  query(sql: string): Promise<Record<string, unknown>[]>;
  end(): Promise<void>;
}
interface Login {
  port: number;
  user: string;
  password: string;
  database: string;
}

/** What differs between the engines in these tests. */
interface Fixture {
  start(prefix: string, port: number): Promise<{ admin: { user: string; password: string }; section: Record<string, unknown>; stop(): Promise<void> }>;
  verifier(password: string): string;
  connect(login: Login): Promise<Session>;
  /** The server's error code when a user may not use a database, and when its password is wrong or it does not exist. */
  deniedDatabase: string;
  badPassword: string;
  listDatabases: string;
  listUsers: string;
  adminDatabase: string;
}

const fixtures: Record<DbEngine, Fixture> = {
  mariadb: {
    async start(prefix, port) {
      const server = await startPrivateMariaDb({ prefix, port });
      return { admin: { user: server.config.user, password: server.config.password ?? "" }, section: server.config, stop: server.stop };
    },
    verifier: mysqlNativePasswordHash,
    async connect(l) {
      const conn = await mariadb.createConnection({ host: "127.0.0.1", port: l.port, user: l.user, password: l.password, database: l.database, connectTimeout: 5_000 });
      conn.on("error", () => undefined); // a killed session fails its next query instead
      return { query: (sql) => conn.query<Record<string, unknown>[]>(sql), end: () => conn.end() };
    },
    deniedDatabase: "1044", // ER_DBACCESS_DENIED_ERROR
    badPassword: "1045", // ER_ACCESS_DENIED_ERROR
    listDatabases: "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA",
    listUsers: "SELECT User AS name FROM mysql.user",
    adminDatabase: "mysql",
  },
  postgresql: {
    async start(prefix, port) {
      const server = await startPrivatePostgreSql({ prefix, port });
      return { admin: { user: server.config.user, password: server.config.password ?? "" }, section: server.config, stop: server.stop };
    },
    verifier: (password) => scramSha256Verifier(password),
    async connect(l) {
      const client = new pg.Client({ host: "127.0.0.1", port: l.port, user: l.user, password: l.password, database: l.database, connectionTimeoutMillis: 5_000 });
      client.on("error", () => undefined);
      try {
        await client.connect();
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
      return { query: async (sql) => (await client.query<Record<string, unknown>>(sql)).rows, end: () => client.end() };
    },
    deniedDatabase: "42501", // insufficient_privilege: "permission denied for database"
    badPassword: "28P01", // invalid_password
    listDatabases: "SELECT datname AS name FROM pg_database",
    listUsers: "SELECT rolname AS name FROM pg_roles",
    adminDatabase: "postgres",
  },
};

/** The server's error code of a rejected promise (MariaDB errno or PostgreSQL SQLSTATE); fails if it resolves. */
async function refusal(p: Promise<unknown>): Promise<string> {
  const error = await p.then(() => undefined, (e: unknown) => e);
  expect(error).toBeDefined();
  const e = error as { errno?: number; code?: string };
  return String(e.errno ?? e.code);
}

/** The JobError a handler threw; fails if it resolves. */
async function jobError(p: Promise<unknown>): Promise<JobError> {
  const error = await p.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(JobError);
  return error as JobError;
}

describe.each(["mariadb", "postgresql"] as const)("%s databases and users", (engine) => {
  const fx = fixtures[engine];
  const tag = randomBytes(3).toString("hex");
  let prefix: string;
  let port: number;
  let server: Awaited<ReturnType<Fixture["start"]>>;
  let databases: DatabaseServers;
  let ctx: JobContext;
  const events: string[] = [];

  /** Runs a db job as the agent does: payload through JSON and the shared schema, then the handler. */
  const job = async <T extends keyof typeof dbHandlers>(type: T, payload: JobInput<T>) =>
    (dbHandlers[type].run as (p: unknown, c: JobContext) => Promise<{ outcome: string }>)(parsePayload(type, JSON.stringify(payload)), ctx);
  const dbJob = (name: string) => ({ databaseId: crypto.randomUUID(), engine, name });
  const userJob = (username: string, password: string, database: string) => ({ databaseUserId: crypto.randomUUID(), engine, username, passwordVerifier: fx.verifier(password), database });
  const login = (user: string, password: string, database: string) => fx.connect({ port, user, password, database });
  const adminNames = async (sql: string): Promise<string[]> => {
    const admin = await login(server.admin.user, server.admin.password, fx.adminDatabase);
    try {
      return (await admin.query(sql)).map((r) => String(r.name));
    } finally {
      await admin.end();
    }
  };

  const adminQuery = async (sql: string): Promise<void> => {
    const admin = await login(server.admin.user, server.admin.password, fx.adminDatabase);
    try {
      await admin.query(sql);
    } finally {
      await admin.end();
    }
  };

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), `mpanel-${engine}-`));
    port = await freePort();
    server = await fx.start(prefix, port);
    const config = parseAgentConfig({ coordinator: "127.0.0.1:1", roles: ["db"], databases: { [engine]: server.section } });
    if (!config.databases) throw new Error("databases section missing");
    databases = createDatabaseServers(config.databases, log);
    const nginx = createNginx({ binary: "/usr/sbin/nginx", confFile: join(prefix, "unused.conf"), sitesDir: prefix, probeUrl: "http://127.0.0.1:9" }, log);
    ctx = { config, services: { nginx, databases }, event: (_level, message) => events.push(message), log, signal: new AbortController().signal };
  });

  afterAll(async () => {
    await databases?.close();
    await server?.stop();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("creates a database and a user who logs in over TCP and creates, inserts and selects; reruns change nothing", async () => {
    const db = `shop_${tag}`;
    const user = `alice_${tag}`;
    const password = generateDbPassword();
    expect(await job("CREATE_DB", dbJob(db))).toEqual({ outcome: "created" });
    expect(await job("CREATE_DB", dbJob(db))).toEqual({ outcome: "exists" });
    const create = userJob(user, password, db);
    expect(await job("CREATE_DB_USER", create)).toEqual({ outcome: "created" });
    expect(await job("CREATE_DB_USER", create)).toEqual({ outcome: "updated" });

    const session = await login(user, password, db);
    await session.query("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40))");
    await session.query("INSERT INTO orders VALUES (1, 'tea')");
    expect(await session.query("SELECT item FROM orders")).toEqual([{ item: "tea" }]);
    await session.end();
    expect(events.join("\n")).not.toContain(create.passwordVerifier);
  });

  it("keeps tenants apart: another tenant's user cannot connect to the first one's database", async () => {
    const dbA = `acme_${tag}`;
    const dbB = `beta_${tag}`;
    const passA = generateDbPassword();
    const passB = generateDbPassword();
    await job("CREATE_DB", dbJob(dbA));
    await job("CREATE_DB", dbJob(dbB));
    await job("CREATE_DB_USER", userJob(`ua_${tag}`, passA, dbA));
    await job("CREATE_DB_USER", userJob(`ub_${tag}`, passB, dbB));
    const a = await login(`ua_${tag}`, passA, dbA);
    await a.query("CREATE TABLE secrets (v VARCHAR(20))");
    await a.query("INSERT INTO secrets VALUES ('only a')");
    await a.end();

    expect(await refusal(login(`ub_${tag}`, passB, dbA))).toBe(fx.deniedDatabase);
    const b = await login(`ub_${tag}`, passB, dbB);
    await expect(b.query(`SELECT v FROM ${dbA}.secrets`)).rejects.toThrow();
    await b.end();
    // In a MariaDB grant `_` is a wildcard: acme_<tag> must not open acmex<tag>.
    await job("CREATE_DB", dbJob(`acmex${tag}`));
    expect(await refusal(login(`ua_${tag}`, passA, `acmex${tag}`))).toBe(fx.deniedDatabase);
    expect(await refusal(login(server.admin.user, passA, dbA))).toBe(fx.badPassword);
  });

  it("rotates a password: the old one is refused, the new one works and the data stays", async () => {
    const db = `rot_${tag}`;
    const user = `rot_${tag}`;
    const oldPassword = generateDbPassword();
    const newPassword = generateDbPassword();
    await job("CREATE_DB", dbJob(db));
    await job("CREATE_DB_USER", userJob(user, oldPassword, db));
    const before = await login(user, oldPassword, db);
    await before.query("CREATE TABLE kept (v INT)");
    await before.query("INSERT INTO kept VALUES (7)");
    await before.end();

    const rotate = userJob(user, newPassword, db);
    expect(await job("UPDATE_DB_USER", rotate)).toEqual({ outcome: "updated" });
    expect(await job("UPDATE_DB_USER", rotate)).toEqual({ outcome: "updated" });
    expect(await refusal(login(user, oldPassword, db))).toBe(fx.badPassword);
    const after = await login(user, newPassword, db);
    expect(await after.query("SELECT v FROM kept")).toEqual([{ v: 7 }]);
    await after.end();
  });

  it("moves a user to another database: it loses the first", async () => {
    const password = generateDbPassword();
    const user = `mover_${tag}`;
    await job("CREATE_DB", dbJob(`from_${tag}`));
    await job("CREATE_DB", dbJob(`to_${tag}`));
    await job("CREATE_DB_USER", userJob(user, password, `from_${tag}`));
    await job("UPDATE_DB_USER", userJob(user, password, `to_${tag}`));
    expect(await refusal(login(user, password, `from_${tag}`))).toBe(fx.deniedDatabase);
    await (await login(user, password, `to_${tag}`)).end();
  });

  it("drops a user (ending its sessions, keeping its tables) and then the database; reruns find them absent", async () => {
    const db = `gone_${tag}`;
    const user = `gone_${tag}`;
    const password = generateDbPassword();
    await job("CREATE_DB", dbJob(db));
    await job("CREATE_DB_USER", userJob(user, password, db));
    const open = await login(user, password, db);
    await open.query("CREATE TABLE owned (v INT)");

    const drop = { databaseUserId: crypto.randomUUID(), engine, username: user };
    expect(await job("DELETE_DB_USER", drop)).toEqual({ outcome: "dropped" });
    expect(await job("DELETE_DB_USER", drop)).toEqual({ outcome: "absent" });
    await expect(open.query("SELECT 1")).rejects.toThrow();
    await open.end().catch(() => undefined);
    expect(await refusal(login(user, password, db))).toBe(fx.badPassword);
    expect(await adminNames(fx.listUsers)).not.toContain(user);
    expect(await adminNames(fx.listDatabases)).toContain(db);

    expect(await job("DELETE_DB", dbJob(db))).toEqual({ outcome: "dropped" });
    expect(await job("DELETE_DB", dbJob(db))).toEqual({ outcome: "absent" });
    expect(await adminNames(fx.listDatabases)).not.toContain(db);
  });

  it("a re-created database of the same name does not reopen to the old user", async () => {
    const db = `again_${tag}`;
    const user = `again_${tag}`;
    const password = generateDbPassword();
    await job("CREATE_DB", dbJob(db));
    await job("CREATE_DB_USER", userJob(user, password, db));
    await job("DELETE_DB", dbJob(db));
    await job("CREATE_DB", dbJob(db));
    expect(await refusal(login(user, password, db))).toBe(fx.deniedDatabase);
  });

  it("refuses bad names before touching the server, naming the field", async () => {
    const before = await adminNames(fx.listDatabases);
    for (const name of ["bad`name", "bad'name", 'bad"name', "x;drop", "x y", "Upper", ""]) {
      const error = await jobError(job("CREATE_DB", dbJob(name)));
      expect(error.code).toBe("invalid_payload");
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(/^name: /);
    }
    const badUser = await jobError(job("CREATE_DB_USER", { ...userJob(`ok_${tag}`, "pw", `shop_${tag}`), username: "u`; DROP" }));
    expect(badUser.message).toMatch(/^username: /);
    await expect(databases[engine]?.ensureDatabase("x`; DROP DATABASE mysql; --")).rejects.toMatchObject({ code: "invalid_argument" });
    expect((await adminNames(fx.listDatabases)).sort()).toEqual(before.sort());
  });

  it("refuses system names, the admin account, the other engine's verifier and a missing database", async () => {
    const admin = server.admin.user;
    // The shared schema refuses the servers' own accounts and databases by name (naming the field)...
    const reserved = await jobError(job("CREATE_DB_USER", userJob(admin, generateDbPassword(), `shop_${tag}`)));
    expect(reserved).toMatchObject({ code: "invalid_payload", retryable: false });
    expect(reserved.message).toMatch(/^username: is reserved/);
    expect((await jobError(job("DELETE_DB_USER", { databaseUserId: crypto.randomUUID(), engine, username: admin }))).code).toBe("invalid_payload");
    expect((await jobError(job("DELETE_DB", dbJob(fx.adminDatabase)))).message).toMatch(/^name: is reserved/);
    // ...and the driver still refuses any account with server-wide rights, whatever its name.
    const superName = `super_${tag}`;
    await adminQuery(engine === "mariadb" ? `CREATE USER '${superName}'@'%' IDENTIFIED BY 'x'` : `CREATE ROLE ${superName} LOGIN SUPERUSER`);
    if (engine === "mariadb") await adminQuery(`GRANT ALL PRIVILEGES ON *.* TO '${superName}'@'%'`);
    expect((await jobError(job("CREATE_DB_USER", userJob(superName, generateDbPassword(), `shop_${tag}`)))).code).toBe("db_reserved_name");
    await (await login(admin, server.admin.password, fx.adminDatabase)).end();

    const otherVerifier = engine === "mariadb" ? scramSha256Verifier("x-password") : mysqlNativePasswordHash("x-password");
    const wrongKind = await jobError(job("CREATE_DB_USER", { ...userJob(`kind_${tag}`, "x", `shop_${tag}`), passwordVerifier: otherVerifier }));
    expect(wrongKind).toMatchObject({ code: "db_invalid_argument", retryable: false });

    const missing = await jobError(job("CREATE_DB_USER", userJob(`early_${tag}`, generateDbPassword(), `nothere_${tag}`)));
    expect(missing).toMatchObject({ code: "db_database_missing", retryable: true });
    expect(await adminNames(fx.listUsers)).not.toContain(`early_${tag}`);
    expect(await databases[engine]?.version()).toMatch(/^\d+\.\d+/);
  });

  it("reports an unreachable server as a retryable failure", async () => {
    const unreachable = createDatabaseServers(DatabasesConfig.parse({ [engine]: { ...server.section, port: await freePort() } }), log);
    try {
      const error = await unreachable[engine]?.ensureDatabase(`never_${tag}`).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(DatabaseError);
      expect(error).toMatchObject({ code: "server_error", retryable: true });
    } finally {
      await unreachable.close();
    }
  });
});
