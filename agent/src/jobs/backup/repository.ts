import type { BackupResult } from "@mpanel/proto";
import { ResticError, type Restic, type Retention } from "../../drivers/restic";
import { requireService } from "../../services";
import { JobError, type JobContext } from "../define";

/** The tags of a backup's snapshot: `mpanel`, `backup:<backupId>` and the target's (`cloudpod:<id>` / `database:<id>`). */
export function snapshotTags(backupId: string, target: string): string[] {
  return ["mpanel", `backup:${backupId}`, target];
}

/** Runs `fn`, turning a ResticError into a JobError "restic_<code>" with restic's message (non-retryable for a failed check). */
export async function withResticErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof ResticError) throw new JobError(`restic_${error.code}`, error.message, error.code === "repository_unavailable", { cause: error });
    throw error;
  }
}

/** The node's restic driver with its repository ensured (created on first use). Throws JobError. */
export async function openRepository(ctx: JobContext): Promise<Restic> {
  const restic = requireService(ctx.services, "backup");
  const state = await withResticErrors(() => restic.ensureRepository());
  if (state === "created") ctx.event("info", "restic repository created");
  return restic;
}

/**
 * The snapshot an earlier run of this backup already made (a re-delivered job), if any: the
 * backup is an ensure of "a checked snapshot tagged backup:<id> exists".
 */
export async function existingSnapshot(restic: Restic, backupId: string): Promise<string | null> {
  const [found] = await withResticErrors(() => restic.snapshots([`backup:${backupId}`]));
  return found?.id ?? null;
}

/**
 * After a snapshot is stored: `restic check` (a failure fails the job: never a silent
 * success), then the target's retention. Returns the job's BackupResult.
 */
export async function checkAndRetain(ctx: JobContext, restic: Restic, made: { snapshotId: string; bytes: number }, target: string, retention: Retention | undefined): Promise<BackupResult> {
  ctx.event("info", `snapshot ${made.snapshotId.slice(0, 8)} stored (${made.bytes} bytes); checking the repository`, 70);
  await withResticErrors(() => restic.check());
  const forgotten = retention ? await withResticErrors(() => restic.applyRetention(["mpanel", target], retention)) : [];
  if (forgotten.length > 0) ctx.event("info", `retention removed ${forgotten.length} older snapshot(s)`, 90);
  ctx.event("info", "backup stored and repository checked", 100);
  return { snapshotId: made.snapshotId, bytes: made.bytes, forgotten };
}
