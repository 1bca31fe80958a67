import { spawn } from "node:child_process";
import { closeSync } from "node:fs";
import { createInterface } from "node:readline";
import { z } from "zod";
import { DOOR_SCRIPT, FileOpError, openPodRoot } from "../files/manager";
import { defineJob, JobError, type JobContext } from "./define";

/** One line of the door's archive mode: a progress report, or the outcome (the last line). */
const DoorLine = z.union([
  z.object({ progress: z.number().int().min(0).max(100), message: z.string() }),
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), code: z.string(), message: z.string() }),
]);

/**
 * Runs one archive operation in the file door's archive mode (agent/src/files/door.ts) as the
 * CloudPod's system user, on its root inherited as fd 3: the door's rules hold for every path
 * and entry. Progress lines become job events with their percent; the door's refusal fails the
 * job (not retryable: the same archive and limits refuse again). Aborting the job kills the door.
 */
async function runArchive(op: "create" | "extract", systemUser: string, args: Record<string, unknown>, quotaBytes: number | null, ctx: JobContext): Promise<unknown> {
  let root: { rootFd: number; uid: number; gid: number };
  try {
    root = await openPodRoot(ctx.config, systemUser);
  } catch (error) {
    if (error instanceof FileOpError) throw new JobError(error.code, error.message, false);
    throw error;
  }
  let child;
  try {
    child = spawn(process.execPath, [DOOR_SCRIPT, "archive"], { uid: root.uid, gid: root.gid, cwd: "/", env: {}, stdio: ["pipe", "pipe", "pipe", root.rootFd], signal: ctx.signal });
  } finally {
    closeSync(root.rootFd);
  }
  const { stdin, stdout, stderr: errors } = child;
  if (!stdin || !stdout || !errors) throw new JobError("door_failed", "the file door's pipes are missing", true);
  let stderr = "";
  errors.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("error", () => resolve(null));
    child.on("close", (code) => resolve(code));
  });
  stdin.end(JSON.stringify({ op, args, quotaBytes }));
  let outcome: z.infer<typeof DoorLine> | null = null;
  for await (const line of createInterface({ input: stdout })) {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = DoorLine.safeParse(json);
    if (!parsed.success) continue;
    if ("progress" in parsed.data) ctx.event("info", parsed.data.message, parsed.data.progress);
    else outcome = parsed.data;
  }
  await exited;
  if (ctx.signal.aborted) throw new JobError("aborted", "the archive job was stopped", true);
  if (!outcome) throw new JobError("door_failed", stderr.trim().split("\n").at(-1) || "the file door exited without an answer", true);
  if (!outcome.ok) throw new JobError(outcome.code, outcome.message, false);
  return outcome.result;
}

/** ARCHIVE_CREATE: packs files of a CloudPod into a new .tar.gz or .zip inside its root. */
export const archiveCreate = defineJob({
  type: "ARCHIVE_CREATE",
  run: (p, ctx) => runArchive("create", p.systemUser, { paths: p.paths, destination: p.destination, format: p.format }, p.quotaBytes, ctx),
});

/** ARCHIVE_EXTRACT: unpacks a .tar.gz or .zip of a CloudPod into a new directory inside its root, within the zip-bomb limits and its quota. */
export const archiveExtract = defineJob({
  type: "ARCHIVE_EXTRACT",
  run: (p, ctx) => runArchive("extract", p.systemUser, { path: p.path, destination: p.destination, limits: p.limits }, p.quotaBytes, ctx),
});
