import { randomBytes, randomUUID } from "node:crypto";
import { chmod, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BackupResult } from "@mpanel/proto";
import { execa } from "execa";
import mariadb from "mariadb";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobError, runJob, tree } from "./support/job-kit";
import { parseAgentConfig } from "../src/config";
import { freePort } from "../src/drivers/free-port";
import { startPrivateMariaDb, type PrivateMariaDb } from "../src/drivers/mariadb-instance";
import { startPrivateSshd, type PrivateSshd } from "../src/drivers/sshd-instance";
import { ResticError } from "../src/drivers/restic";
import { lookupSystemUser, removeSystemUser } from "../src/drivers/system-users";
import type { JobContext } from "../src/jobs/define";
import { docRoot, podRoot } from "../src/jobs/web/paths";
import { closeServices, createServices } from "../src/services";

/**
 * Backups to a restic repository on a backup host over SFTP. Real: a private OpenSSH server
 * (as root, on a free loopback port, its own config, host key and authorized key in a temp
 * dir; `internal-sftp`), restic's sftp backend driving `ssh`, a private MariaDB, the backup and
 * restore job handlers. The node's key sits where the installer puts it
 * (`<stateDir>/backup/sftp-key`, 0600); the backup host is trusted by its host key only.
 */

const log = pino({ level: "silent" });
const suffix = randomBytes(4).toString("hex");
const systemUser = `mpsf${suffix}`;
const cloudPodId = randomUUID();
const databaseId = randomUUID();
const domain = "sftp-site.test";
const dbName = `sftp_${suffix}`;

describe("backups to an sftp: restic repository on a backup host", () => {
  let prefix: string;
  let sshd: PrivateSshd;
  let maria: PrivateMariaDb;
  let ctx: JobContext;
  const contexts: JobContext[] = [];
  const remoteRepo = () => join(prefix, "backup-host", "restic");

  const sftpRepository = (overrides: Record<string, unknown> = {}) => ({ sftp: { host: "127.0.0.1", port: sshd.port, user: "root", path: remoteRepo(), hostKeys: [sshd.hostKey], ...overrides } });
  const baseConfig = (repository: unknown = sftpRepository()) => ({
    coordinator: "127.0.0.1:1",
    roles: ["web", "db"],
    stateDir: join(prefix, "state"),
    podsRoot: join(prefix, "pods"),
    acmeWebroot: join(prefix, "acme"),
    databases: { mariadb: maria.config },
    backup: { repository, passwordFile: join(prefix, "restic-password"), cacheDir: join(prefix, "restic-cache") },
  });
  const contextFor = (config: Record<string, unknown>): JobContext => {
    const c = parseAgentConfig(config);
    const made = { config: c, services: createServices(c, log), event: () => undefined, log, signal: new AbortController().signal };
    contexts.push(made);
    return made;
  };
  async function mariaRows(): Promise<string> {
    const conn = await mariadb.createConnection({ host: "127.0.0.1", port: maria.config.port, user: maria.config.user, password: maria.config.password, database: dbName });
    try {
      return JSON.stringify(await conn.query("SELECT id, name, note FROM items ORDER BY id"));
    } finally {
      await conn.end();
    }
  }
  async function mariaExec(sql: string, params: unknown[] = []): Promise<void> {
    const conn = await mariadb.createConnection({ host: "127.0.0.1", port: maria.config.port, user: maria.config.user, password: maria.config.password, database: dbName });
    try {
      await conn.query(sql, params);
    } finally {
      await conn.end();
    }
  }

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), "mpanel-backup-sftp-"));
    await mkdir(join(prefix, "sshd"));
    await mkdir(join(prefix, "backup-host"));
    await writeFile(join(prefix, "restic-password"), randomBytes(24).toString("base64"), { mode: 0o600 });
    [sshd, maria] = await Promise.all([startPrivateSshd(), startPrivateMariaDb({ prefix: join(prefix, "mariadb"), port: await freePort() })]);
    // The node's key, where `install/agent.sh --backup-ssh-key` puts it.
    await mkdir(join(prefix, "state", "backup"), { recursive: true, mode: 0o700 });
    await copyFile(sshd.clientKey, join(prefix, "state", "backup", "sftp-key"));
    await chmod(join(prefix, "state", "backup", "sftp-key"), 0o600);
    ctx = contextFor(baseConfig());

    await runJob(ctx, "CREATE_CLOUDPOD", { cloudPodId, systemUser, php: false });
    const account = await lookupSystemUser(systemUser);
    if (!account) throw new Error("the CloudPod's user was not created");
    const root = docRoot(ctx.config, systemUser, domain);
    await mkdir(join(root, "img"), { recursive: true });
    await writeFile(join(root, "index.html"), "<h1>over sftp</h1>\n");
    await writeFile(join(root, "img", "photo.bin"), randomBytes(150_000));
    await symlink("index.html", join(root, "home.html"));
    await execa("chown", ["-R", "--no-dereference", `${account.uid}:${account.gid}`, join(podRoot(ctx.config, systemUser), "sites", domain)]);
    await runJob(ctx, "CREATE_DB", { databaseId, engine: "mariadb", name: dbName });
    await mariaExec("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT)");
    for (let i = 1; i <= 50; i += 1) await mariaExec("INSERT INTO items VALUES (?, ?, ?)", [i, `item ${i} 'q' \\ ü`, randomBytes(20).toString("hex")]);
  });

  afterAll(async () => {
    for (const made of contexts) await closeServices(made.services);
    await Promise.all([sshd?.stop(), maria?.stop()]);
    await removeSystemUser(systemUser).catch(() => undefined);
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("refuses a bad sftp repository spec in the config, naming the field", () => {
    const bad = (overrides: Record<string, unknown>) => () => parseAgentConfig(baseConfig(sftpRepository(overrides)));
    expect(bad({ host: "backup host; rm -rf /" })).toThrow(/host/);
    expect(bad({ user: "Root -oProxyCommand=x" })).toThrow(/user/);
    expect(bad({ path: "/srv/re po" })).toThrow(/path/);
    expect(bad({ port: 70_000 })).toThrow(/port/);
    expect(bad({ hostKeys: ["ssh-ed25519 AAAA BBBB"] })).toThrow(/hostKeys/);
    expect(bad({ hostKeys: [] })).toThrow(/hostKeys/);
    expect(() => parseAgentConfig(baseConfig("sftp:root@host:/repo"))).toThrow(/repository/);
    // restic splits its sftp.command on spaces: a state dir with one cannot hold the key.
    expect(() => createServices(parseAgentConfig({ ...baseConfig(), stateDir: join(prefix, "state dir") }), log)).toThrow(/stateDir must be an absolute path/);
  });

  it("backs up a site and a database dump over SFTP and restores both", async () => {
    const sites = join(podRoot(ctx.config, systemUser), "sites");
    const filesBefore = await tree(sites);
    const rowsBefore = await mariaRows();

    const filesBackup = randomUUID();
    const files = await runJob(ctx, "BACKUP_SITE", { backupId: filesBackup, cloudPodId, systemUser }) as BackupResult;
    expect(files.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(files.bytes).toBeGreaterThan(150_000);
    const dbBackup = randomUUID();
    const dump = await runJob(ctx, "BACKUP_DATABASE", { backupId: dbBackup, databaseId, engine: "mariadb", name: dbName }) as BackupResult;
    expect(dump.bytes).toBeGreaterThan(0);

    // The repository is on the backup host's side of the SSH connection, and the agent wrote
    // the host's key (and nothing else) into its own known_hosts.
    expect((await lstat(join(remoteRepo(), "config"))).isFile()).toBe(true);
    expect((await readdir(join(remoteRepo(), "snapshots"))).length).toBe(2);
    expect(await readFile(join(prefix, "state", "backup", "known_hosts"), "utf8")).toBe(`mpanel-backup-repository ${sshd.hostKey}\n`);

    const root = docRoot(ctx.config, systemUser, domain);
    await unlink(join(root, "img", "photo.bin"));
    await writeFile(join(root, "index.html"), "defaced\n");
    await mariaExec("DELETE FROM items WHERE id > 10");
    expect(await tree(sites)).not.toEqual(filesBefore);

    await runJob(ctx, "RESTORE_BACKUP", { kind: "files", backupId: filesBackup, snapshotId: files.snapshotId, cloudPodId, systemUser });
    await runJob(ctx, "RESTORE_BACKUP", { kind: "database", backupId: dbBackup, snapshotId: dump.snapshotId, databaseId, engine: "mariadb", name: dbName });
    expect(await tree(sites)).toEqual(filesBefore);
    expect(await mariaRows()).toBe(rowsBefore);
  });

  it("refuses a backup host whose key is not the configured one, and a key file others can read", async () => {
    const [otherType, otherKey] = (await (async () => {
      await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(prefix, "impostor")]);
      return (await readFile(join(prefix, "impostor.pub"), "utf8")).trim().split(" ");
    })());
    const impostor = contextFor({ ...baseConfig(sftpRepository({ hostKeys: [`${otherType} ${otherKey}`] })), stateDir: join(prefix, "state-impostor") });
    await mkdir(join(prefix, "state-impostor", "backup"), { recursive: true, mode: 0o700 });
    await copyFile(sshd.clientKey, join(prefix, "state-impostor", "backup", "sftp-key"));
    await chmod(join(prefix, "state-impostor", "backup", "sftp-key"), 0o600);
    const refused = await jobError(runJob(impostor, "BACKUP_SITE", { backupId: randomUUID(), cloudPodId, systemUser }));
    expect(refused.code).toBe("restic_repository_unavailable");
    expect(refused.message).toMatch(/unable to start the sftp session/);
    // ssh's own words are in restic's full output (how they interleave with restic's lines varies).
    expect(refused.cause).toBeInstanceOf(ResticError);
    expect((refused.cause as ResticError).output).toMatch(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);

    await chmod(join(prefix, "state", "backup", "sftp-key"), 0o644);
    try {
      const open = await jobError(runJob(ctx, "BACKUP_SITE", { backupId: randomUUID(), cloudPodId, systemUser }));
      expect(open.code).toBe("restic_repository_unavailable");
      expect(open.message).toMatch(/sftp-key, has mode 644, must be 600/);
    } finally {
      await chmod(join(prefix, "state", "backup", "sftp-key"), 0o600);
    }
  });
});
