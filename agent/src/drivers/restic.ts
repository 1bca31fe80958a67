import type { Readable } from "node:stream";
import { execa } from "execa";
import type { Logger } from "pino";
import { z } from "zod";
import { createSerializer } from "./files";

const AbsolutePath = z.string().regex(/^\/[A-Za-z0-9._/-]*$/, "must be an absolute path of A-Z a-z 0-9 . _ / -");

/**
 * The `backup` section of the agent config: the node's restic repository and the tools that
 * feed it. The password is read by restic from `passwordFile` (never passed on a command line,
 * never logged).
 */
export const BackupConfig = z.strictObject({
  /** restic repository: a local path (a backup disk or a mounted backup node) or `sftp:user@host:/path`. */
  repository: z.string().regex(/^(\/[A-Za-z0-9._/-]+|sftp:[A-Za-z0-9._@-]+:[A-Za-z0-9._/-]+)$/, "must be an absolute path or sftp:user@host:/path"),
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
  /** `restic check` (with `--read-data-subset` when configured); throws ResticError("check_failed") with its report. */
  check(): Promise<void>;
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

/**
 * Builds the driver. restic 0.14 cannot wait for a repository lock (`--retry-lock` came in
 * 0.16), so this node's restic commands run one at a time. Throws nothing until used.
 */
export function createRestic(cfg: BackupConfig, hostname: string, log: Logger): Restic {
  const serial = createSerializer();
  const base = ["--repo", cfg.repository, "--password-file", cfg.passwordFile, ...(cfg.cacheDir ? ["--cache-dir", cfg.cacheDir] : ["--no-cache"])];
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
      log.info({ repository: cfg.repository }, "restic repository created");
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
    check: () => serial(async () => {
      const res = await execa(cfg.binary, [...base, "check", ...(cfg.checkReadData ? ["--read-data-subset", cfg.checkReadData] : [])], { reject: false, all: true });
      if (res.exitCode !== 0) throw new ResticError("check_failed", `restic check found errors: ${lastLines(res.all)}`, res.all);
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
