import { lstat, lchown, mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { defineJob, JobError, type JobContext } from "../define";
import { podRoot } from "../web/paths";
import { podOwner } from "../web/pod-files";
import { databaseCommand, dumpFilename } from "./dumps";
import { openRepository, withResticErrors } from "./repository";

/**
 * Gives every entry under `dir` (not following symlinks) owned by `from` uid/gid to `to`
 * instead: a snapshot restored after the pod's account was re-created under another uid.
 */
async function remapOwners(dir: string, from: { uid: number; gid: number }, to: { uid: number; gid: number }): Promise<void> {
  const stack = [dir];
  for (let path = stack.pop(); path !== undefined; path = stack.pop()) {
    const info = await lstat(path);
    const uid = info.uid === from.uid ? to.uid : info.uid;
    const gid = info.gid === from.gid ? to.gid : info.gid;
    if (uid !== info.uid || gid !== info.gid) await lchown(path, uid, gid);
    if (info.isDirectory()) for (const name of await readdir(path)) stack.push(join(path, name));
  }
}

/**
 * Files: restores the snapshot into a root-only staging directory beside the pods
 * (`<podsRoot>/.mpanel-restore/<backupId>`, out of the pod user's reach), then swaps it in for
 * the pod's `sites/` with two renames; the replaced tree is deleted. Owners and modes come from
 * the snapshot (restic restores them as root), remapped when the account's uid changed since.
 */
async function restoreFiles(ctx: JobContext, spec: { backupId: string; snapshotId: string; systemUser: string }): Promise<{ restored: string }> {
  const restic = await openRepository(ctx);
  const owner = await podOwner(ctx.config, spec.systemUser);
  const snapshot = (await withResticErrors(() => restic.snapshots([`backup:${spec.backupId}`]))).find((s) => s.id === spec.snapshotId);
  const source = snapshot?.paths[0];
  if (!source) throw new JobError("snapshot_not_found", `snapshot ${spec.snapshotId.slice(0, 8)} of backup ${spec.backupId} is not in the repository`, false);
  const sites = join(podRoot(ctx.config, spec.systemUser), "sites");
  const staging = join(ctx.config.podsRoot, ".mpanel-restore", spec.backupId);
  const replaced = `${staging}.replaced`;
  await rm(staging, { recursive: true, force: true });
  await rm(replaced, { recursive: true, force: true });
  await mkdir(staging, { recursive: true, mode: 0o700 });
  try {
    await withResticErrors(() => restic.restore(spec.snapshotId, staging));
    const restored = join(staging, source);
    const top = await lstat(restored);
    if (!top.isDirectory()) throw new JobError("restore_failed", `the snapshot holds no directory at ${source}`, false);
    if (top.uid !== owner.account.uid) await remapOwners(restored, { uid: top.uid, gid: top.gid }, { uid: owner.account.uid, gid: owner.account.gid });
    ctx.event("info", `snapshot ${spec.snapshotId.slice(0, 8)} restored to staging; swapping it in`, 80);
    const hadSites = await lstat(sites).then(() => true, () => false);
    if (hadSites) await rename(sites, replaced);
    await rename(restored, sites);
    await rm(replaced, { recursive: true, force: true });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  ctx.event("info", `files of ${spec.systemUser} restored`, 100);
  return { restored: sites };
}

/**
 * Database: streams the dump out of the snapshot (`restic dump`) into `mariadb <name>` (the dump
 * drops and re-creates each table) or `pg_restore --clean --if-exists --single-transaction`
 * (all or nothing). Throws JobError("restore_failed") with the client's own message.
 */
async function restoreDatabase(ctx: JobContext, spec: { snapshotId: string; engine: "mariadb" | "postgresql"; name: string }): Promise<{ restored: string }> {
  const tools = ctx.config.backup;
  if (!tools) throw new JobError("service_not_configured", "this node has no backup configured", false);
  const restic = await openRepository(ctx);
  const command = await databaseCommand(ctx, tools, spec.engine, spec.name, "restore");
  try {
    await withResticErrors(() => restic.dump(spec.snapshotId, `/${dumpFilename(spec.engine, spec.name)}`, async (stream) => {
      const client = execa(command.file, command.args, { env: command.env, reject: false, stdin: "pipe" });
      stream.pipe(client.stdin);
      const res = await client;
      if (res.exitCode !== 0) throw new JobError("restore_failed", `${spec.engine} restore of ${spec.name} failed: ${res.stderr.trim().split("\n").slice(-3).join(" | ")}`, false);
    }));
  } finally {
    await command.cleanup();
  }
  ctx.event("info", `database ${spec.name} restored`, 100);
  return { restored: spec.name };
}

/** RESTORE_BACKUP: puts a snapshot's files or database back (see restoreFiles / restoreDatabase). Safe to repeat. */
export const restoreBackup = defineJob({
  type: "RESTORE_BACKUP",
  async run(spec, ctx) {
    return spec.kind === "files" ? restoreFiles(ctx, spec) : restoreDatabase(ctx, spec);
  },
});
