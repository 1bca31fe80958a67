import { lstat, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { DbEngine, RestoreTestResult } from "@mpanel/proto";
import { execa } from "execa";
import type { BackupConfig, Restic } from "../../drivers/restic";
import { requireService } from "../../services";
import { defineJob, JobError, type JobContext } from "../define";
import { dumpFilename, DumpInspector } from "./dumps";
import { withResticErrors } from "./repository";

/** Entries (files, directories, links) under `dir`, not counting `dir`, and the bytes of its regular files; links are not followed. */
async function measure(dir: string): Promise<{ entries: number; bytes: number }> {
  let entries = 0;
  let bytes = 0;
  const stack = (await readdir(dir)).map((name) => join(dir, name));
  for (let path = stack.pop(); path !== undefined; path = stack.pop()) {
    const info = await lstat(path);
    entries += 1;
    if (info.isFile()) bytes += info.size;
    if (info.isDirectory()) for (const name of await readdir(path)) stack.push(join(path, name));
  }
  return { entries, bytes };
}

/** A JobError("restore_test_mismatch") listing what differs, or nothing when `found` matches every expectation given. */
function compare(what: string, found: { entries: number; bytes: number }, expected: { entries: number | null; bytes: number | null }): void {
  const wrong = [
    expected.entries !== null && found.entries !== expected.entries ? `${found.entries} entries restored, the snapshot lists ${expected.entries}` : null,
    expected.bytes !== null && found.bytes !== expected.bytes ? `${found.bytes} bytes restored, expected ${expected.bytes}` : null,
  ].filter((line): line is string => line !== null);
  if (wrong.length > 0) throw new JobError("restore_test_mismatch", `${what}: ${wrong.join("; ")}`, false);
}

/**
 * Files: restores the whole snapshot into a root-only scratch directory
 * (`<podsRoot>/.mpanel-restore-test/<restoreTestId>`, never the pod's own tree), then compares
 * its entries and file bytes with `restic stats --mode restore-size` of the snapshot and with
 * the bytes the backup read. The scratch directory is always removed.
 */
async function testFiles(ctx: JobContext, restic: Restic, spec: { restoreTestId: string; snapshotId: string; expectedBytes: number | null }): Promise<RestoreTestResult> {
  const listed = await withResticErrors(() => restic.stats(spec.snapshotId));
  const scratch = join(ctx.config.podsRoot, ".mpanel-restore-test", spec.restoreTestId);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  try {
    await withResticErrors(() => restic.restore(spec.snapshotId, scratch));
    const found = await measure(scratch);
    ctx.event("info", `restored ${found.entries} entries (${found.bytes} bytes) into a scratch directory`, 80);
    compare(`snapshot ${spec.snapshotId.slice(0, 8)}`, found, listed);
    compare(`snapshot ${spec.snapshotId.slice(0, 8)}`, found, { entries: null, bytes: spec.expectedBytes });
    return { ...found, expectedEntries: listed.entries, expectedBytes: spec.expectedBytes ?? listed.bytes };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Database: streams the dump out of the snapshot (`restic dump`) through the dump inspector
 * (mariadb-dump's header and trailer, pg_dump's PGDMP magic) into `pg_restore --list` (the
 * archive's table of contents must parse) or nowhere, and compares its length with the bytes
 * the backup stored. No database is touched.
 */
async function testDump(tools: BackupConfig, restic: Restic, spec: { snapshotId: string; engine: DbEngine; name: string; expectedBytes: number | null }): Promise<RestoreTestResult> {
  const inspector = new DumpInspector();
  await withResticErrors(() => restic.dump(spec.snapshotId, `/${dumpFilename(spec.engine, spec.name)}`, async (stream) => {
    if (spec.engine === "postgresql") {
      const list = execa(tools.pgRestore, ["--list"], { reject: false, stdin: "pipe" });
      stream.pipe(inspector).pipe(list.stdin);
      const res = await list;
      if (res.exitCode !== 0) throw new JobError("dump_invalid", `pg_restore --list cannot read the stored archive: ${res.stderr.trim().split("\n").slice(-3).join(" | ")}`, false);
    } else {
      await pipeline(stream, inspector, new Writable({ write: (_chunk, _encoding, done) => done() }));
    }
  }));
  const problem = inspector.bytes === 0 ? "the stored dump is empty" : inspector.problem(spec.engine);
  if (problem) throw new JobError("dump_invalid", `${spec.engine} dump of ${spec.name}: ${problem}`, false);
  compare(`dump of ${spec.name}`, { entries: 1, bytes: inspector.bytes }, { entries: 1, bytes: spec.expectedBytes });
  return { entries: 1, bytes: inspector.bytes, expectedEntries: 1, expectedBytes: spec.expectedBytes };
}

/**
 * RESTORE_TEST_BACKUP: proves a backup can be restored, without touching live data.
 * `restic check --read-data-subset` first (a damaged repository fails here, before any read
 * could retry for minutes), then the snapshot must be listed under the backup's tag, then
 * testFiles / testDump. The repository is opened, never created. Errors (none retryable but
 * an unreachable repository): "restic_check_failed", "snapshot_not_found",
 * "restic_restore_failed", "restore_test_mismatch", "dump_invalid".
 */
export const restoreTestBackup = defineJob({
  type: "RESTORE_TEST_BACKUP",
  async run(spec, ctx) {
    const tools = ctx.config.backup;
    if (!tools) throw new JobError("service_not_configured", "this node has no backup configured", false);
    const restic = requireService(ctx.services, "backup");
    ctx.event("info", `checking the repository (reading ${spec.readDataSubset} of its data)`, 10);
    await withResticErrors(() => restic.check(spec.readDataSubset));
    const listed = await withResticErrors(() => restic.snapshots([`backup:${spec.backupId}`]));
    if (!listed.some((snapshot) => snapshot.id === spec.snapshotId)) {
      throw new JobError("snapshot_not_found", `snapshot ${spec.snapshotId.slice(0, 8)} of backup ${spec.backupId} is not in the repository`, false);
    }
    const result = spec.kind === "files" ? await testFiles(ctx, restic, spec) : await testDump(tools, restic, spec);
    ctx.event("info", `restore test passed: ${result.entries} entries, ${result.bytes} bytes`, 100);
    return result;
  },
});
