import { lstat, mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { execa } from "execa";
import type { Logger } from "pino";
import { z } from "zod";
import { createSerializer } from "./files";

const AbsolutePath = z.string().regex(/^\/[A-Za-z0-9._/-]*$/, "must be an absolute path of A-Z a-z 0-9 . _ / -");

/** The name the backup host's key is recorded under in the agent's own known_hosts (ssh `HostKeyAlias`). */
const HOST_KEY_ALIAS = "mpanel-backup-repository";

/**
 * A restic repository on a backup host over SFTP (restic's sftp backend runs `ssh ... -s sftp`).
 * Every field reaches an ssh command line, so each is restricted to characters that need no
 * quoting. The private key is not in the config: it is a file (OpenSSH format, mode 0600, owned
 * by the agent's user), by default `<stateDir>/backup/sftp-key`, which `install/agent.sh
 * --backup-ssh-key` puts there. The host is authenticated by `hostKeys` only (no trust on first
 * use, the machine's known_hosts and ssh config are never read).
 */
export const SftpRepository = z.strictObject({
  host: z.string().max(253).regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/, "must be a host name or IPv4 address"),
  port: z.number().int().min(1).max(65_535).default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, "must be a user name (a-z 0-9 _ . -, at most 32)"),
  /** The repository's directory on the backup host (absolute). */
  path: AbsolutePath.refine((path) => path.length > 1, "must not be /"),
  /** The backup host's public keys as in known_hosts, without the host part: `ssh-ed25519 AAAA...`. */
  hostKeys: z.array(z.string().regex(/^(?:ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|rsa-sha2-(?:256|512)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/, "must be '<key type> <base64 key>' as in known_hosts")).min(1).max(8),
  /** The private key file; default `<stateDir>/backup/sftp-key`. */
  keyFile: AbsolutePath.optional(),
  /** The ssh client restic runs. */
  sshBinary: AbsolutePath.default("/usr/bin/ssh"),
  /** How long ssh waits for the TCP connection (s). */
  connectTimeoutSeconds: z.number().int().min(1).max(300).default(30),
});
export type SftpRepository = z.infer<typeof SftpRepository>;

/**
 * The `backup` section of the agent config: the node's restic repository and the tools that
 * feed it. The password is read by restic from `passwordFile` (never passed on a command line,
 * never logged).
 */
export const BackupConfig = z.strictObject({
  /** restic repository: a local path (a backup disk or a mounted backup node) or `{ sftp: SftpRepository }`. */
  repository: z.union([
    z.string().regex(/^\/[A-Za-z0-9._/-]+$/, "must be an absolute path or { sftp: { host, port, user, path, hostKeys } }"),
    z.strictObject({ sftp: SftpRepository }),
  ]),
  /** File holding the repository password (mode 0600). */
  passwordFile: AbsolutePath,
  /** restic's cache; absent = `--no-cache`. */
  cacheDir: AbsolutePath.optional(),
  binary: AbsolutePath.default("/usr/bin/restic"),
  /** `restic check --read-data-subset` after each backup, e.g. "5%"; absent = structure only. */
  checkReadData: z.string().regex(/^\d{1,2}%$|^100%$/, "must be a percentage such as 5%").optional(),
  mariadbDump: AbsolutePath.default("/usr/bin/mariadb-dump"),
  mariadbClient: AbsolutePath.default("/usr/bin/mariadb"),
  pgDump: AbsolutePath.default("/usr/bin/pg_dump"),
  pgRestore: AbsolutePath.default("/usr/bin/pg_restore"),
});
export type BackupConfig = z.infer<typeof BackupConfig>;

/** Why a restic operation failed; callers branch on this, never on the message. */
export type ResticErrorCode =
  | "repository_unavailable" // cannot open or create the repository (path, password, network)
  | "backup_failed" // `restic backup` failed (output = restic's stderr)
  | "check_failed" // `restic check` found errors (output = its report)
  | "restore_failed" // `restic restore` / `restic dump` failed
  | "snapshot_not_found"; // no snapshot with that id

/** A restic failure with restic's own output. */
export class ResticError extends Error {
  constructor(readonly code: ResticErrorCode, message: string, readonly output = "", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ResticError";
  }
}

/** One snapshot as `restic snapshots --json` lists it. */
export interface Snapshot {
  id: string;
  time: string;
  paths: string[];
  tags: string[];
  hostname: string;
}

/** Counts of snapshots `restic forget` keeps (restic's `--keep-last/daily/weekly/monthly`). */
export interface Retention {
  keepLast: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
}

/** The node's restic repository (restic 0.14, Debian 12; https://restic.readthedocs.io). */
export interface Restic {
  /** Creates the repository unless it exists (`restic cat config`, else `restic init`). Returns which. */
  ensureRepository(): Promise<"created" | "present">;
  /** Snapshots carrying every tag in `tags`, oldest first. */
  snapshots(tags: string[]): Promise<Snapshot[]>;
  /** `restic backup` of absolute `paths`; returns the new snapshot's full id and bytes read. */
  backupPaths(paths: string[], tags: string[]): Promise<{ snapshotId: string; bytes: number }>;
  /** `restic backup --stdin` of `input` stored as `/<filename>`; returns the snapshot's full id. */
  backupStdin(input: Readable, filename: string, tags: string[]): Promise<{ snapshotId: string }>;
  /**
   * `restic check`, reading `readDataSubset` of the data (e.g. "5%"; default: the configured
   * `checkReadData`, else structure only); throws ResticError("check_failed") with its report.
   */
  check(readDataSubset?: string): Promise<void>;
  /**
   * What restoring the snapshot writes (`restic stats <id> --mode restore-size`): `entries`,
   * every file, directory and link of its tree (the parents of its absolute paths included),
   * and `bytes`, the sum of its files' sizes. Throws ResticError("snapshot_not_found").
   */
  stats(snapshotId: string): Promise<{ entries: number; bytes: number }>;
  /** Removes the snapshots (`restic forget <ids>`); their data goes at the next prune. */
  forget(snapshotIds: string[]): Promise<void>;
  /** `restic forget --prune --tag <tags> --keep-*`: returns the full ids of the snapshots removed. */
  applyRetention(tags: string[], retention: Retention): Promise<string[]>;
  /** `restic restore <id> --target <target>`: files under their absolute paths inside `target`, owners and modes kept (as root). */
  restore(snapshotId: string, target: string): Promise<void>;
  /**
   * `restic dump <id> <path>` streamed into `consume` (e.g. piped to a database client); resolves
   * when both are done. Throws ResticError("restore_failed") when restic fails, else what
   * `consume` throws.
   */
  dump(snapshotId: string, path: string, consume: (stream: Readable) => Promise<void>): Promise<void>;
}

/** How restic reaches a repository: its `--repo`/`-o` arguments, what must exist first, and a name for logs. */
interface RepositoryAccess {
  args: string[];
  describe: string;
  prepare(): Promise<void>;
}

/**
 * The access to a local repository (nothing to prepare), or to an SFTP one: restic 0.14's only
 * knob is `-o sftp.command=...` (restic splits it on spaces, so no argument may hold one; the
 * schema guarantees that). The command runs ssh with no config file (`-F /dev/null`), only the
 * node's key, batch mode (never a prompt), and strict host key checking against a known_hosts
 * file the agent writes from `hostKeys` under `<stateDir>/backup/` before each operation.
 * Throws ResticError("repository_unavailable") at once when the key or known_hosts path holds a
 * character restic would split on (a `stateDir` with a space); `prepare` throws it when the key
 * file is missing, not a regular file, readable by anyone but its owner, or owned by another user.
 */
function repositoryAccess(repository: BackupConfig["repository"], stateDir: string): RepositoryAccess {
  if (typeof repository === "string") return { args: ["--repo", repository], describe: repository, prepare: async () => undefined };
  const sftp = repository.sftp;
  const dir = join(stateDir, "backup");
  const keyFile = sftp.keyFile ?? join(dir, "sftp-key");
  const knownHosts = join(dir, "known_hosts");
  for (const path of [keyFile, knownHosts]) {
    if (!AbsolutePath.safeParse(path).success) throw new ResticError("repository_unavailable", `${path} cannot go into restic's sftp.command: the agent's stateDir must be an absolute path of A-Z a-z 0-9 . _ / -`);
  }
  const ssh = [sftp.sshBinary, "-F", "/dev/null", "-i", keyFile, "-p", String(sftp.port),
    "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null", "-o", `HostKeyAlias=${HOST_KEY_ALIAS}`,
    "-o", `ConnectTimeout=${sftp.connectTimeoutSeconds}`, "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
    "-o", "LogLevel=ERROR", "-l", sftp.user, sftp.host, "-s", "sftp"];
  const describe = `sftp:${sftp.user}@${sftp.host}:${sftp.port}${sftp.path}`;
  return {
    args: ["--repo", `sftp:${sftp.user}@${sftp.host}:${sftp.path}`, "-o", `sftp.command=${ssh.join(" ")}`],
    describe,
    async prepare() {
      const key = await lstat(keyFile).catch(() => null);
      const problem = !key ? "does not exist"
        : !key.isFile() ? "is not a regular file"
        : (key.mode & 0o077) !== 0 ? `has mode ${(key.mode & 0o777).toString(8)}, must be 600`
        : key.uid !== process.getuid?.() ? `is owned by uid ${key.uid}, not the agent's user`
        : null;
      if (problem) throw new ResticError("repository_unavailable", `the SSH key for ${describe}, ${keyFile}, ${problem}`);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(`${knownHosts}.new`, sftp.hostKeys.map((hostKey) => `${HOST_KEY_ALIAS} ${hostKey}\n`).join(""), { mode: 0o600 });
      await rename(`${knownHosts}.new`, knownHosts);
    },
  };
}

/**
 * Builds the driver for `cfg`; an SFTP repository keeps its known_hosts under `stateDir`.
 * restic 0.14 cannot wait for a repository lock (`--retry-lock` came in 0.16), so this node's
 * restic commands run one at a time. Throws ResticError for an SFTP repository whose key paths
 * restic cannot take (see repositoryAccess); otherwise nothing until used.
 */
export function createRestic(cfg: BackupConfig, hostname: string, log: Logger, stateDir: string): Restic {
  const access = repositoryAccess(cfg.repository, stateDir);
  const queue = createSerializer();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => queue(async () => {
    await access.prepare();
    return fn();
  });
  const base = [...access.args, "--password-file", cfg.passwordFile, ...(cfg.cacheDir ? ["--cache-dir", cfg.cacheDir] : ["--no-cache"])];
  const run = (args: string[], code: ResticErrorCode, what: string) => execa(cfg.binary, [...base, ...args], { reject: false }).then((res) => {
    if (res.exitCode !== 0) throw new ResticError(code, `${what} failed: ${lastLines(res.stderr)}`, res.stderr);
    return res.stdout;
  });

  const snapshots = async (tags: string[]): Promise<Snapshot[]> => {
    const out = await run(["snapshots", "--json", ...(tags.length ? ["--tag", tags.join(",")] : [])], "repository_unavailable", "restic snapshots");
    return (JSON.parse(out || "[]") as Snapshot[] | null ?? []).map((s) => ({ id: s.id, time: s.time, paths: s.paths, tags: s.tags ?? [], hostname: s.hostname }));
  };
  /** The full id of the snapshot whose short id restic's backup summary printed. */
  const fullId = async (summaryOut: string, tags: string[]): Promise<string> => {
    const summary = summaryOf(summaryOut);
    const found = (await snapshots(tags)).find((s) => s.id.startsWith(summary.snapshot_id));
    if (!found) throw new ResticError("backup_failed", `restic reported snapshot ${summary.snapshot_id} but does not list it`);
    return found.id;
  };

  return {
    ensureRepository: () => serial(async () => {
      const probe = await execa(cfg.binary, [...base, "cat", "config"], { reject: false });
      if (probe.exitCode === 0) return "present";
      const init = await execa(cfg.binary, [...base, "init"], { reject: false });
      if (init.exitCode !== 0) {
        throw new ResticError("repository_unavailable", `cannot open or create the repository: ${lastLines(probe.stderr)} / ${lastLines(init.stderr)}`, init.stderr);
      }
      log.info({ repository: access.describe }, "restic repository created");
      return "created";
    }),
    snapshots: (tags) => serial(() => snapshots(tags)),
    backupPaths: (paths, tags) => serial(async () => {
      const out = await run(["backup", "--json", "--host", hostname, "--tag", tags.join(","), "--", ...paths], "backup_failed", "restic backup");
      return { snapshotId: await fullId(out, tags), bytes: summaryOf(out).total_bytes_processed };
    }),
    backupStdin: (input, filename, tags) => serial(async () => {
      const child = execa(cfg.binary, [...base, "backup", "--json", "--host", hostname, "--tag", tags.join(","), "--stdin", "--stdin-filename", filename], { reject: false, stdin: "pipe" });
      input.on("error", (error) => child.stdin.destroy(error));
      input.pipe(child.stdin);
      const res = await child;
      if (res.exitCode !== 0) throw new ResticError("backup_failed", `restic backup --stdin failed: ${lastLines(res.stderr)}`, res.stderr);
      return { snapshotId: await fullId(res.stdout, tags) };
    }),
    check: (readDataSubset = cfg.checkReadData) => serial(async () => {
      const res = await execa(cfg.binary, [...base, "check", ...(readDataSubset ? ["--read-data-subset", readDataSubset] : [])], { reject: false, all: true });
      if (res.exitCode !== 0) throw new ResticError("check_failed", `restic check found errors: ${lastLines(res.all)}`, res.all);
    }),
    stats: (snapshotId) => serial(async () => {
      const out = await run(["stats", "--json", "--mode", "restore-size", snapshotId], "snapshot_not_found", "restic stats");
      // restic 0.14 skips an id that matches no snapshot and still exits 0, with zero totals.
      const stats = JSON.parse(out) as { total_size?: number; total_file_count?: number; snapshots_count?: number };
      if (!stats.snapshots_count) throw new ResticError("snapshot_not_found", `no snapshot ${snapshotId.slice(0, 8)} in the repository`);
      return { entries: stats.total_file_count ?? 0, bytes: stats.total_size ?? 0 };
    }),
    forget: (ids) => serial(async () => {
      if (ids.length > 0) await run(["forget", "--", ...ids], "backup_failed", "restic forget");
    }),
    applyRetention: (tags, keep) => serial(async () => {
      const out = await run(["forget", "--json", "--prune", "--tag", tags.join(","), "--keep-last", String(keep.keepLast),
        ...(keep.keepDaily ? ["--keep-daily", String(keep.keepDaily)] : []),
        ...(keep.keepWeekly ? ["--keep-weekly", String(keep.keepWeekly)] : []),
        ...(keep.keepMonthly ? ["--keep-monthly", String(keep.keepMonthly)] : [])], "backup_failed", "restic forget");
      const groups = JSON.parse(out.split("\n").find((line) => line.startsWith("[")) ?? "[]") as Array<{ remove: Array<{ id: string }> | null }>;
      return groups.flatMap((g) => (g.remove ?? []).map((s) => s.id));
    }),
    restore: (snapshotId, target) => serial(async () => {
      await run(["restore", snapshotId, "--target", target], "restore_failed", "restic restore");
    }),
    dump: (snapshotId, path, consume) => serial(async () => {
      const child = execa(cfg.binary, [...base, "dump", snapshotId, path], { reject: false, buffer: { stdout: false } });
      const [res, consumed] = await Promise.allSettled([child, consume(child.stdout)]);
      if (res.status === "fulfilled" && res.value.exitCode !== 0) {
        throw new ResticError("restore_failed", `restic dump failed: ${lastLines(String(res.value.stderr))}`, String(res.value.stderr));
      }
      if (res.status === "rejected") throw res.reason;
      if (consumed.status === "rejected") throw consumed.reason;
    }),
  };
}

/** The `summary` line of `restic backup --json`. Throws ResticError("backup_failed") without one. */
function summaryOf(out: string): { snapshot_id: string; total_bytes_processed: number } {
  for (const line of out.split("\n").reverse()) {
    if (!line.startsWith("{")) continue;
    const message = JSON.parse(line) as { message_type?: string; snapshot_id?: string; total_bytes_processed?: number };
    if (message.message_type === "summary" && message.snapshot_id) return { snapshot_id: message.snapshot_id, total_bytes_processed: message.total_bytes_processed ?? 0 };
  }
  throw new ResticError("backup_failed", "restic backup printed no summary", out);
}

/** The last few lines of a tool's output, for an error message. */
function lastLines(text: string, lines = 6): string {
  return text.trim().split("\n").slice(-lines).join(" | ");
}
